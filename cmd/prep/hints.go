package main

import (
	"errors"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/upload"
)

// The library's errors name what is wrong ("credentials", "bucket", an
// auth refusal); the CLI adds where it is set: the environment variable or
// flag (issue 10: no CLI names in library errors, as gh and restic do).

// hinted is an error with the CLI's hint added to its message; errors.As
// still finds the library's typed error.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return withHintText(h.err.Error(), h.hint) }
func (h *hinted) Unwrap() error { return h.err }

// withHintText is prep's one format for a message with the CLI's hint:
// "msg (hint)"; msg alone when there is no hint.
func withHintText(msg, hint string) string {
	if hint == "" {
		return msg
	}
	return msg + " (" + hint + ")"
}

// withHint adds the hint for err, if there is one.
func withHint(err error) error {
	if h := hint(err); h != "" {
		return &hinted{err: err, hint: h}
	}
	return err
}

// settingHint is where the CLI takes provider p's setting field from (the
// library's field name: "credentials", "base URL", …); "" if nowhere.
func settingHint(p send.Provider, field string) string {
	return map[send.Provider]map[string]string{
		send.Meta: {
			"credentials":     "set " + send.EnvMetaToken,
			"phone number id": "set " + send.EnvMetaPhoneID + " or --phone-number-id",
			"API version":     "set " + send.EnvMetaVersion + " or --api-version",
			"base URL":        "set " + send.EnvMetaURL + " or --api-url",
		},
		send.D360: {
			"credentials": "set " + send.EnvD360Key,
			"base URL":    "set " + send.EnvD360URL + " or --api-url",
		},
		send.Infobip: {
			"credentials": "set " + send.EnvInfobipKey,
			"base URL":    "set " + send.EnvInfobipBaseURL + " or --api-url",
			"sender":      "set " + send.EnvInfobipSender + " or --from",
			"from":        "set " + send.EnvInfobipSender + " or --from",
		},
	}[p][field]
}

// hint is where to fix what err reports, in the CLI's terms ("" if none).
func hint(err error) string {
	var (
		ve *send.ValidationError
		ae *send.APIError
		ce *upload.ConfigError
		se *upload.S3Error
		re *upload.RefusedError
	)
	switch {
	case errors.As(err, &ve):
		return settingHint(ve.Provider, ve.Field)
	case errors.As(err, &ae) && ae.Kind == send.KindAuth:
		switch ae.Provider {
		case send.Meta:
			return "check " + send.EnvMetaToken + " and " + send.EnvMetaPhoneID
		case send.D360:
			return "check " + send.EnvD360Key
		case send.Infobip:
			return "check " + send.EnvInfobipKey + " and " + send.EnvInfobipSender
		}
	case errors.As(err, &ae) && ae.Provider == send.Meta && ae.HTTPStatus == 404:
		return "check " + send.EnvMetaPhoneID + " and " + send.EnvMetaVersion
	case errors.As(err, &ce):
		return map[string]string{
			"bucket":     "set S3_BUCKET or --bucket",
			"endpoint":   "set S3_ENDPOINT or --endpoint",
			"public URL": "set S3_PUBLIC_URL or --public-url",
		}[ce.Setting]
	case errors.As(err, &se):
		return map[upload.ErrorKind]string{
			upload.S3Auth:     "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS profile",
			upload.S3NoBucket: "check S3_BUCKET, S3_ENDPOINT and S3_REGION",
			upload.S3Network:  "check S3_ENDPOINT",
			upload.S3Redirect: "check S3_ENDPOINT and S3_REGION",
		}[se.Kind]
	case errors.As(err, &re) && re.Name != "":
		switch re.Kind {
		case inspect.CodeNotAudio, inspect.CodeEmpty, inspect.CodeUnreadable:
			return ""
		}
		return "prep transcode " + re.Name
	}
	return ""
}
