package config

import (
	"sort"
	"strconv"
	"strings"
)

// Error is one problem in a configuration: where it is (file, line, key path) and what is wrong. It never holds
// the value of a secret.
type Error struct {
	// File is the configuration file name as given to Load or Parse ("" for a Config built in code).
	File string
	// Line is the 1-based line of the offending key or value, or 0 when unknown.
	Line int
	// Path is the key path, e.g. "ingest.rules[2].format" (list indexes count from 0), or "" for the whole file.
	Path string
	// Msg says what is wrong, quoting the bad value.
	Msg string
}

// Error formats the error as "file:line: key.path: message", leaving out the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one configuration, sorted by line. Parse, Load and Validate return it (as
// error) so that a user fixes all problems in one go; use errors.As to get at the list.
type Errors struct {
	List []*Error
}

// Error prints one error per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, x := range e.List {
		lines[i] = x.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual errors, for errors.As and errors.Is.
func (e *Errors) Unwrap() []error {
	out := make([]error, len(e.List))
	for i, x := range e.List {
		out[i] = x
	}
	return out
}

// errorSink collects errors and maps key paths to lines.
type errorSink struct {
	file  string
	lines map[string]int // key path -> line
	// failed holds paths that failed to decode; validation errors at or under them are dropped because the
	// value there is a left-over default, not what the user wrote.
	failed map[string]bool
	list   []*Error
	fatal  *Error // stopped decoding; reported first
	// blocks maps the key paths of literal block scalars ("|") to the file line of their first content line,
	// so errors inside multi-line values (templates) can point at the exact line.
	blocks map[string]int
}

func newErrorSink(file string) *errorSink {
	return &errorSink{file: file, lines: map[string]int{}, failed: map[string]bool{}, blocks: map[string]int{}}
}

// at records an error at a known line (decoding).
func (s *errorSink) at(line int, path, msg string) {
	s.list = append(s.list, &Error{File: s.file, Line: line, Path: path, Msg: msg})
}

// add records a validation error at path; its line is the line of path or of its nearest parent in the file.
func (s *errorSink) add(path, msg string) {
	for p := path; ; p = parentPath(p) {
		if s.failed[p] {
			return
		}
		if p == "" {
			break
		}
	}
	s.list = append(s.list, &Error{File: s.file, Line: s.lineOf(path), Path: path, Msg: msg})
}

// addAt records a validation error at path on a given line (0: the line of path).
func (s *errorSink) addAt(line int, path, msg string) {
	n := len(s.list)
	s.add(path, msg)
	if len(s.list) > n && line > 0 && s.file != "" {
		s.list[n].Line = line
	}
}

func (s *errorSink) lineOf(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := s.lines[p]; ok {
			return l
		}
	}
	return 0
}

// maxErrors caps the errors reported for one file; a file with more is not worth reading error by error.
const maxErrors = 100

func (s *errorSink) err() error {
	if len(s.list) == 0 && s.fatal == nil {
		return nil
	}
	sort.SliceStable(s.list, func(i, j int) bool { return s.list[i].Line < s.list[j].Line })
	list := s.list
	if s.fatal != nil { // first, so that a capped list still says why it is long
		list = append([]*Error{s.fatal}, list...)
	}
	if len(list) > maxErrors {
		more := len(list) - maxErrors
		list = append(list[:maxErrors:maxErrors], &Error{File: s.file, Msg: strconv.Itoa(more) + " more errors not shown"})
	}
	return &Errors{List: list}
}

// parentPath strips the last element of a key path: "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if strings.HasSuffix(p, `"`) { // a quoted map key: a."x.y"
		if i := strings.LastIndex(p[:len(p)-1], `."`); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// joinPath appends a key to a path, quoting keys that are not plain identifiers.
func joinPath(path, key string) string {
	if !plainKey(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// quote quotes a user value for an error message, shortened so that messages stay one line and readable.
func quote(v string) string {
	const max = 80
	if len(v) > max {
		cut := max
		for cut > 0 && !utf8Start(v[cut]) {
			cut--
		}
		return strconv.Quote(v[:cut]) + "..."
	}
	return strconv.Quote(v)
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
