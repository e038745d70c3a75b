package pseudonym

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

var replaceCases = []struct {
	name, in string
	subjects []string
	want     string
	changed  bool
}{
	{"label value", "Q-1a2b3c4d", []string{"Q-1a2b3c4d"}, "P", true},
	{"short whole value", "AB", []string{"AB"}, "P", true},
	{"short in text untouched", "ABC and AB", []string{"AB"}, "ABC and AB", false},
	{"summary", "Fever in room 101 at q1: case Q-1a2b3c4d reads 38.6 °C", []string{"Q-1a2b3c4d"},
		"Fever in room 101 at q1: case P reads 38.6 °C", true},
	{"end of sentence", "case Q-1a2b3c4d.", []string{"Q-1a2b3c4d"}, "case P.", true},
	{"another occupant's longer id", "case Q-1a2b3c4d5 and Q-1a2b3c4d", []string{"Q-1a2b3c4d"}, "case Q-1a2b3c4d5 and P", true},
	{"prefix of another id", "xQ-1a2b3c4d", []string{"Q-1a2b3c4d"}, "xQ-1a2b3c4d", false},
	{"twice", "Q-0001/Q-0001", []string{"Q-0001"}, "P/P", true},
	{"name and contact", "called Nguyen Thi Hoa on +84 91 234 5678", []string{"Q-0001", "Nguyen Thi Hoa", "+84 91 234 5678"},
		"called P on P", true},
	{"vietnamese text", "Sốt ở phòng 101: ca Q-0001 đo được 38,6 °C", []string{"Q-0001"}, "Sốt ở phòng 101: ca P đo được 38,6 °C", true},
	{"empty subject", "anything", []string{""}, "anything", false},
	{"nothing", "", []string{"Q-0001"}, "", false},
}

func TestReplace(t *testing.T) {
	for _, c := range replaceCases {
		t.Run(c.name, func(t *testing.T) {
			got, changed := Replace(c.in, c.subjects, "P")
			assert.Equal(t, c.want, got)
			assert.Equal(t, c.changed, changed)
		})
	}
}

func TestMap(t *testing.T) {
	m := map[string]string{"case_id": "Q-0001", "room": "101", "summary": "case Q-0001 reads 38.6"}
	assert.True(t, Map(m, []string{"Q-0001"}, "P"))
	assert.Equal(t, map[string]string{"case_id": "P", "room": "101", "summary": "case P reads 38.6"}, m)
	assert.False(t, Map(m, []string{"Q-0001"}, "P"))
}

// FuzzReplace checks that no whole subject is left behind and that nothing panics on any text.
func FuzzReplace(f *testing.F) {
	for _, c := range replaceCases {
		for _, s := range c.subjects {
			f.Add(c.in, s)
		}
	}
	f.Fuzz(func(t *testing.T, in, sub string) {
		out, _ := Replace(in, []string{sub}, "#")
		if sub != "" && out == sub {
			t.Fatalf("Replace(%q, %q) left the whole subject", in, sub)
		}
	})
}
