package promapi

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/promapi/promscope"
	"citywatch/internal/testenv"
	"citywatch/store"
	"citywatch/store/tsdb"
)

// bigAnswerSeries × bigLabelBytes is the size of the answer to "big": far more than the client's receive
// buffer and the server's send buffer hold, so a client that does not read blocks the server's Write.
const (
	bigAnswerSeries = 4000
	bigLabelBytes   = 8 << 10
)

// slowReaderCases are the two ways an answer is written: encoded from the embedded TSDB, and streamed from a
// centre's remote engine.
var slowReaderCases = []struct {
	name string
	api  func(t *testing.T, opts Options) *API
}{
	{"local", func(t *testing.T, opts Options) *API {
		api, err := New(loadBigData(t), opts)
		require.NoError(t, err)
		return api
	}},
	{"remote", func(t *testing.T, opts Options) *API {
		api, err := NewRemote(bigEngine{big: bigRemoteAnswer()}, opts)
		require.NoError(t, err)
		api.sites = func(*http.Request) promscope.Sites { return promscope.Sites{All: true} }
		return api
	}},
}

// TestSlowReaderGivesSlotBack: a client that asks for a large answer and never reads it holds its query slot
// only until the write timeout; then the write fails, the slot comes back and another client's query runs.
func TestSlowReaderGivesSlotBack(t *testing.T) {
	t.Parallel()
	for _, c := range slowReaderCases {
		t.Run(c.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			var logs testenv.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			api := c.api(t, Options{MaxConcurrent: 1, WriteTimeout: 200 * time.Millisecond, QueueWait: time.Minute,
				Registerer: reg, Logger: logger})
			srv := serve(t, api)

			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(4096))
			q := url.Values{"query": {"big"}, "time": {strconv.Itoa(baseSec)}}.Encode()
			_, err = fmt.Fprintf(conn, "GET /api/v1/query?%s HTTP/1.1\r\nHost: citywatch\r\n\r\n", q)
			require.NoError(t, err)

			// The query is answered (counted once serve returns) and its slot is free again.
			require.Eventually(t, func() bool {
				return testenv.MetricSum(t, reg, "citywatch_promapi_requests_total") == 1 &&
					testenv.MetricSum(t, reg, "citywatch_query_in_flight") == 0
			}, 30*time.Second, 10*time.Millisecond)

			// Another client's query gets the slot.
			code, _, err := doAsync(srv, apiCase{path: "/api/v1/query", form: url.Values{"query": {"vector(1)"}}})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code)

			// The slot came back because the write was cut off at its deadline, not because it completed.
			require.Contains(t, logs.String(), "i/o timeout")
		})
	}
}

// loadBigData is a TSDB holding bigAnswerSeries series of "big" at baseSec, each with a bigLabelBytes label.
func loadBigData(t *testing.T) *tsdb.DB {
	t.Helper()
	db, err := tsdb.Open(tsdb.Config{Dir: t.TempDir()}, tsdb.Deps{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	pad := strings.Repeat("x", bigLabelBytes)
	ss := make([]store.Sample, 0, bigAnswerSeries)
	for i := range bigAnswerSeries {
		ls := []store.Label{{Name: "device", Value: strconv.Itoa(i)}, {Name: "pad", Value: pad}}
		ss = append(ss, store.Sample{Name: "big", Labels: ls, T: baseSec * 1000, V: float64(i)})
	}
	require.NoError(t, db.Append(context.Background(), ss))
	return db
}

// bigEngine is a remote engine answering the query "big" with big and any other with okVector.
type bigEngine struct{ big string }

func (e bigEngine) Do(_ context.Context, _ string, form url.Values, _ string) (*http.Response, error) {
	body := okVector
	if strings.Contains(form.Get("query"), "big") {
		body = e.big
	}
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/json")
	_, _ = rec.WriteString(body)
	return rec.Result(), nil
}

// bigRemoteAnswer is a remote engine's answer the size of loadBigData's.
func bigRemoteAnswer() string {
	var b strings.Builder
	pad := strings.Repeat("x", bigLabelBytes)
	b.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	for i := range bigAnswerSeries {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"metric":{"__name__":"big","device":"%d","pad":"%s"},"value":[%d,"%d"]}`, i, pad, baseSec, i)
	}
	b.WriteString(`]}}`)
	return b.String()
}
