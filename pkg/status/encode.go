package status

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// appendEventLine appends e as a store line — the JSON that
// json.Marshal(line{Kind: kindStatus, Event: e}) writes, field for field —
// without reflection: encoding is a good part of a body's cost. ok is false
// when a time cannot be written (years outside 0–9999); the caller then
// uses json.Marshal and its error.
func appendEventLine(b []byte, e *Event) ([]byte, bool) {
	if !writable(e.Time) || !writable(e.Received) || (e.Error != nil && !writable(e.Error.Time)) {
		return b, false
	}
	b = append(b, `{"kind":"status","provider":`...)
	b = appendString(b, string(e.Provider))
	b = append(b, `,"message_id":`...)
	b = appendString(b, e.MessageID)
	b = append(b, `,"status":`...)
	b = appendString(b, string(e.Status))
	b = append(b, `,"time":`...)
	b = appendTime(b, e.Time)
	b = append(b, `,"received":`...)
	b = appendTime(b, e.Received)
	if e.TimeReceived {
		b = append(b, `,"time_received":true`...)
	}
	if e.Recipient != "" {
		b = append(b, `,"recipient":`...)
		b = appendString(b, e.Recipient)
	}
	if e.CallbackData != "" {
		b = append(b, `,"callback_data":`...)
		b = appendString(b, e.CallbackData)
	}
	if e.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendString(b, e.Detail)
	}
	if e.Error != nil {
		// Rare (failures only): the reflective encoder is fine.
		fb, err := json.Marshal(e.Error)
		if err != nil {
			return b, false
		}
		b = append(b, `,"error":`...)
		b = append(b, fb...)
	}
	return append(b, '}'), true
}

func writable(t time.Time) bool { y := t.Year(); return y >= 0 && y <= 9999 }

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, and <, >, &,
// U+2028, U+2029 escaped as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
