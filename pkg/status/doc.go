// Package status is prep's status intake: it receives the delivery-status
// webhooks of Meta's WhatsApp Cloud API, 360dialog and Infobip, verifies
// them, stores every event durably before answering, and answers the
// question a batch report needs — was each voice note delivered, read,
// played, or did it fail, and why.
//
// # The model
//
// One order of statuses for every provider:
//
//	accepted < sent < delivered < read < played
//
// plus failed. A message's outcome never moves down: a late or duplicated
// event does not undo a later one, read and played imply delivered, and a
// failed that comes with (or after) a delivered, read or played is kept as
// a note (multi-device), not as the outcome. Every event keeps its own time.
// Duplicates (same provider, message id, status and time) are ignored. A
// row sent as several parts (a long recording split into voice notes) is
// delivered only when every part is: see Combine.
//
// # Receiving
//
// Receiver is an http.Handler (one per provider, or one that routes):
//
//   - Meta: GET ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C
//     answers 200 with C when T matches, 403 otherwise; POST bodies must
//     carry X-Hub-Signature-256: sha256=HEX, the HMAC-SHA256 of the raw
//     body bytes with the app secret, checked on the bytes as received and
//     in constant time. (Meta, "Getting Started with Webhooks",
//     https://developers.facebook.com/docs/graph-api/webhooks/getting-started;
//     "Status messages webhook reference",
//     https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/reference/messages/status)
//   - 360dialog: the same envelope, forwarded without Meta's signature;
//     authenticated by the X-Prep-Webhook-Token header that prep registers
//     with POST /v1/configs/webhook (360dialog, "Receiving messages",
//     https://docs.360dialog.com/partner/messaging/receiving-messages-via-webhook).
//   - Infobip: delivery and seen reports, which are not signed, on a secret
//     path /webhooks/infobip/TOKEN (Infobip, "Send WhatsApp audio message"
//     and its delivery/seen report schemas,
//     https://www.infobip.com/docs/api/channels/whatsapp/whatsapp-outbound-messages/send-whatsapp-audio-message).
//
// A body is answered 200 only once its events are on disk (fsync'd). It is
// answered non-200 only when it is not authentic (401/403) or could not be
// stored (503), so the provider retries it. Authentic bodies that cannot be
// parsed, or that carry no statuses, are kept whole in the store for
// inspection and answered 200 — otherwise Meta retries them for 7 days.
//
// # Storing and querying
//
// Store is an append-only, fsync'd, group-committed log of JSON lines (one
// fsync covers every body that arrived meanwhile). Other processes read the
// same file with OpenReader (a last line without its newline is still being
// written and is read later). Both keep an Index: the merged state per
// message id (Message), per callback data (biz_opaque_callback_data for
// Meta and 360dialog, callbackData for Infobip), and Wait, which blocks
// until a set of messages reaches a status.
package status
