package testenv

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestInfluxQLValues(t *testing.T) {
	cases := []struct {
		name, body string
		want       []int64
		err        string
	}{
		{"no series", `{"results":[{"statement_id":0}]}`, nil, ""},
		{"count", `{"results":[{"series":[{"name":"seq","columns":["time","count"],"values":[["1970-01-01T00:00:00Z",42]]}]}]}`, []int64{42}, ""},
		{"rows of two series", `{"results":[{"series":[{"values":[["t",1],["t",2]]},{"values":[["t",9007199254740993]]}]}]}`,
			[]int64{1, 2, 9007199254740993}, ""},
		{"short row", `{"results":[{"series":[{"values":[["t"]]}]}]}`, nil, "influxql answer: short row [t]"},
		{"not a number", `{"results":[{"series":[{"values":[["t","x"]]}]}]}`, nil, "influxql answer: value x is not a number"},
		{"fraction", `{"results":[{"series":[{"values":[["t",1.5]]}]}]}`, nil, `influxql answer: strconv.ParseInt: parsing "1.5": invalid syntax`},
		{"not JSON", `<html>`, nil, "influxql answer: invalid character '<' looking for beginning of value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := influxQLValues([]byte(c.body))
			if c.err != "" {
				require.EqualError(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

// TestInfluxdMovesOffATakenPort: the port FreePort found free can be taken before influxd binds it (by any
// process's listener on :0 or outgoing connection: FreePort's ports are the kernel's ephemeral ones). A
// first start that fails on it starts again on another port instead of failing the test.
func TestInfluxdMovesOffATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	s := startInfluxd(t, taken.Addr().String())
	require.NotEqual(t, "http://"+taken.Addr().String(), s.URL)
	require.NoError(t, httpStatus(s.URL+"/ping", http.StatusNoContent))
	conf, err := os.ReadFile(filepath.Join(s.Dir, "influxdb.conf"))
	require.NoError(t, err)
	require.Contains(t, string(conf), "flux-enabled = false", "Flux is off unless WithFlux: it costs seconds of CPU per start")
}
