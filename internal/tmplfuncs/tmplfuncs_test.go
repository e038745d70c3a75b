package tmplfuncs

import (
	"strings"
	"testing"
	"text/template"
)

// executeCases are templates and the error ExecuteSamples gives ("" = none).
var executeCases = []struct {
	text, err string
}{
	{`{{.Alert}} {{.State}} at {{rfc3339 .StartsAt}} {{with .Value}}{{.}}{{end}} {{json .Labels}}`, ""},
	{`{{range sortKeys .Labels}}{{.}}={{index $.Labels .}} {{end}}{{default "-" .AckedBy}}`, ""},
	{`{{.Device}}`, "can't evaluate field Device"},
	{`{{.Labels.missing}}`, `map has no entry for key "missing"`},
	{`{{range $i := .Summary}}{{end}}`, "range can't iterate over"},
	{`{{printf "%0999999d" 1}}{{printf "%0999999d" 1}}`, "larger than 1 MiB"},
}

func TestExecuteSamples(t *testing.T) {
	for _, tc := range executeCases {
		tpl, err := template.New("r").Funcs(Funcs()).Option("missingkey=error").Parse(tc.text)
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		err = ExecuteSamples(tpl)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.text, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: %v, want an error containing %q", tc.text, err, tc.err)
		}
	}
}
