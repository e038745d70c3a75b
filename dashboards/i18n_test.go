package dashboards

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// i18nLangs are the UI's languages: one file each under web/i18n (js/i18n.js LANGS).
var i18nLangs = []string{"en", "vi"}

var (
	// i18nCall is a literal key passed to t() or tOr().
	i18nCall = regexp.MustCompile(`\bt(?:Or)?\(\s*"([^"]+)"`)
	// i18nLiteral is a string literal shaped like a key of a namespace the files define (keys kept in tables
	// and passed to t() later: column headers, tabs, nav entries).
	i18nLiteral = regexp.MustCompile(`"([a-z]+(?:\.[a-z0-9_]+)+)"`)
	// i18nPlaceholder is a {name} in a text.
	i18nPlaceholder = regexp.MustCompile(`\{(\w+)\}`)
)

// i18nFamilies are keys the code builds from data (`severity.${level}`, `range.${r}`, ...): each family's
// members that must exist in every language.
var i18nFamilies = map[string][]string{
	"severity": {"critical", "warning", "info"},
	"range":    {"15m", "1h", "6h", "24h", "7d"},
	"metric":   {"body_temperature", "temperature", "heart_rate", "humidity", "co2", "pm25", "noise", "water_level", "battery", "rssi"},
	"role":     {"admin", "operator", "viewer", "health_staff"},
	"state":    {"online", "offline", "degraded", "stalled", "unauthorized", "firing", "pending", "acknowledged", "silenced", "resolved", "critical", "warning", "ok"},
}

func loadLang(t *testing.T, lang string) map[string]string {
	t.Helper()
	b, err := fs.ReadFile(webFS, "web/i18n/"+lang+".json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s.json: %v", lang, err)
	}
	return m
}

// TestUIStringsTranslated: every UI text key the code uses is in every language's file, the files have the
// same keys, no text is empty, and each translation keeps the placeholders of the English text.
func TestUIStringsTranslated(t *testing.T) {
	dicts := map[string]map[string]string{}
	for _, l := range i18nLangs {
		dicts[l] = loadLang(t, l)
	}
	en := dicts["en"]
	namespaces := map[string]bool{}
	for k := range en {
		namespaces[strings.Split(k, ".")[0]] = true
	}
	used := map[string]string{} // key → file that uses it
	err := fs.WalkDir(webFS, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") || strings.Contains(p, "/vendor/") {
			return err
		}
		b, err := fs.ReadFile(webFS, p)
		if err != nil {
			return err
		}
		for _, m := range i18nCall.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = p
		}
		for _, m := range i18nLiteral.FindAllStringSubmatch(string(b), -1) {
			if namespaces[strings.Split(m[1], ".")[0]] {
				used[m[1]] = p
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 100 {
		t.Fatalf("found only %d keys in the code: the scan is broken", len(used))
	}
	for fam, members := range i18nFamilies {
		for _, m := range members {
			used[fam+"."+m] = "(built from data)"
		}
	}
	keys := make([]string, 0, len(used))
	for k := range used {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, l := range i18nLangs {
		for _, k := range keys {
			if _, ok := dicts[l][k]; !ok {
				t.Errorf("%s.json lacks %q (used in %s)", l, k, used[k])
			}
		}
		for k, v := range dicts[l] {
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s.json: %q is empty", l, k)
			}
			if _, ok := en[k]; !ok {
				t.Errorf("%s.json has %q, which en.json lacks", l, k)
			}
			want, got := placeholders(en[k]), placeholders(v)
			if !slices.Equal(want, got) {
				t.Errorf("%s.json %q has placeholders %v, English %v", l, k, got, want)
			}
		}
		for k := range en {
			if _, ok := dicts[l][k]; !ok {
				t.Errorf("%s.json lacks %q (in en.json)", l, k)
			}
		}
	}
}

func placeholders(s string) []string {
	var out []string
	for _, m := range i18nPlaceholder.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return slices.Compact(out)
}
