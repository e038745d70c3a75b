package i18n

import (
	"bytes"
	"encoding/csv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/config"
)

func TestDefaultCatalogLoads(t *testing.T) {
	c := Default()
	for _, l := range Langs {
		require.True(t, c.Has(l, "notify.fact.summary"), "%s", l)
	}
	require.Equal(t, "Tóm tắt", c.T(Vi, "notify.fact.summary"))
	require.Equal(t, "Fever: đang kích hoạt tại ward-b", c.T(Vi, "notify.summary.site", "alert", "Fever", "state", c.T(Vi, "state.firing"), "site", "ward-b"))
	require.Equal(t, "no.such.key", c.T(Vi, "no.such.key"))
}

func TestFallbackToEnglish(t *testing.T) {
	c, err := Parse(map[Lang][]byte{En: []byte(`{"a":"A {x}","b":"B"}`), Vi: []byte(`{"b":"Bé"}`)})
	require.NoError(t, err)
	require.Equal(t, "A 1", c.T(Vi, "a", "x", "1"))
	require.Equal(t, "Bé", c.T(Vi, "b"))
	require.False(t, c.Has(Vi, "a"))
	_, err = Parse(map[Lang][]byte{Vi: []byte(`{}`)})
	require.Error(t, err)
}

var parseLangCases = []struct {
	in   string
	want Lang
	err  bool
}{{"", En, false}, {"en", En, false}, {"vi", Vi, false}, {"VI", "", true}, {"fr", "", true}}

func TestParseLang(t *testing.T) {
	for _, tc := range parseLangCases {
		got, err := ParseLang(tc.in)
		require.Equal(t, tc.err, err != nil, "%q", tc.in)
		require.Equal(t, tc.want, got, "%q", tc.in)
	}
}

func TestFormats(t *testing.T) {
	hcm, err := time.LoadLocation("Asia/Ho_Chi_Minh")
	require.NoError(t, err)
	at := time.Date(2026, 12, 7, 10, 20, 59, 0, time.UTC)
	for _, tc := range []struct {
		l    Lang
		loc  *time.Location
		want string
	}{
		{Vi, hcm, "07/12/2026 17:20 (Asia/Ho_Chi_Minh, UTC+07:00)"},
		{En, hcm, "2026-12-07 17:20 (Asia/Ho_Chi_Minh, UTC+07:00)"},
		{Vi, nil, "07/12/2026 10:20 (UTC)"},
		{Vi, time.FixedZone("", -5*3600-1800), "07/12/2026 04:50 (UTC-05:30)"},
	} {
		require.Equal(t, tc.want, FormatDateTime(tc.l, at, tc.loc))
	}
	c := Default()
	require.Equal(t, "42m30s", c.FormatDuration(En, 42*time.Minute+30*time.Second))
	require.Equal(t, "42 phút 30 giây", c.FormatDuration(Vi, 42*time.Minute+30*time.Second))
	require.Equal(t, "1 ngày 1 giờ", c.FormatDuration(Vi, 25*time.Hour))
	require.Equal(t, "38,9", FormatNumber(Vi, 38.9))
	require.Equal(t, "38.9", FormatNumber(En, 38.9))
}

// TestCSVRoundTrip: an export starts with the BOM (Excel then reads UTF-8) and its Vietnamese reads back
// unchanged.
func TestCSVRoundTrip(t *testing.T) {
	rows := [][]string{{"phòng", "ghi chú"}, {"203", "Sốt 38,9 °C — Phòng 203, Nguyễn Thị Hường"}}
	var b bytes.Buffer
	w := NewCSVWriter(&b)
	require.NoError(t, w.WriteAll(rows))
	require.True(t, bytes.HasPrefix(b.Bytes(), []byte{0xEF, 0xBB, 0xBF}))
	got, err := csv.NewReader(bytes.NewReader(TrimBOM(b.Bytes()))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, rows, got)
}

// TestConfigKnowsTheLanguages: config (a leaf package) validates receivers' language against its own list,
// which must be this package's.
func TestConfigKnowsTheLanguages(t *testing.T) {
	var want []string
	for _, l := range Langs {
		want = append(want, string(l))
	}
	require.Equal(t, want, config.NotifyLanguages)
}
