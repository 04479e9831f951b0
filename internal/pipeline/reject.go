package pipeline

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// Rejection stops a pipeline with a status the client may see.
type Rejection struct {
	Status int
	// Code is a stable, machine-readable reason: not_found, bad_gateway,
	// token_expired, insufficient_scope...
	Code    string
	Message string
	// Challenge is a WWW-Authenticate value (RFC 9110 §11.6.1).
	Challenge string
	// Header holds extra response headers (Retry-After, Allow...).
	Header http.Header
	// Err is the internal cause: logged, never sent.
	Err error
}

func (r *Rejection) Error() string {
	s := strconv.Itoa(r.Status) + " " + r.Code
	if r.Message != "" {
		s += ": " + r.Message
	}
	if r.Err != nil {
		s += ": " + r.Err.Error()
	}
	return s
}

func (r *Rejection) Unwrap() error { return r.Err }

// Reject builds a Rejection.
func Reject(status int, code, message string) *Rejection {
	return &Rejection{Status: status, Code: code, Message: message}
}

// WriteError is the one place that turns a pipeline error into a response.
// A *Rejection is sent as it is; any other error is logged and becomes a 500
// whose body says nothing about the cause. Nothing is written when the
// response has already started (the error is still logged).
func WriteError(w http.ResponseWriter, r *http.Request, err error, log *slog.Logger) {
	st := StateOf(r)
	var rej *Rejection
	if !errors.As(err, &rej) {
		log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", st.RequestID), slog.String("error", err.Error()))
		rej = &Rejection{Status: http.StatusInternalServerError, Code: "internal_error", Message: "the gateway failed to handle the request"}
	} else if rej.Err != nil {
		log.LogAttrs(r.Context(), slog.LevelWarn, "request refused",
			slog.String("request_id", st.RequestID), slog.Int("status", rej.Status),
			slog.String("reason", rej.Code), slog.String("error", rej.Err.Error()))
	}
	st.Record.Reason = rej.Code // the last decision is the one the client saw
	if ws, ok := w.(interface{ Written() bool }); ok && ws.Written() {
		return
	}
	h := w.Header()
	for k, v := range rej.Header {
		h[k] = v
	}
	if rej.Challenge != "" {
		h.Set("WWW-Authenticate", rej.Challenge)
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(rej.Status)
	var b strings.Builder
	b.Grow(96)
	b.WriteString(`{"error":`)
	writeJSONString(&b, rej.Code)
	if rej.Message != "" {
		b.WriteString(`,"message":`)
		writeJSONString(&b, rej.Message)
	}
	if st.RequestID != "" {
		b.WriteString(`,"request_id":`)
		writeJSONString(&b, st.RequestID)
	}
	b.WriteString("}\n")
	_, _ = w.Write([]byte(b.String()))
}

// writeJSONString writes s as a JSON string; it is small enough to keep the
// error path free of encoding/json's reflection.
func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
