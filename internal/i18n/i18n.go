// Package i18n gives the server's own texts — notification labels, generated alert summaries, export
// headers — in the languages of the UI. The texts are the UI's: one JSON file per language
// (dashboards/web/i18n/<lang>.json, embedded by citywatch/dashboards/web/i18n), so a text is translated in
// one place and the UI's TestUIStringsTranslated checks that every language has every key with the same
// {placeholders}. Server-only texts live in the "notify." namespace of those files.
//
// Dates follow the UI's conventions: dd/MM/yyyy in Vietnamese, ISO-like yyyy-MM-dd in English, 24-hour
// times, and the zone always named, since a notification is read far from the server that sent it.
package i18n

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	catalog "citywatch/dashboards/web/i18n"
)

// Lang is a supported language: an ISO 639-1 code.
type Lang string

// The supported languages.
const (
	// En is English, the default.
	En Lang = "en"
	// Vi is Vietnamese.
	Vi Lang = "vi"
)

// Langs are the supported languages, the default first.
var Langs = []Lang{En, Vi}

// ParseLang returns the language s names ("" is English). An unsupported language is an error that lists
// the supported ones.
func ParseLang(s string) (Lang, error) {
	if s == "" {
		return En, nil
	}
	for _, l := range Langs {
		if string(l) == s {
			return l, nil
		}
	}
	return "", fmt.Errorf("unsupported language %q (want en or vi)", truncate(s, 16))
}

// Catalog holds the texts of every language. It is immutable once loaded, so it is safe for concurrent use.
type Catalog struct {
	texts map[Lang]map[string]string
}

// Parse builds a catalog of the JSON files given per language (flat maps of keys to texts).
func Parse(files map[Lang][]byte) (*Catalog, error) {
	c := &Catalog{texts: map[Lang]map[string]string{}}
	for l, b := range files {
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("i18n %s: %w", l, err)
		}
		c.texts[l] = m
	}
	if c.texts[En] == nil {
		return nil, fmt.Errorf("i18n: no English texts")
	}
	return c, nil
}

// Load reads the embedded catalog of the UI's language files.
func Load() (*Catalog, error) {
	files := map[Lang][]byte{}
	for _, l := range Langs {
		b, err := catalog.Files.ReadFile(string(l) + ".json")
		if err != nil {
			return nil, fmt.Errorf("i18n %s: %w", l, err)
		}
		files[l] = b
	}
	return Parse(files)
}

// loadDefault loads the embedded catalog once; the files are fixed at build time, so this is no mutable state.
var loadDefault = sync.OnceValues(Load)

// Default returns the embedded catalog. It panics if the embedded files do not parse, a build defect that
// the package's tests catch.
func Default() *Catalog {
	c, err := loadDefault()
	if err != nil {
		panic(err)
	}
	return c
}

// Has reports whether the language itself (not the English fallback) has key.
func (c *Catalog) Has(l Lang, key string) bool {
	_, ok := c.texts[l][key]
	return ok
}

// T returns the text of key in language l (English when l lacks it, the key itself when English does too)
// with its {name} placeholders filled from vars, given as name, value pairs.
func (c *Catalog) T(l Lang, key string, vars ...string) string {
	s, ok := c.texts[l][key]
	if !ok {
		if s, ok = c.texts[En][key]; !ok {
			s = key
		}
	}
	if len(vars) == 0 || !strings.Contains(s, "{") {
		return s
	}
	pairs := make([]string, 0, len(vars))
	for i := 0; i+1 < len(vars); i += 2 {
		pairs = append(pairs, "{"+vars[i]+"}", vars[i+1])
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
