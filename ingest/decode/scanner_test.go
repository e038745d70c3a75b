package decode

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

var numberTokens = []string{
	"0", "-0", "1", "-1", "21.5", "0.1", "0.3", "1e22", "1e23", "9007199254740991", "9007199254740992",
	"9007199254740993", "123456789012345678901234567890", "1.7976931348623157e308", "4.9e-324", "1e-400",
	"0.000000000000000000001", "3.14159265358979323846", "1E+2", "1e-22", "1e-23", "100000000000000000000000",
	"0.1e1", "12345678901234567", "1234567890123456789", "12345678901234567890", "0.12345678901234567890",
}

// TestScanNumberMatchesStrconv checks the fast path gives exactly strconv's value.
func TestScanNumberMatchesStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tokens := append([]string(nil), numberTokens...)
	for range 200000 {
		var s string
		switch r.IntN(4) {
		case 0:
			s = strconv.FormatFloat(r.NormFloat64()*math.Pow(10, float64(r.IntN(30)-15)), 'g', -1, 64)
		case 1:
			s = fmt.Sprintf("%d.%0*d", r.Int64N(1e9)-5e8, r.IntN(12)+1, r.Int64N(1e12))
		case 2:
			s = fmt.Sprintf("%de%d", r.Int64N(1e17), r.IntN(60)-30)
		default:
			s = strconv.FormatUint(r.Uint64()>>r.IntN(64), 10)
		}
		tokens = append(tokens, s)
	}
	for _, s := range tokens {
		end, v, exact, ok := scanNumber([]byte(s), 0)
		if !ok || end != len(s) {
			t.Fatalf("scanNumber(%q): ok %v end %d", s, ok, end)
		}
		want, err := strconv.ParseFloat(s, 64)
		if exact && (err != nil || math.Float64bits(v) != math.Float64bits(want)) {
			t.Fatalf("scanNumber(%q) = %v, strconv %v (%v)", s, v, want, err)
		}
		got, err2 := (&scanner{data: []byte(s)}).number()
		if err == nil && (err2 != nil || math.Float64bits(got) != math.Float64bits(want)) {
			t.Fatalf("number(%q) = %v, %v; strconv %v", s, got, err2, want)
		}
	}
}
