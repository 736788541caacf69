package send_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/send"
)

func ExampleNormalizePhone() {
	for _, s := range []string{"+1 (650) 555-1234", "441134960001", "0044 113 496 0001"} {
		d, err := send.NormalizePhone(s)
		fmt.Printf("%q → %q %v\n", s, d, err != nil)
	}
	// Output:
	// "+1 (650) 555-1234" → "16505551234" false
	// "441134960001" → "441134960001" false
	// "0044 113 496 0001" → "" true
}

func ExampleFromEnv() {
	env := map[string]string{
		"WHATSAPP_ACCESS_TOKEN":    "EAAJB...",
		"WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
	}
	c, err := send.FromEnv("meta", func(k string) string { return env[k] })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Provider(), c.Endpoint())

	_, err = send.FromEnv("infobip", func(k string) string { return env[k] })
	var ve *send.ValidationError
	fmt.Println(errors.As(err, &ve), ve.Provider, ve.Field)
	// Output:
	// meta https://graph.facebook.com/v23.0/106540352242922/messages
	// true infobip credentials
}

// A voice note by link through Meta's Cloud API, here the local sandbox.
func ExampleNewMeta() {
	s, _ := sandbox.Start(sandbox.Config{MetaToken: "token"})
	defer s.Close()
	ogg, _ := os.ReadFile("../../testdata/ogg-opus-mono-48k-2s.ogg")
	link := s.HostFile("hello.ogg", "audio/ogg", ogg)

	c, err := send.NewMeta(send.WithBaseURL(s.MetaURL()), send.WithToken("token"), send.WithPhoneNumberID("106540352242922"))
	if err != nil {
		fmt.Println(err)
		return
	}
	rc, err := c.Send(context.Background(), send.Message{To: "+1 650 555 1234", Link: link, Voice: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.HasPrefix(rc.MessageID, "wamid."), rc.To, rc.Status, rc.Attempts)
	// Output: true 16505551234 accepted 1
}

// Infobip keeps one messageId across retries; a 429 is waited out.
func ExampleNewInfobip() {
	s, _ := sandbox.Start(sandbox.Config{InfobipKey: "key"})
	defer s.Close()
	ogg, _ := os.ReadFile("../../testdata/ogg-opus-mono-48k-2s.ogg")
	link := s.HostFile("hello.ogg", "audio/ogg", ogg)
	s.Inject(sandbox.Infobip, sandbox.Fault{Status: 429})

	c, _ := send.NewInfobip(send.WithBaseURL(s.InfobipURL()), send.WithAPIKey("key"), send.WithSender("441134960000"),
		send.WithRetry(send.RetryPolicy{BaseDelay: 10 * time.Millisecond}),
		send.WithRetryHook(func(ev send.RetryEvent) { fmt.Println("retry:", ev.Retry, ev.Reason) }))
	rc, err := c.Send(context.Background(), send.Message{To: "+44 113 496 0001", Link: link, Voice: true,
		Extras: send.Extras{MessageID: "order-42-voice", CallbackData: "order-42"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rc.MessageID, rc.Status, rc.Attempts)
	// Output:
	// retry: true rate_limit (HTTP 429); the whole account waits
	// order-42-voice PENDING_ENROUTE 2
}

// Provider refusals are *send.APIError, classified with advice.
func ExampleAPIError() {
	s, _ := sandbox.Start(sandbox.Config{D360Key: "key"})
	defer s.Close()
	s.Inject(sandbox.D360, sandbox.Fault{Status: 400, Code: 131047})

	c, _ := send.NewD360(send.WithBaseURL(s.D360URL()), send.WithAPIKey("key"))
	_, err := c.Send(context.Background(), send.Message{To: "+16505551234", MediaID: "1013859600285441"})
	var ae *send.APIError
	if errors.As(err, &ae) {
		fmt.Println(ae.HTTPStatus, ae.Code, ae.Kind, ae.Retryable)
		fmt.Println(ae.Advice)
	}
	// Output:
	// 400 131047 window false
	// the recipient has not written in the last 24 hours: send an approved template message first
}

// Client.Do is the account's transport for a request the services do not
// make: the credential, the retry policy (here a 503 is retried), the
// pauses and the scrubbing come with it. The body is rebuilt per attempt.
func ExampleClient_Do() {
	s, _ := sandbox.Start(sandbox.Config{MetaToken: "token"})
	defer s.Close()
	ogg, _ := os.ReadFile("../../testdata/ogg-opus-mono-48k-2s.ogg")
	link := s.HostFile("hello.ogg", "audio/ogg", ogg)
	c, _ := send.NewMeta(send.WithBaseURL(s.MetaURL()), send.WithToken("token"), send.WithPhoneNumberID("106540352242922"),
		send.WithRetry(send.RetryPolicy{BaseDelay: time.Millisecond}),
		send.WithRetryHook(func(ev send.RetryEvent) { fmt.Println("retry:", ev.Retry, ev.Reason) }))
	s.Inject(sandbox.Meta, sandbox.Fault{Status: 503})

	body := `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"audio","audio":{"link":"` + link + `"}}`
	resp, err := c.Do(context.Background(), &send.Request{Path: "messages", ContentType: "application/json",
		Body: func() (io.Reader, error) { return strings.NewReader(body), nil }})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Status, resp.Attempts, strings.Contains(string(resp.Body), "wamid."))
	// Output:
	// retry: true transient (HTTP 503, code 131016)
	// 200 2 true
}
