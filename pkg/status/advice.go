package status

import (
	"strings"

	"github.com/prep-audio/prep/pkg/send"
)

// FailureKind classifies a Failure: pkg/send's classes for the codes a
// send can also be refused with, and the kinds only a status carries.
type FailureKind string

// The kinds of failure.
const (
	KindMedia                        = FailureKind(send.KindMedia)            // 131052, 131053
	KindWindow                       = FailureKind(send.KindWindow)           // 131047
	KindAuth                         = FailureKind(send.KindAuth)             // account or permission problems
	KindInvalidParameter             = FailureKind(send.KindInvalidParameter) // the request was wrong
	KindRateLimit                    = FailureKind(send.KindRateLimit)        // too many messages
	KindTransient                    = FailureKind(send.KindTransient)        // a temporary failure at the provider
	KindUndeliverable    FailureKind = "undeliverable"                        // 131026, Infobip UNDELIVERABLE
	KindRecipient        FailureKind = "recipient"                            // the recipient's choice or number
	KindExpired          FailureKind = "expired"                              // Infobip EXPIRED
	KindRejected         FailureKind = "rejected"                             // Infobip REJECTED
	KindUnknown          FailureKind = "unknown"
)

// advise fills f.Kind and f.Advice for provider p's error code. Meta and
// 360dialog codes are looked up in pkg/send's table first (the one table
// refusals are classified by), then in the codes only a status webhook
// carries. Sources: Meta, "Error codes",
// https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/.
func advise(p Provider, f *Failure) {
	if f == nil {
		return
	}
	class, advice := send.Advise(p, f.Code)
	switch class {
	case send.KindUnknown:
		f.Kind, f.Advice = webhookAdvice(f.Code)
	case send.KindTransient, send.KindRateLimit:
		// In a webhook nothing retries it any more: the message failed.
		f.Kind, f.Advice = FailureKind(class), "a temporary failure at the provider: the message was not delivered; send it again later if it is still wanted (prep never resends on its own)"
	default:
		f.Kind, f.Advice = FailureKind(class), advice
	}
}

// webhookAdvice covers the codes Meta reports only in failed statuses.
func webhookAdvice(code int) (FailureKind, string) {
	switch code {
	case 131026:
		return KindUndeliverable, "the message could not be delivered: the number may not be on WhatsApp, may use an old WhatsApp version, or has not accepted Meta's terms; confirm the number with the recipient"
	case 131049:
		return KindUndeliverable, "Meta chose not to deliver this message (to keep the recipient's engagement healthy); wait before sending them another"
	case 131050:
		return KindRecipient, "the recipient stopped marketing messages from this business"
	case 131021:
		return KindRecipient, "the recipient is the business's own number"
	case 131042:
		return KindAuth, "a payment or eligibility problem with the WhatsApp Business Account: check its payment method in Business Manager"
	case 131031:
		return KindAuth, "the business account is locked: see the account's status in WhatsApp Manager"
	case 131048:
		return KindRateLimit, "too many messages were reported as spam: sending is limited; lower the rate and review the content"
	case 130472:
		return KindUndeliverable, "the recipient's number is part of a Meta experiment and did not get the message"
	}
	return KindUnknown, "see the provider's message"
}

// adviseInfobip fills f.Kind and f.Advice for an Infobip delivery report's
// status group (UNDELIVERABLE, EXPIRED, REJECTED). Source: Infobip,
// "Response status and error codes",
// https://www.infobip.com/docs/essentials/response-status-and-error-codes.
// Whether Meta's codes appear in Infobip's error.id is not documented: a
// code in Meta's range (13xxxx) is looked up as Meta's.
func adviseInfobip(group string, f *Failure) {
	if f.Code >= 130000 && f.Code < 140000 {
		advise(Meta, f)
		if f.Kind != KindUnknown {
			return
		}
	}
	switch strings.ToUpper(group) {
	case "UNDELIVERABLE":
		f.Kind, f.Advice = KindUndeliverable, "the recipient could not be reached (not on WhatsApp, a wrong number, or outside the 24-hour window): see the description"
	case "EXPIRED":
		f.Kind, f.Advice = KindExpired, "no delivery came before the message expired (the phone may be off or offline): send it again later if it is still wanted"
	case "REJECTED":
		f.Kind, f.Advice = KindRejected, "Infobip rejected the message (sender, destination or account settings): see the description"
	default:
		f.Kind, f.Advice = KindUnknown, "see the provider's message"
	}
}
