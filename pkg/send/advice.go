package send

// Advise is prep's kind and advice for a provider's error code when it
// comes without an HTTP answer — in a failed status webhook (Meta and
// 360dialog's errors[].code). It reads the same table refusals are
// classified by; codes it does not know are KindUnknown.
func Advise(p Provider, code int) (ErrorKind, string) {
	e := &APIError{Provider: p, Code: code}
	classify(e)
	return e.Kind, e.Advice
}
