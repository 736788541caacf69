package codec

import (
	"errors"
	"fmt"
)

// AudioSpecificConfig is what prep takes from an MPEG-4 AudioSpecificConfig
// (ISO/IEC 14496-3 §1.6.2.1), the decoder configuration that MP4 (esds
// DecoderSpecificInfo), Matroska (A_AAC CodecPrivate) and CAF (kuki) carry
// for AAC. For explicitly signalled HE-AAC it reports what a decoder
// outputs (and what ffprobe prints): the SBR sample rate, and 2 channels
// when parametric stereo is signalled on a mono core. Implicit SBR
// (signalled only inside the raw stream) cannot be seen here; the core
// rate is reported then.
type AudioSpecificConfig struct {
	ObjectType    int  // audioObjectType of the core coder (2 = AAC-LC)
	SampleRate    int  // output sample rate (the SBR rate for HE-AAC)
	ChannelConfig int  // channelConfiguration (0: the layout is in a PCE)
	Channels      int  // output channels (2 for parametric stereo); 0 unknown
	SBR, PS       bool // HE-AAC v1 / v2 signalled explicitly
}

// aacRates is the sampling_frequency_index table (ISO/IEC 14496-3 Table 1.18);
// indexes 13 and 14 are reserved, 15 means an explicit 24-bit rate follows.
var aacRates = [16]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350, 0, 0, 0}

// aacChannels maps channelConfiguration to a channel count (ISO/IEC
// 14496-3 Table 1.19, incl. the 2013 additions 11–14); 0 means "in a PCE"
// or reserved.
var aacChannels = [16]int{0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 24, 8, 0}

// AACSampleRate is the rate of a sampling_frequency_index (ISO/IEC 14496-3
// Table 1.18), as ADTS headers carry it; 0 for reserved or escape indexes.
func AACSampleRate(index int) int {
	if index < 0 || index > 15 {
		return 0
	}
	return aacRates[index]
}

// AACChannels is the channel count of a channelConfiguration (ISO/IEC
// 14496-3 Table 1.19); 0 when the layout is in a PCE or reserved.
func AACChannels(config int) int {
	if config < 0 || config > 15 {
		return 0
	}
	return aacChannels[config]
}

// ParseAudioSpecificConfig decodes an AudioSpecificConfig.
func ParseAudioSpecificConfig(b []byte) (AudioSpecificConfig, error) {
	r := &bitReader{b: b}
	var c AudioSpecificConfig
	c.ObjectType = aacObjectType(r)
	c.SampleRate = aacRate(r)
	c.ChannelConfig = int(r.u(4))
	extRate := 0
	if c.ObjectType == 5 || c.ObjectType == 29 { // explicit hierarchical SBR / PS
		c.SBR = true
		c.PS = c.ObjectType == 29
		extRate = aacRate(r)
		c.ObjectType = aacObjectType(r)
		if c.ObjectType == 22 {
			r.u(4) // extensionChannelConfiguration
		}
	}
	if r.over {
		return c, fmt.Errorf("AudioSpecificConfig: %d bytes end inside the header", len(b))
	}
	c.Channels = aacChannels[c.ChannelConfig]
	c.gaSpecific(r, &extRate)
	if c.SBR && extRate > 0 {
		c.SampleRate = extRate
	}
	if c.PS && c.Channels == 1 {
		c.Channels = 2
	}
	if c.SampleRate <= 0 {
		return c, errors.New("AudioSpecificConfig: a reserved sampling frequency index")
	}
	return c, nil
}

// gaSpecific reads the GASpecificConfig (§4.4.1) of the AAC object types
// for the channel layout of a PCE, and the backward-compatible explicit
// SBR/PS signalling after it (§1.6.5.2: syncExtensionType 0x2b7).
func (c *AudioSpecificConfig) gaSpecific(r *bitReader, extRate *int) {
	switch c.ObjectType {
	case 1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23:
	default:
		return
	}
	r.u(1) // frameLengthFlag
	if r.u(1) == 1 {
		r.u(14) // coreCoderDelay
	}
	extFlag := r.u(1)
	if c.ChannelConfig == 0 {
		c.Channels = aacPCEChannels(r)
	}
	if c.ObjectType == 6 || c.ObjectType == 20 {
		r.u(3) // layerNr
	}
	if extFlag == 1 {
		if c.ObjectType == 22 {
			r.u(16) // numOfSubFrame(5), layer_length(11)
		}
		if c.ObjectType == 17 || c.ObjectType == 19 || c.ObjectType == 20 || c.ObjectType == 23 {
			r.u(3) // resilience flags
		}
		r.u(1) // extensionFlag3
	}
	if c.SBR || r.over || r.left() < 16 || r.u(11) != 0x2b7 {
		return
	}
	if aacObjectType(r) == 5 && r.u(1) == 1 {
		c.SBR = true
		*extRate = aacRate(r)
		if r.left() >= 12 && r.u(11) == 0x548 && r.u(1) == 1 {
			c.PS = true
		}
	}
}

func aacObjectType(r *bitReader) int {
	t := int(r.u(5))
	if t == 31 {
		t = 32 + int(r.u(6))
	}
	return t
}

func aacRate(r *bitReader) int {
	i := r.u(4)
	if i == 15 {
		return int(r.u(24))
	}
	return aacRates[i]
}

// PCEChannels counts the channels of the program_config_element that starts
// a raw_data_block (ISO/IEC 14496-3 §4.5.2.1: id_syn_ele ID_PCE = 5), as
// ADTS frames with channelConfiguration 0 carry it. ok is false when the
// block does not start with a PCE.
func PCEChannels(rawDataBlock []byte) (n int, ok bool) {
	r := &bitReader{b: rawDataBlock}
	if r.u(3) != 5 {
		return 0, false
	}
	n = aacPCEChannels(r)
	return n, n > 0
}

// aacPCEChannels counts the channels a program_config_element declares
// (ISO/IEC 14496-3 Table 4.2). Each front/side/back element is a single
// channel element or a channel pair; LFE elements add one channel each.
func aacPCEChannels(r *bitReader) int {
	r.u(4 + 2 + 4) // element_instance_tag, object_type, sampling_frequency_index
	front, side, back := int(r.u(4)), int(r.u(4)), int(r.u(4))
	lfe := int(r.u(2))
	r.u(3)                   // num_assoc_data_elements
	r.u(4)                   // num_valid_cc_elements
	for i := 0; i < 3; i++ { // mono, stereo and matrix mixdown flags
		if r.u(1) == 1 {
			if i == 2 {
				r.u(3)
			} else {
				r.u(4)
			}
		}
	}
	n := 0
	for i := 0; i < front+side+back; i++ {
		n += 1 + int(r.u(1)) // is_cpe
		r.u(4)
	}
	n += lfe
	if r.over {
		return 0
	}
	return n
}

// bitReader reads big-endian bit fields from b. Reading past the end
// yields zero bits and sets over, so callers check over once at the end
// instead of after every field.
type bitReader struct {
	b    []byte
	pos  int // in bits
	over bool
}

func (r *bitReader) u(n int) uint32 {
	var v uint32
	for i := 0; i < n; i++ {
		byteIdx := r.pos >> 3
		if byteIdx >= len(r.b) {
			r.over = true
			v <<= 1
			continue
		}
		bit := r.b[byteIdx] >> (7 - uint(r.pos&7)) & 1
		v = v<<1 | uint32(bit)
		r.pos++
	}
	return v
}

func (r *bitReader) left() int {
	if r.over {
		return 0
	}
	return len(r.b)*8 - r.pos
}
