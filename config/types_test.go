package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// printedCase is an input of a parser of a value that prints back (Duration, ByteSize) and what it parses to.
type printedCase[V any] struct {
	in   string
	want V
	err  bool
	str  string // String() of the result, "" = in
}

// printed is a config value type whose String() parses back to the same value.
type printed interface {
	comparable
	String() string
}

// testPrinted checks cases against parse (called name in messages): an error where one is expected, else the
// value (as value gives it), its String(), and that String() parses back to the same value.
func testPrinted[T printed, V comparable](t *testing.T, name string, parse func(string) (T, error), value func(T) V, cases []printedCase[V]) {
	t.Helper()
	for _, tc := range cases {
		got, err := parse(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("%s(%q) = %v, want error", name, tc.in, value(got))
			}
			continue
		}
		if err != nil || value(got) != tc.want {
			t.Errorf("%s(%q) = %v, %v; want %v", name, tc.in, value(got), err, tc.want)
			continue
		}
		want := tc.str
		if want == "" {
			want = tc.in
		}
		if got.String() != want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got.String(), want)
		}
		if back, err := parse(got.String()); err != nil || back != got {
			t.Errorf("%q does not round trip: %v %v", got.String(), back, err)
		}
	}
}

var durationCases = []printedCase[time.Duration]{
	{in: "10s", want: 10 * time.Second},
	{in: "1h30m", want: 90 * time.Minute},
	{in: "15d", want: 15 * 24 * time.Hour},
	{in: "1w", want: 7 * 24 * time.Hour},
	{in: "2w", want: 14 * 24 * time.Hour},
	{in: "1y", want: 365 * 24 * time.Hour},
	{in: "500ms", want: 500 * time.Millisecond},
	{in: "1d12h", want: 36 * time.Hour},
	{in: "0", want: 0, str: "0s"},
	{in: "0s", want: 0},
	{in: "1.5h", want: 90 * time.Minute, str: "1h30m"},
	{in: "100us", want: 100 * time.Microsecond, str: "100µs"},
	{in: "-1s", want: -time.Second},
	{in: "90m", want: 90 * time.Minute, str: "1h30m"},
	{in: "", err: true},
	{in: "10", err: true},
	{in: "15days", err: true},
	{in: "1 s", err: true},
	{in: "s", err: true},
	{in: "1h1h", want: 2 * time.Hour, str: "2h"}, // time.ParseDuration syntax
	{in: "99999999999999999999y", err: true},
	{in: "300y", err: true},
}

func TestParseDuration(t *testing.T) {
	testPrinted(t, "ParseDuration", ParseDuration, Duration.Std, durationCases)
}

var byteSizeCases = []printedCase[int64]{
	{in: "512MiB", want: 512 << 20},
	{in: "1GB", want: 1e9},
	{in: "1gb", want: 1e9, str: "1GB"},
	{in: "64 KiB", want: 64 << 10, str: "64KiB"},
	{in: "1024", want: 1024, str: "1KiB"},
	{in: "1000", want: 1000, str: "1kB"},
	{in: "1001", want: 1001, str: "1001B"},
	{in: "1.5GiB", want: 3 << 29, str: "1536MiB"},
	{in: "0", want: 0},
	{in: "10B", want: 10},
	{in: "1TiB", want: 1 << 40},
	{in: "1.5", err: true},
	{in: "-1", err: true},
	{in: "12XB", err: true},
	{in: "MiB", err: true},
	{in: "", err: true},
	{in: "99999999999999999999", err: true},
	{in: "9999999999TiB", err: true},
}

func TestParseByteSize(t *testing.T) {
	testPrinted(t, "ParseByteSize", ParseByteSize, func(b ByteSize) int64 { return int64(b) }, byteSizeCases)
}

var envCases = []struct {
	in, want string
	sub      bool
	err      string
}{
	{in: "plain", want: "plain"},
	{in: "${A}", want: "alpha", sub: true},
	{in: "x-${A}-${B_2}", want: "x-alpha-", sub: true},
	{in: "$$", want: "$"},
	{in: "$${A}", want: "${A}"},
	{in: "$$$${A}", want: "$${A}"},
	{in: "$2a$10$abc", want: "$2a$10$abc"},
	{in: "cost $", want: "cost $"},
	{in: "$A", want: "$A"},
	{in: "${MISSING}", err: `environment variable "MISSING" is not set`},
	{in: "${A", err: "invalid"},
	{in: "${}", err: "invalid"},
	{in: "${1A}", err: "invalid"},
	{in: "${A B}", err: "invalid"},
}

func TestExpandEnv(t *testing.T) {
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"A": "alpha", "B_2": ""}[k]
		return v, ok
	}
	for _, tc := range envCases {
		got, sub, errs := expandEnv(tc.in, lookup)
		if tc.err != "" {
			if len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.err) {
				t.Errorf("expandEnv(%q) errors %v, want %q", tc.in, errs, tc.err)
			}
			continue
		}
		if len(errs) > 0 || got != tc.want || sub != tc.sub {
			t.Errorf("expandEnv(%q) = %q, %v, %v; want %q, %v", tc.in, got, sub, errs, tc.want, tc.sub)
		}
	}
}

var templateCases = []struct {
	in      string
	labels  []string
	filter  string
	wantErr bool
}{
	{in: "sensors/{site}/{device}/+", labels: []string{"site", "device"}, filter: "sensors/+/+/+"},
	{in: "city/{district}/{site}/{device}/{metric}", labels: []string{"district", "site", "device", "metric"}, filter: "city/+/+/+/+"},
	{in: "raw/#", filter: "raw/#"},
	{in: "a//{b}", labels: []string{"b"}, filter: "a//+"},
	{in: "#", filter: "#"},
	{in: "a/#/b", wantErr: true},
	{in: "a/{b-c}", wantErr: true},
	{in: "a/{}", wantErr: true},
	{in: "a/x{b}", wantErr: true},
	{in: "a/{b}/{b}", wantErr: true},
	{in: "a/b+", wantErr: true},
	{in: "a/{__x}", wantErr: true},
	{in: "", wantErr: true},
	{in: "a/\x00", wantErr: true},
}

func TestParseTopicTemplate(t *testing.T) {
	for _, tc := range templateCases {
		tm, err := ParseTopicTemplate(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("ParseTopicTemplate(%q) succeeded", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTopicTemplate(%q): %v", tc.in, err)
			continue
		}
		if strings.Join(tm.Labels(), ",") != strings.Join(tc.labels, ",") || tm.Filter() != tc.filter {
			t.Errorf("ParseTopicTemplate(%q): labels %v filter %q", tc.in, tm.Labels(), tm.Filter())
		}
		if err := CheckTopicFilter(tm.Filter()); err != nil {
			t.Errorf("filter of %q is invalid: %v", tc.in, err)
		}
	}
}

var filterCases = []struct {
	in string
	ok bool
}{
	{"city/#", true}, {"#", true}, {"+", true}, {"+/+/#", true}, {"a//b", true}, {"/", true},
	{"", false}, {"a/#/b", false}, {"a#", false}, {"a/b+", false}, {"a\x00", false}, {"\xff", false},
}

func TestCheckTopicFilter(t *testing.T) {
	for _, tc := range filterCases {
		if err := CheckTopicFilter(tc.in); (err == nil) != tc.ok {
			t.Errorf("CheckTopicFilter(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

var bcryptCases = []struct {
	in string
	ok bool
}{
	{"$2a$10$wFVOI6FLZX2oYjTZBhyzwuKrgLitzjVCnC9zgcN4jG5D3SvvQ1ewy", true},
	{"$2b$04$wFVOI6FLZX2oYjTZBhyzwuKrgLitzjVCnC9zgcN4jG5D3SvvQ1ewy", true},
	{"$2y$31$wFVOI6FLZX2oYjTZBhyzwuKrgLitzjVCnC9zgcN4jG5D3SvvQ1ewy", true},
	{"$2a$03$wFVOI6FLZX2oYjTZBhyzwuKrgLitzjVCnC9zgcN4jG5D3SvvQ1ewy", false},
	{"$2a$10$wFVOI6FLZX2oYjTZBhyzwuKrgLitzjVCnC9zgcN4jG5D3SvvQ1ew", false},
	{"$2a$10$wFVOI6FLZX2oYjTZBhyzwuKrgLitzjVCnC9zgcN4jG5D3SvvQ1ew!", false},
	{"$2x$10$wFVOI6FLZX2oYjTZBhyzwuKrgLitzjVCnC9zgcN4jG5D3SvvQ1ewy", false},
	{"$1$10$wFVOI6FLZX2oYjTZBhyzwuKrgLitzjVCnC9zgcN4jG5D3SvvQ1ewyab", false},
	{"plaintext", false},
}

func TestValidBcrypt(t *testing.T) {
	for _, tc := range bcryptCases {
		if validBcrypt(tc.in) != tc.ok {
			t.Errorf("validBcrypt(%q) = %v", tc.in, !tc.ok)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "c.yaml", Line: 12, Path: "a.b", Msg: "bad"}, "c.yaml:12: a.b: bad"},
		{Error{File: "c.yaml", Path: "a.b", Msg: "bad"}, "c.yaml: a.b: bad"},
		{Error{Line: 3, Path: "a", Msg: "bad"}, "line 3: a: bad"},
		{Error{Path: "a", Msg: "bad"}, "a: bad"},
		{Error{File: "c.yaml", Line: 1, Msg: "bad"}, "c.yaml:1: bad"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	errs := &Errors{List: []*Error{{Path: "a", Msg: "x"}, {Path: "b", Msg: "y"}}}
	var one *Error
	if errs.Error() != "a: x\nb: y" || !errors.As(error(errs), &one) || one.Path != "a" {
		t.Errorf("Errors = %q", errs.Error())
	}
}

func TestPaths(t *testing.T) {
	for _, tc := range []struct{ in, parent string }{
		{"a.b[2].c", "a.b[2]"}, {"a.b[2]", "a.b"}, {"a.b", "a"}, {"a", ""},
		{`a."x.y"`, "a"}, {`a.labels."b c"`, "a.labels"},
	} {
		if got := parentPath(tc.in); got != tc.parent {
			t.Errorf("parentPath(%q) = %q, want %q", tc.in, got, tc.parent)
		}
	}
	if got := joinPath("a", "x.y"); got != `a."x.y"` {
		t.Errorf("joinPath = %q", got)
	}
}

func TestUnknownKeyWithOddName(t *testing.T) {
	_, err := parse([]byte("ingest:\n  \"we ird\\nkey\": 1\n"), "c.yaml", testEnv())
	want := `c.yaml:2: ingest."we ird\nkey": unknown key`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestTooManyErrors: a file with hundreds of problems (300 bad templates, 299 duplicate topics) reports a
// bounded list.
func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("ingest:\n  rules:\n")
	for i := 0; i < 300; i++ {
		b.WriteString("    - {topic: 'a/#/b'}\n")
	}
	_, err := parse([]byte(b.String()), "c.yaml", testEnv())
	var errs *Errors
	if !errors.As(err, &errs) || len(errs.List) != maxErrors+1 ||
		errs.List[maxErrors].Error() != "c.yaml: 499 more errors not shown" {
		t.Fatalf("got %d errors: %v", len(errs.List), errs.List[len(errs.List)-1])
	}
}

func TestSecretFileLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxSecretFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	noRead := filepath.Join(dir, "noread")
	if err := os.WriteFile(noRead, []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	in := "storage:\n  influx: {url: 'http://h:1', org: o, bucket: b, token_file: big}\n"
	_, err := parse([]byte(in), filepath.Join(dir, "c.yaml"), testEnv())
	if err == nil || !strings.Contains(err.Error(), "is larger than 65536 bytes") {
		t.Errorf("big secret file: %v", err)
	}
	if f, err := os.Open(noRead); err == nil {
		f.Close()
		t.Log("running as a user who can read mode 000 files; skipping the permission case")
		return
	}
	in = "storage:\n  influx: {url: 'http://h:1', org: o, bucket: b, token_file: noread}\n"
	_, err = parse([]byte(in), filepath.Join(dir, "c.yaml"), testEnv())
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("unreadable secret file: %v", err)
	}
}

// noFS is a file system with no files, for fuzzing: fuzz input must not make the test read real files.
type noFS struct{}

func (noFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}
