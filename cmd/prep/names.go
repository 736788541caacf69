package main

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// quoteName keeps a file name on its row of a plain table or its line: a
// name with a control character (a newline or tab would break the table,
// an escape sequence would drive the terminal), invalid UTF-8 or a leading
// or trailing space is printed Go-quoted, "like\nthis". Every human-output
// line that prints a file name uses it; JSON output escapes on its own.
func quoteName(s string) string {
	if s == "" || (s[0] != ' ' && s[len(s)-1] != ' ' && s[0] != '"' && utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == utf8.RuneError || !unicode.IsPrint(r) && r != ' '
	}) < 0) {
		return s
	}
	return strconv.Quote(s)
}

// escapeControls makes free text that may hold a file name (an error
// message) safe for one line of a terminal: control characters (newline,
// carriage return, escape, …) and invalid UTF-8 bytes are written as Go
// escapes (\n, \x1b), everything else is kept.
func escapeControls(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&15, 16))
		case unicode.IsControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
