package i18n

import (
	"encoding/csv"
	"io"
)

// BOM is the UTF-8 byte order mark. Excel reads a CSV file without it in the system's legacy code page, which
// turns Vietnamese diacritics into mojibake ("Sá»‘t" for "Sốt"); with it, Excel reads UTF-8. Other tools
// (LibreOffice, Python's utf-8-sig, Go's csv after TrimBOM) accept it.
const BOM = "\uFEFF"

// NewCSVWriter writes the BOM to w and returns a CSV writer on w: every CSV export starts this way.
func NewCSVWriter(w io.Writer) *csv.Writer {
	_, _ = io.WriteString(w, BOM) // a write error recurs on the csv writer's flush, where the caller sees it
	return csv.NewWriter(w)
}

// TrimBOM returns b without a leading BOM, for readers of exports.
func TrimBOM(b []byte) []byte {
	if len(b) >= len(BOM) && string(b[:len(BOM)]) == BOM {
		return b[len(BOM):]
	}
	return b
}
