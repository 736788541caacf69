package send

import "strings"

// Environment variables read by FromEnv (and `prep send`).
const (
	EnvMetaToken      = "WHATSAPP_ACCESS_TOKEN"
	EnvMetaPhoneID    = "WHATSAPP_PHONE_NUMBER_ID"
	EnvMetaURL        = "WHATSAPP_API_URL"
	EnvMetaVersion    = "WHATSAPP_API_VERSION"
	EnvD360Key        = "D360_API_KEY"
	EnvD360URL        = "D360_API_URL"
	EnvInfobipKey     = "INFOBIP_API_KEY"
	EnvInfobipBaseURL = "INFOBIP_BASE_URL"
	EnvInfobipSender  = "INFOBIP_SENDER"
)

// FromEnv builds the client for a provider name ("meta", "360dialog",
// "infobip") from environment-like variables, then applies opts, which
// override them (the CLI turns its flags into options). getenv is usually
// os.Getenv; nil reads nothing. Missing credentials or an unknown provider
// are a *ValidationError, before any request.
//
//	meta:      WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_API_URL, WHATSAPP_API_VERSION
//	360dialog: D360_API_KEY, D360_API_URL
//	infobip:   INFOBIP_API_KEY, INFOBIP_BASE_URL, INFOBIP_SENDER
func FromEnv(provider string, getenv func(string) string, opts ...Option) (*Client, error) {
	p, err := ParseProvider(provider)
	if err != nil {
		return nil, err
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	var base []Option
	add := func(k string, f func(string) Option) {
		if v := get(k); v != "" {
			base = append(base, f(v))
		}
	}
	switch p {
	case Meta:
		add(EnvMetaToken, WithToken)
		add(EnvMetaPhoneID, WithPhoneNumberID)
		add(EnvMetaURL, WithBaseURL)
		add(EnvMetaVersion, WithAPIVersion)
		return NewMeta(append(base, opts...)...)
	case D360:
		add(EnvD360Key, WithAPIKey)
		add(EnvD360URL, WithBaseURL)
		return NewD360(append(base, opts...)...)
	default:
		add(EnvInfobipKey, WithAPIKey)
		add(EnvInfobipBaseURL, WithBaseURL)
		add(EnvInfobipSender, WithSender)
		return NewInfobip(append(base, opts...)...)
	}
}
