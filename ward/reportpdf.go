package ward

import (
	_ "embed" // the report font
	"fmt"
	"io"
	"strconv"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/text/unicode/norm"
)

// reportFont is DejaVu Sans 2.37 (Debian fonts-dejavu-core; Bitstream Vera licence with DejaVu's changes in
// the public domain, fonts/DejaVuSans.LICENSE: free to embed and redistribute with the notice). It covers
// Latin Extended Additional, so Vietnamese names (Nguyễn Thị Hoa) print with their diacritics; the PDF embeds
// only the glyphs it uses.
//
//go:embed fonts/DejaVuSans.ttf
var reportFont []byte

// pdfColumns are the report table's columns: title and width in mm on landscape A4 (277 mm between margins).
var pdfColumns = []struct {
	title string
	width float64
	right bool
}{
	{"Room", 20, false}, {"Case id", 32, false}, {"Status", 24, false}, {"Min °C", 16, true}, {"Max °C", 16, true},
	{"Rounds", 16, true}, {"Manual", 16, true}, {"Alerts and acknowledgements", 107, false}, {"Night door", 30, true},
}

const pdfLine = 5.0 // mm per text line

// WritePDF writes the report as a printable PDF (landscape A4, a header row on every page): the same columns
// as the HTML page, pseudonymous like it.
func (rep Report) WritePDF(w io.Writer) error { return rep.writePDF(w, true) }

func (rep Report) writePDF(w io.Writer, compress bool) error {
	p := fpdf.New("L", "mm", "A4", "")
	p.SetCompression(compress)
	p.SetTitle(fmt.Sprintf("Daily ward report %s %s", rep.Site, rep.Date), true)
	p.SetCreator("citywatch", true)
	p.AddUTF8FontFromBytes("dejavu", "", reportFont)
	p.SetMargins(10, 10, 10)
	p.SetAutoPageBreak(false, 10)
	_, pageH := p.GetPageSize()
	header := func() {
		p.SetFont("dejavu", "", 8)
		p.SetFillColor(230, 230, 230)
		for _, c := range pdfColumns {
			p.CellFormat(c.width, pdfLine+1, c.title, "1", 0, "L", true, 0, "")
		}
		p.Ln(-1)
	}
	p.AddPage()
	p.SetFont("dejavu", "", 14)
	p.CellFormat(0, 8, nfc(fmt.Sprintf("Daily ward report — %s, %s", rep.Site, rep.Date)), "", 1, "L", false, 0, "")
	p.SetFont("dejavu", "", 9)
	p.CellFormat(0, 6, nfc(fmt.Sprintf("Time zone %s. Occupants are named by pseudonymous case id only. %d occupants.",
		rep.TimeZone, len(rep.Rows))), "", 1, "L", false, 0, "")
	header()
	alertsW := pdfColumns[7].width
	for _, r := range rep.Rows {
		cells := []string{r.Room, r.CaseID, string(r.Status), temp(r.MinTemp), temp(r.MaxTemp),
			fmt.Sprintf("%d/%d", r.RoundsDone, r.RoundsDue), strconv.Itoa(r.ManualReadings), "", strconv.Itoa(r.NightDoorEvents)}
		var lines []string
		for _, a := range r.Alerts {
			lines = append(lines, p.SplitText(nfc(alertText([]ReportAlert{a})), alertsW-2)...)
		}
		h := pdfLine * float64(max(1, len(lines)))
		if p.GetY()+h > pageH-10 {
			p.AddPage()
			header()
		}
		x, y := p.GetXY()
		for i, c := range pdfColumns {
			align := "L"
			if c.right {
				align = "R"
			}
			if i == 7 {
				p.Rect(x, y, c.width, h, "D")
				for j, l := range lines {
					p.SetXY(x, y+float64(j)*pdfLine)
					p.CellFormat(c.width, pdfLine, l, "", 0, "L", false, 0, "")
				}
				p.SetXY(x+c.width, y)
			} else {
				p.CellFormat(c.width, h, nfc(cells[i]), "1", 0, align, false, 0, "")
			}
			x += c.width
		}
		p.SetXY(10, y+h)
	}
	return p.Output(w)
}

// nfc composes a base letter and its combining diacritics (as some keyboards send Vietnamese) into the
// precomposed letter: fpdf draws glyphs without mark positioning, so only precomposed letters print right.
func nfc(s string) string { return norm.NFC.String(s) }
