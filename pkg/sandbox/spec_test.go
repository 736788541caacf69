package sandbox

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/prep-audio/prep/internal/testdeps"
)

// The providers' contracts live next to the repository, in
// ../shared/specs (override with PREP_SPECS_DIR). The behaviour tests run
// without them: their contract checks (conform) are then skipped, and
// only the tests that exist to check a contract skip. Under CI a missing
// spec fails every test that would have read it.
func specsDir() string {
	if d := os.Getenv("PREP_SPECS_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "specs")
}

// metaSpec loads Meta's OpenAPI v23.0 document once per test binary (it is
// 1 MB; loading takes ~0.2 s).
var metaSpec = sync.OnceValues(func() (*openapi3.T, error) {
	return openapi3.NewLoader().LoadFromFile(filepath.Join(specsDir(), "meta-business-messaging-api_v23.0.yaml"))
})

// infobipSpec loads Infobip's excerpt once. The excerpt is incomplete: its
// operation refers to #/components/responses/ApiException401, 403, 429
// and 500, which it does not define; they are added here as Infobip's
// ApiException schema (the shape of its 400 answer) before loading.
var infobipSpec = sync.OnceValues(func() (*openapi3.T, error) {
	raw, err := os.ReadFile(filepath.Join(specsDir(), "infobip-whatsapp-audio-openapi.json"))
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	comps, _ := doc["components"].(map[string]any)
	if comps == nil {
		return nil, errors.New("infobip spec has no components")
	}
	resps, _ := comps["responses"].(map[string]any)
	if resps == nil {
		resps = map[string]any{}
		comps["responses"] = resps
	}
	for _, name := range []string{"ApiException401", "ApiException403", "ApiException429", "ApiException500"} {
		if _, ok := resps[name]; !ok {
			resps[name] = map[string]any{
				"description": name,
				"content": map[string]any{"application/json": map[string]any{
					"schema": map[string]any{"$ref": "#/components/schemas/" + infobipAPIException},
				}},
			}
		}
	}
	fixed, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return openapi3.NewLoader().LoadFromData(fixed)
})

// Schema names in Infobip's excerpt.
const (
	infobipAPIException   = "a0adf300db6deef82e7c0136cd925a42b10c902181badc6843c98dba155015cc.ApiException"
	infobipAudioMessage   = "f30d78c250ad1209aef755ddde02bb131e1749b705985f0e9f1b007c900b98e2.AudioMessage"
	infobipDeliveryResult = "0b5f1ca361e90fa0a3f8b907dc53fa34f06ccd85fde4d07f80394e60f5f23c99.DeliveryResult"
	infobipSeenResult     = "0b5f1ca361e90fa0a3f8b907dc53fa34f06ccd85fde4d07f80394e60f5f23c99.SeenResult"
)

// specMissing handles a spec that is not there: under CI the test fails;
// otherwise the contract checks of this test are skipped (nil document).
func specMissing(t *testing.T, what string) {
	t.Helper()
	if testdeps.CI() {
		t.Fatalf("%s spec not found in %s (CI is set: the provider contracts must be checked)", what, specsDir())
	}
	t.Logf("%s spec not found in %s: contract checks skipped", what, specsDir())
}

// loadMeta returns Meta's spec, or nil (outside CI) when it is absent.
func loadMeta(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := metaSpec()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			specMissing(t, "Meta")
			return nil
		}
		t.Fatalf("loading Meta spec: %v", err)
	}
	return doc
}

func loadInfobip(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := infobipSpec()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			specMissing(t, "Infobip")
			return nil
		}
		t.Fatalf("loading Infobip spec: %v", err)
	}
	return doc
}

// responseSchema is the JSON schema of an operation's answer.
func responseSchema(t *testing.T, doc *openapi3.T, path, method string, status int) *openapi3.Schema {
	t.Helper()
	if doc == nil {
		return nil
	}
	item := doc.Paths.Value(path)
	if item == nil {
		t.Fatalf("spec has no path %s", path)
	}
	op := item.GetOperation(method)
	if op == nil {
		t.Fatalf("spec has no %s %s", method, path)
	}
	r := op.Responses.Status(status)
	if r == nil || r.Value == nil {
		t.Fatalf("spec has no %d answer for %s %s", status, method, path)
	}
	mt := r.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		t.Fatalf("spec has no JSON schema for %d of %s %s", status, method, path)
	}
	return mt.Schema.Value
}

func componentSchema(t *testing.T, doc *openapi3.T, name string) *openapi3.Schema {
	t.Helper()
	if doc == nil {
		return nil
	}
	ref := doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		t.Fatalf("spec has no schema %s", name)
	}
	return ref.Value
}

// conform checks a JSON body against a schema (as a response unless
// asRequest: Infobip's report schemas mark their fields writeOnly). A nil
// schema (the spec is absent) checks only that the body is JSON.
func conform(t *testing.T, schema *openapi3.Schema, body []byte, asRequest bool, what string, extra ...openapi3.SchemaValidationOption) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, body)
	}
	if schema == nil {
		return
	}
	opts := append([]openapi3.SchemaValidationOption{openapi3.MultiErrors()}, extra...)
	if asRequest {
		opts = append(opts, openapi3.VisitAsRequest())
	} else {
		opts = append(opts, openapi3.VisitAsResponse())
	}
	if err := schema.VisitJSON(v, opts...); err != nil {
		t.Errorf("%s does not conform to the spec: %v\nbody: %s", what, err, body)
	}
}

// specAccepts reports whether the schema accepts a JSON body (used to let
// the spec, not the sandbox, say which requests are valid).
func specAccepts(schema *openapi3.Schema, body []byte) bool {
	if schema == nil {
		return true // no spec: nothing to hold the sandbox to
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return false
	}
	return schema.VisitJSON(v, openapi3.VisitAsRequest()) == nil
}

// requireSpecs is for the tests that exist to check a contract: they
// skip without the specs (and fail under CI).
func requireSpecs(t *testing.T) {
	t.Helper()
	for _, f := range []string{"meta-business-messaging-api_v23.0.yaml", "infobip-whatsapp-audio-openapi.json"} {
		if _, err := os.Stat(filepath.Join(specsDir(), f)); err != nil {
			testdeps.Missing(t, "%s not found in %s (the provider contracts; PREP_SPECS_DIR names another directory)", f, specsDir())
		}
	}
}

func TestSpecsLoad(t *testing.T) {
	requireSpecs(t)
	m := loadMeta(t)
	for _, name := range []string{"GraphAPIError", "MessageResponsePayload", "WebhookPayload", "Statuses"} {
		componentSchema(t, m, name)
	}
	i := loadInfobip(t)
	for _, name := range []string{infobipAPIException, infobipAudioMessage, infobipDeliveryResult, infobipSeenResult} {
		componentSchema(t, i, name)
	}
}

// infobipDateTime accepts the times of Infobip's reports. The excerpt
// declares doneAt, sentAt and seenAt as format date-time (RFC 3339, which
// wants "+00:00"), yet its own examples — and Infobip's real reports — use
// yyyy-MM-dd'T'HH:mm:ss.SSSZ ("2019-04-09T16:01:56.494-0300"). The sandbox
// sends the real form; this validator accepts either, and nothing else.
func infobipDateTime() openapi3.SchemaValidationOption {
	return openapi3.WithStringFormatValidator("date-time", openapi3.NewCallbackValidator(func(v string) error {
		if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return nil
		}
		_, err := time.Parse(infobipTime, v)
		return err
	}))
}

// Meta's v23.0 request schema for messages cannot be used to check
// requests: AudioMessage is allOf(BaseMessageProperties, {type, audio} with
// additionalProperties: false), so it rejects the documented request of
// Meta's "Audio messages"
// (https://developers.facebook.com/docs/whatsapp/cloud-api/messages/audio-messages:
// messaging_product, recipient_type and to are "additional" to
// the second part). The sandbox therefore validates sends by hand
// (parseGraphSend) and uses the spec for answers only. If a later spec
// fixes this, this test fails as a reminder to validate requests too.
func TestMetaSpecRejectsItsOwnAudioRequest(t *testing.T) {
	requireSpecs(t)
	doc := loadMeta(t)
	seed := []byte(`{"messaging_product":"whatsapp","recipient_type":"individual","to":"+16505551234","type":"audio","audio":{"id":"1013859600285441"}}`)
	if specAccepts(componentSchema(t, doc, "AudioMessage"), seed) {
		t.Fatal("the spec now accepts the documented audio request: validate sends against it")
	}
}
