// Package oggopus reads and writes Ogg Opus streams (RFC 3533, RFC 7845)
// and repacks their Opus packets (RFC 6716 §3.2) without decoding them:
// consecutive frames of the same configuration are combined into code-3
// packets of up to 60 ms, the way WhatsApp's own voice notes are packed.
// The Opus ID header, TOC and packet framing are pkg/inspect/codec's.
//
// Every function is bounded and returns an error for malformed input;
// none panics on any bytes.
package oggopus
