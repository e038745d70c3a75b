package ward

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pdfText returns the text shown by an uncompressed PDF of writePDF: the (...)Tj strings, UTF-16BE under the
// font's Identity-H encoding and identity ToUnicode map, unescaped; and, for each rune shown, whether the
// embedded font maps it to a glyph (the CIDToGIDMap stream; glyph 0 is .notdef, a box on paper).
func pdfText(t *testing.T, pdf []byte) (string, []rune) {
	t.Helper()
	var text strings.Builder
	for _, m := range regexp.MustCompile(`(?s)\(((?:[^\\)]|\\.)*)\)\s*Tj`).FindAllSubmatch(pdf, -1) {
		var raw []byte
		for i := 0; i < len(m[1]); i++ {
			c := m[1][i]
			if c == '\\' && i+1 < len(m[1]) {
				i++
				c = map[byte]byte{'n': '\n', 'r': '\r', 't': '\t'}[m[1][i]]
				if c == 0 {
					c = m[1][i]
				}
			}
			raw = append(raw, c)
		}
		require.Zero(t, len(raw)%2, "UTF-16BE string")
		u := make([]uint16, len(raw)/2)
		for i := range u {
			u[i] = uint16(raw[2*i])<<8 | uint16(raw[2*i+1])
		}
		text.WriteString(string(utf16.Decode(u)))
		text.WriteString("\n")
	}
	// The map is object N of "/CIDToGIDMap N 0 R", a zlib stream of two bytes (the glyph) per code point.
	ref := regexp.MustCompile(`/CIDToGIDMap (\d+) 0 R`).FindSubmatch(pdf)
	require.NotNil(t, ref, "a CIDToGIDMap")
	obj := regexp.MustCompile(`(?s)\n` + string(ref[1]) + ` 0 obj\n<</Length (\d+)/Filter /FlateDecode>>\nstream\n`).FindSubmatchIndex(pdf)
	require.NotNil(t, obj, "the CIDToGIDMap object")
	n, err := strconv.Atoi(string(pdf[obj[2]:obj[3]]))
	require.NoError(t, err)
	zr, err := zlib.NewReader(bytes.NewReader(pdf[obj[1] : obj[1]+n]))
	require.NoError(t, err)
	gids, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Len(t, gids, 256*256*2)
	var missing []rune
	for _, r := range text.String() {
		if r != '\n' && r < 0x10000 && gids[2*r] == 0 && gids[2*r+1] == 0 {
			missing = append(missing, r)
		}
	}
	return text.String(), missing
}

// TestReportPDF: the printable PDF carries the report's rows, Vietnamese names with their diacritics in glyphs
// the embedded font has (no .notdef box), a header row on every page of a long report, and nothing but case ids.
func TestReportPDF(t *testing.T) {
	v := func(f float64) *float64 { return &f }
	rep := Report{Site: "khách-sạn-1", Date: "2026-12-07", TimeZone: "Asia/Ho_Chi_Minh"}
	at := time.Date(2026, 12, 7, 3, 4, 0, 0, time.UTC)
	for i := range 60 {
		rep.Rows = append(rep.Rows, ReportRow{Room: fmt.Sprintf("%d", 101+i), CaseID: fmt.Sprintf("Q-%04d", i), Status: StatusActive,
			MinTemp: v(36.4), MaxTemp: v(38.6), RoundsDone: 1, RoundsDue: 2, ManualReadings: 1, NightDoorEvents: i % 3})
	}
	rep.Rows[0].Alerts = []ReportAlert{{Name: "Fever", State: "resolved", Active: at, AckedBy: "Nguyễn Thị Lan", AckedAt: at.Add(time.Minute)},
		{Name: "WardRoundMissed", State: "firing", Active: at.Add(time.Hour)}}
	var buf bytes.Buffer
	require.NoError(t, rep.writePDF(&buf, false))
	pdf := buf.Bytes()
	require.True(t, bytes.HasPrefix(pdf, []byte("%PDF-1.")))
	require.True(t, bytes.HasSuffix(bytes.TrimSpace(pdf), []byte("%%EOF")))
	text, missing := pdfText(t, pdf)
	for _, want := range []string{"Daily ward report — khách-sạn-1, 2026-12-07", "Q-0000", "Q-0059", "38.6", "1/2",
		"acked by Nguyễn Thị Lan at", "2026-12-07T03:05:00Z", "WardRoundMissed firing", "Min °C"} {
		assert.Contains(t, text, want)
	}
	assert.Empty(t, missing, "runes without a glyph in the embedded font")
	pages := bytes.Count(pdf, []byte("/Type /Page\n"))
	assert.GreaterOrEqual(t, pages, 2, "60 rows take two pages")
	assert.Equal(t, pages, strings.Count(text, "Alerts and acknowledgements"), "a header row on every page")

	// A name typed with combining diacritics (e + U+0302 + U+0303) prints as the precomposed letter.
	rep.Rows[0].Alerts[0].AckedBy = "Nguye\u0302\u0303n Thi\u0323 Lan"
	buf.Reset()
	require.NoError(t, rep.writePDF(&buf, false))
	text, missing = pdfText(t, buf.Bytes())
	assert.Contains(t, text, "acked by Nguyễn Thị Lan at")
	assert.Empty(t, missing)

	// The glyph check sees a character the font lacks (CJK is not in DejaVu Sans): it would print as a box.
	rep.Rows[0].Alerts[0].AckedBy = "李"
	buf.Reset()
	require.NoError(t, rep.writePDF(&buf, false))
	_, missing = pdfText(t, buf.Bytes())
	assert.Equal(t, []rune{'李'}, missing)

	// Compressed as served: still a PDF, and small (only the glyphs used are embedded).
	buf.Reset()
	require.NoError(t, rep.WritePDF(&buf))
	assert.True(t, bytes.HasPrefix(buf.Bytes(), []byte("%PDF-1.")))
	assert.Less(t, buf.Len(), 100<<10)
}

// TestReportPDFServed: ?format=pdf answers a PDF to any reader of the site (audited as an export), and 404
// for another site's.
func TestReportPDFServed(t *testing.T) {
	ae := newAPIEnv(t, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	code, body := ae.do(t, "viewer", []string{"site-a"}, "GET", "/api/ward/site-a/report?format=pdf", "")
	require.Equal(t, 200, code, body)
	assert.True(t, strings.HasPrefix(body, "%PDF-1."))
	code, _ = ae.do(t, "viewer", []string{"site-a"}, "GET", "/api/ward/site-b/report?format=pdf", "")
	assert.Equal(t, 404, code)
	code, _ = ae.do(t, "viewer", []string{"site-a"}, "GET", "/api/ward/site-a/report?format=docx", "")
	assert.Equal(t, 400, code)
}
