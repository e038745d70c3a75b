package decode

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"
)

// checkRecords asserts what every successful decode guarantees, and that a reused decoder and a fresh one
// agree (the reused one aliases its buffers, so a stale-buffer bug shows up as a difference).
func checkRecords(t *testing.T, recs []Record, again func() ([]Record, error)) {
	t.Helper()
	want := render(Clone(recs))
	for _, r := range recs {
		for _, f := range r.Fields {
			if math.IsNaN(f.Value) || math.IsInf(f.Value, 0) {
				t.Fatalf("non-finite value %v in %s", f.Value, want)
			}
		}
		for _, tag := range r.Tags {
			if tag.Value == "" {
				t.Fatalf("empty tag value in %s", want)
			}
		}
	}
	got, err := again()
	if err != nil {
		t.Fatalf("second decode failed: %v", err)
	}
	if render(got) != want {
		t.Fatalf("second decode differs:\n%s\n%s", render(got), want)
	}
}

func FuzzJSON(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c.payload))
	}
	var d Decoder
	f.Fuzz(func(t *testing.T, payload []byte) {
		recs, err := d.JSON(payload)
		if err != nil {
			return
		}
		payload = trimBOM(payload)
		if !json.Valid(payload) || !utf8.Valid(payload) {
			t.Fatalf("accepted invalid JSON %q", payload)
		}
		if !recs[0].Time.IsZero() && (!recs[0].Time.After(time.Unix(0, 0)) || recs[0].Time.Year() > 2262) {
			t.Fatalf("accepted time %v", recs[0].Time)
		}
		if len(recs) != 1 {
			t.Fatalf("%d records", len(recs))
		}
		if _, dup := dupName(recs[0].Fields); dup {
			t.Fatalf("duplicate field names accepted: %s", render(recs))
		}
		compareWithEncodingJSON(t, payload, recs[0])
		checkRecords(t, recs, func() ([]Record, error) { return new(Decoder).JSON(payload) })
	})
}

// compareWithEncodingJSON checks every number and boolean encoding/json finds is a field with the same value.
// (Fields it does not find are allowed: with duplicate object keys encoding/json keeps only the last.)
func compareWithEncodingJSON(t *testing.T, payload []byte, rec Record) {
	t.Helper()
	var m map[string]any
	if !utf8.Valid(payload) || json.Unmarshal(payload, &m) != nil {
		return
	}
	want := map[string]float64{}
	var flatten func(prefix string, m map[string]any)
	flatten = func(prefix string, m map[string]any) {
		for k, v := range m {
			if prefix == "" && (k == "ts" || k == "time") {
				continue
			}
			switch v := v.(type) {
			case float64:
				want[prefix+k] = v
			case bool:
				want[prefix+k] = map[bool]float64{true: 1, false: 0}[v]
			case map[string]any:
				flatten(prefix+k+"_", v)
			}
		}
	}
	flatten("", m)
	got := map[string]float64{}
	for _, f := range rec.Fields {
		got[f.Name] = f.Value
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || math.Float64bits(g) != math.Float64bits(v) {
			t.Fatalf("field %q: got %v (present %v), encoding/json says %v", k, g, ok, v)
		}
	}
}

func FuzzLineProtocol(f *testing.F) {
	for _, c := range lineCases {
		f.Add([]byte(c.payload), uint8(c.prec))
	}
	var d Decoder
	f.Fuzz(func(t *testing.T, payload []byte, prec uint8) {
		p := Precision(prec % 4)
		recs, err := d.LineProtocol(payload, p)
		if err != nil {
			return
		}
		for _, r := range recs {
			if !r.Time.IsZero() && r.Time.UnixNano() <= 0 {
				t.Fatalf("accepted time %v", r.Time)
			}
		}
		checkRecords(t, recs, func() ([]Record, error) { return new(Decoder).LineProtocol(payload, p) })
	})
}

func FuzzSenML(f *testing.F) {
	for _, c := range senmlCases {
		f.Add([]byte(c.payload))
	}
	var d Decoder
	f.Fuzz(func(t *testing.T, payload []byte) {
		recs, err := d.SenML(payload, testNow)
		if err != nil {
			return
		}
		payload = trimBOM(payload)
		if !json.Valid(payload) || !utf8.Valid(payload) {
			t.Fatalf("accepted invalid JSON %q", payload)
		}
		for _, r := range recs {
			if len(r.Fields) == 0 || r.Time.IsZero() {
				t.Fatalf("record without fields or time: %s", render(recs))
			}
			for _, f := range r.Fields {
				if f.Name == "" {
					t.Fatalf("record without name: %s", render(recs))
				}
			}
		}
		checkRecords(t, recs, func() ([]Record, error) { return new(Decoder).SenML(payload, testNow) })
	})
}

func FuzzNumber(f *testing.F) {
	for _, c := range numberCases {
		f.Add([]byte(c.payload))
	}
	var d Decoder
	f.Fuzz(func(t *testing.T, payload []byte) {
		recs, err := d.Number(payload)
		if err != nil {
			return
		}
		if len(recs) != 1 || len(recs[0].Fields) != 1 {
			t.Fatalf("want one field, got %s", render(recs))
		}
		v := recs[0].Fields[0].Value
		s := string(trimSpace(trimBOM(payload)))
		switch s {
		case "true":
			if v != 1 {
				t.Fatalf("true = %v", v)
			}
		case "false":
			if v != 0 {
				t.Fatalf("false = %v", v)
			}
		default:
			want, err := strconv.ParseFloat(s, 64)
			if err != nil || want != v {
				t.Fatalf("%q = %v, strconv says %v, %v", s, v, want, err)
			}
		}
		checkRecords(t, recs, func() ([]Record, error) { return new(Decoder).Number(payload) })
	})
}

var benchJSON = []byte(`{"temperature":21.5,"humidity":40,"co2":612,"pm25":3.2,"battery":3.61}`)

func BenchmarkDecodeJSON5Fields(b *testing.B) {
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(benchJSON)))
	for b.Loop() {
		if _, err := d.JSON(benchJSON); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeJSON5FieldsBaseline is encoding/json into map[string]any, the approach the hand-rolled
// scanner replaces; compare ns/op with BenchmarkDecodeJSON5Fields.
func BenchmarkDecodeJSON5FieldsBaseline(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchJSON)))
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(benchJSON, &m); err != nil {
			b.Fatal(err)
		}
	}
}

var benchLine = []byte("weather,site=siteA,device=s42 temperature=21.5,humidity=40i,co2=612i,pm25=3.2,battery=3.61 1700000000000000000\n")

func BenchmarkDecodeLineProtocol(b *testing.B) {
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(benchLine)))
	for b.Loop() {
		if _, err := d.LineProtocol(benchLine, Nanosecond); err != nil {
			b.Fatal(err)
		}
	}
}

var benchSenML = []byte(`[{"bn":"urn:dev:mac:0024befffe804ff1:","bt":1.7e9,"n":"temperature","u":"Cel","v":21.5},{"n":"humidity","u":"%RH","v":40}]`)

func BenchmarkDecodeSenML(b *testing.B) {
	var d Decoder
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.SenML(benchSenML, now); err != nil {
			b.Fatal(err)
		}
	}
}
