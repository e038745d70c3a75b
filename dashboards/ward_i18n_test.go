package dashboards

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// wardUntranslated are the shapes of a visible text written into the ward pages' code instead of passed
// through t(): a literal text child of an element, a literal label, placeholder or title, a literal status
// message.
var wardUntranslated = []*regexp.Regexp{
	regexp.MustCompile(`el\("[a-z0-9]+", \{[^{}]*\}, ["` + "`" + `][A-Za-z]`),
	regexp.MustCompile(`"(aria-label|placeholder|title)": ["` + "`" + `][A-Za-z]`),
	regexp.MustCompile(`(say|confirm)\(["` + "`" + `]`),
	regexp.MustCompile(`field\(["` + "`" + `]`),
}

// wardFamilies are the ward's keys built from data (`ward.status.${s}`, `ward.round.${state}`).
var wardFamilies = map[string][]string{
	"ward.status": {"released", "transferred", "hospitalised"},
	"ward.round":  {"done", "missing", "pending"},
}

// TestWardUITranslated: the ward pages show no text that bypasses t() (so TestUIStringsTranslated sees every
// one of their texts in English and Vietnamese), the keys they build from data exist in every language, and
// their scrollable tables can be reached by keyboard.
func TestWardUITranslated(t *testing.T) {
	b, err := fs.ReadFile(webFS, "web/js/views/ward.js")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "//") {
			continue
		}
		for _, re := range wardUntranslated {
			if m := re.FindString(line); m != "" {
				t.Errorf("ward.js:%d: text not through t(): %s", i+1, strings.TrimSpace(line))
			}
		}
	}
	for _, lang := range i18nLangs {
		dict := loadLang(t, lang)
		for fam, members := range wardFamilies {
			for _, m := range members {
				if dict[fam+"."+m] == "" {
					t.Errorf("%s.json: no text for %s.%s", lang, fam, m)
				}
			}
		}
	}
	for _, m := range regexp.MustCompile(`el\("div", \{ class: "ward-table"[^}]*\}`).FindAllString(string(b), -1) {
		if !strings.Contains(m, `tabindex: "0"`) {
			t.Errorf("ward.js: a scrollable table without tabindex 0: %s", m)
		}
	}
}
