package send

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Phone numbers: E.164 allows at most 15 digits; fewer than 8 digits is not
// a plausible international number (country code + subscriber number).
const (
	minPhoneDigits = 8
	maxPhoneDigits = 15
)

// NormalizePhone checks that s is a phone number in international format and
// returns its digits: an optional leading "+", then 8 to 15 digits, with
// spaces, dashes, dots and parentheses allowed as separators. A "(0)" after
// the country code (+44 (0)20 7946 0000) is the national trunk prefix and
// is dropped. Both Meta
// ("+16505551234" or digits, "Audio messages") and Infobip ("441134960001",
// "Send WhatsApp audio message") take the digits-only form, which is what the clients send.
func NormalizePhone(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", invalid("phone number", "empty")
	}
	if len(t) > 64 {
		return "", invalid("phone number", "too long (%d characters)", len(t))
	}
	t = strings.TrimPrefix(t, "+")
	var b strings.Builder
	for i, r := range t {
		switch {
		case r == '0' && b.Len() > 0 && i > 0 && t[i-1] == '(' && strings.HasPrefix(t[i:], "0)"):
			// "(0)" after the country code is the national trunk prefix
			// (+44 (0)20 7946 0000): written, never dialled from abroad.
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", invalid("phone number", "%q: only digits, an optional leading +, spaces, dashes, dots and parentheses are allowed", s)
		}
	}
	d := b.String()
	switch {
	case len(d) < minPhoneDigits || len(d) > maxPhoneDigits:
		return "", invalid("phone number", "%q: %d digits; an international number has %d to %d (country code first)", s, len(d), minPhoneDigits, maxPhoneDigits)
	case d[0] == '0':
		return "", invalid("phone number", "%q: starts with 0; give the country code (e.g. +44…), not a national or 00 prefix", s)
	}
	return d, nil
}

// checkLink accepts absolute http(s) URLs with a host, at most max bytes
// (0 = no limit).
func checkLink(field, s string, max int) error {
	if s == "" {
		return invalid(field, "empty")
	}
	if max > 0 && len(s) > max {
		return invalid(field, "%d characters, more than the %d allowed", len(s), max)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsSpace) || strings.ContainsFunc(s, unicode.IsControl) {
		return invalid(field, "contains spaces, control characters or invalid UTF-8")
	}
	u, err := url.Parse(s)
	if err != nil {
		return invalid(field, "not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid(field, "must start with https:// or http://")
	}
	if u.Host == "" {
		return invalid(field, "has no host")
	}
	return nil
}

// checkLen enforces a provider's field length (in characters, as the
// OpenAPI maxLength counts them).
func checkLen(field, s string, max int) error {
	if n := utf8.RuneCountInString(s); n > max {
		return invalid(field, "%d characters, more than the %d allowed", n, max)
	}
	if !utf8.ValidString(s) {
		return invalid(field, "invalid UTF-8")
	}
	return nil
}

// checkID accepts a provider id: non-empty, printable, no spaces or slashes
// (it may end up in a URL path).
func checkID(field, s string, max int) error {
	if s == "" {
		return invalid(field, "empty")
	}
	if len(s) > max {
		return invalid(field, "%d characters, more than the %d allowed", len(s), max)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '/' || r == '?' || r == '#' || r == '%' || !unicode.IsPrint(r) {
			return invalid(field, "contains spaces, slashes or control characters")
		}
	}
	return nil
}
