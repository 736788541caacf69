// Package codec parses the codec headers that audio containers carry, each
// in one place so that every container parser (and the transcoder) reads
// them the same way:
//
//   - Opus: the identification header OpusHead (RFC 7845 §5.1) and its ISO
//     BMFF form dOps, the TOC byte and the packet framing (RFC 6716 §3.1,
//     §3.2), and the inverse, AppendOpusPacket (and AppendOpusCode3, code 3 whatever the
//     frame count), for repacketizers;
//   - AAC: the MPEG-4 AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1);
//   - FLAC: the STREAMINFO metadata block (RFC 9639 §8.2).
//
// The parsers take byte slices, allocate little, never panic on any input
// and return an error saying what is wrong. The package imports nothing
// from the rest of prep.
package codec
