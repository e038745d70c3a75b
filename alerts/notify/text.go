package notify

import (
	"strings"
	"unicode/utf8"
)

// cutUTF8 returns the longest prefix of s of at most n bytes that does not split a character, so a cut
// Vietnamese (or any non-ASCII) text stays valid UTF-8.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// truncate cuts s to at most n bytes on a character boundary, marking the cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return cutUTF8(s, n) + "…"
}

// cutLines joins lines with "\n" and keeps at most max characters: whole lines while they fit, else the first
// line cut on a character boundary.
func cutLines(lines []string, max int) string {
	text := strings.Join(lines, "\n")
	if utf8.RuneCountInString(text) <= max {
		return text
	}
	out, n := "", 0
	for i, l := range lines {
		c := utf8.RuneCountInString(l)
		if i > 0 {
			c++ // the newline
		}
		if n+c > max {
			break
		}
		if i > 0 {
			out += "\n"
		}
		out += l
		n += c
	}
	if out == "" {
		r := []rune(lines[0])
		out = string(r[:max-1]) + "…"
	}
	return out
}
