package inspect

// AAC configuration helpers shared by the MP4 (esds) and ADTS parsers:
// an MSB-first bit reader, the MPEG-4 AudioSpecificConfig (ISO/IEC
// 14496-3 §1.6.2.1) and the program_config_element (§4.4.1.1, Table 4.2)
// that carries the channel layout when channelConfiguration is 0.

// aacBits reads big-endian bit fields from b. Reading past the end yields
// zero bits and sets over, so callers check over once at the end instead of
// after every field.
type aacBits struct {
	b    []byte
	pos  int // in bits
	over bool
}

func (r *aacBits) u(n int) uint32 {
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

func (r *aacBits) left() int {
	if r.over {
		return 0
	}
	return len(r.b)*8 - r.pos
}

// aacRates is the sampling_frequency_index table (ISO/IEC 14496-3 Table 1.18);
// indexes 13 and 14 are reserved, 15 means an explicit 24-bit rate follows.
var aacRates = [16]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350, 0, 0, 0}

// aacChannels maps channelConfiguration to a channel count (ISO/IEC
// 14496-3 Table 1.19, incl. the 2013 additions 11–14); 0 means "in a PCE"
// or reserved.
var aacChannels = [16]int{0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 24, 8, 0}

// aacConfig is what prep takes from an AudioSpecificConfig.
type aacConfig struct {
	objectType int  // audioObjectType of the core coder (2 = AAC-LC)
	rate       int  // output sample rate (the SBR rate for HE-AAC)
	channels   int  // output channels (2 for parametric stereo)
	sbr, ps    bool // HE-AAC v1 / v2 signalled explicitly
}

func aacObjectType(r *aacBits) int {
	t := int(r.u(5))
	if t == 31 {
		t = 32 + int(r.u(6))
	}
	return t
}

func aacRate(r *aacBits) int {
	i := r.u(4)
	if i == 15 {
		return int(r.u(24))
	}
	return aacRates[i]
}

// parseAudioSpecificConfig decodes an AudioSpecificConfig. For HE-AAC it
// reports what a decoder outputs (and what ffprobe prints): the SBR
// sample rate, and 2 channels when parametric stereo is signalled on a
// mono core. Implicit SBR (signalled only inside the raw stream) cannot
// be seen here; the core rate is reported then.
func parseAudioSpecificConfig(b []byte) (aacConfig, bool) {
	r := &aacBits{b: b}
	var c aacConfig
	c.objectType = aacObjectType(r)
	c.rate = aacRate(r)
	chanCfg := int(r.u(4))
	extRate := 0
	if c.objectType == 5 || c.objectType == 29 { // explicit hierarchical SBR / PS
		c.sbr = true
		c.ps = c.objectType == 29
		extRate = aacRate(r)
		c.objectType = aacObjectType(r)
		if c.objectType == 22 {
			r.u(4) // extensionChannelConfiguration
		}
	}
	if r.over {
		return c, false
	}
	c.channels = aacChannels[chanCfg]
	switch c.objectType {
	case 1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23: // GASpecificConfig (§4.4.1)
		r.u(1) // frameLengthFlag
		if r.u(1) == 1 {
			r.u(14) // coreCoderDelay
		}
		extFlag := r.u(1)
		if chanCfg == 0 {
			c.channels = aacPCEChannels(r)
		}
		if c.objectType == 6 || c.objectType == 20 {
			r.u(3) // layerNr
		}
		if extFlag == 1 {
			if c.objectType == 22 {
				r.u(16) // numOfSubFrame(5), layer_length(11)
			}
			if c.objectType == 17 || c.objectType == 19 || c.objectType == 20 || c.objectType == 23 {
				r.u(3) // resilience flags
			}
			r.u(1) // extensionFlag3
		}
		// Backward-compatible explicit SBR/PS signalling (§1.6.5.2):
		// syncExtensionType 0x2b7 after the core config.
		if !c.sbr && !r.over && r.left() >= 16 {
			if r.u(11) == 0x2b7 {
				if aacObjectType(r) == 5 && r.u(1) == 1 {
					c.sbr = true
					extRate = aacRate(r)
					if r.left() >= 12 && r.u(11) == 0x548 && r.u(1) == 1 {
						c.ps = true
					}
				}
			}
		}
	}
	if c.sbr && extRate > 0 {
		c.rate = extRate
	}
	if c.ps && c.channels == 1 {
		c.channels = 2
	}
	return c, c.rate > 0
}

// aacPCEChannels counts the channels a program_config_element declares
// (ISO/IEC 14496-3 Table 4.2). Each front/side/back element is a single
// channel element or a channel pair; LFE elements add one channel each.
func aacPCEChannels(r *aacBits) int {
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
