package wardtest

import "regexp"

// rfc3339 matches a timestamp as the API writes it.
var rfc3339 = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)

// WithoutTimes is body without its timestamps, for tests that check a response no longer carries a reading:
// a reading of 38.6 must not be found in "12:20:38.604Z".
func WithoutTimes(body []byte) string {
	return rfc3339.ReplaceAllString(string(body), "")
}
