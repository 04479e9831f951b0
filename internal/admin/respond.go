package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Error is an Admin API error response:
// {"error": code, "message": text, "field": name}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func badRequest(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_request", Field: field, Message: fmt.Sprintf(format, args...)}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// fail turns a handler's error into the response. Store errors map by
// kind; a backend that cannot be reached is 503 with Retry-After; anything
// else is a 500 whose cause is logged, never sent.
func (a *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	var se *store.Error
	switch {
	case errors.As(err, &e):
	case errors.As(err, &se):
		e = storeError(se)
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		a.log.LogAttrs(r.Context(), slog.LevelError, "admin request failed: store unavailable",
			slog.String("method", r.Method), slog.String("error", err.Error()))
		if a.metrics != nil {
			a.metrics.StoreErrors.Inc()
		}
		w.Header().Set("Retry-After", "1")
		e = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the identity store is unavailable, try again"}
	case errors.Is(err, store.ErrConflict):
		w.Header().Set("Retry-After", "1")
		e = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "too many concurrent changes of the same records, try again"}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away: nobody reads the answer.
		a.log.LogAttrs(r.Context(), slog.LevelDebug, "admin request canceled by the client", slog.String("method", r.Method))
		return
	default:
		a.log.LogAttrs(r.Context(), slog.LevelError, "admin request failed",
			slog.String("method", r.Method), slog.String("error", err.Error()))
		e = &Error{Status: http.StatusInternalServerError, Code: "internal_error", Message: "the Admin API failed to handle the request"}
	}
	writeError(w, e)
}

func storeError(se *store.Error) *Error {
	switch {
	case errors.Is(se, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: se.Msg, Field: se.Field}
	case errors.Is(se, store.ErrExists):
		return &Error{Status: http.StatusConflict, Code: "already_exists", Message: se.Msg, Field: se.Field}
	default:
		return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: se.Msg, Field: se.Field}
	}
}

func writeError(w http.ResponseWriter, e *Error) { writeJSON(w, e.Status, e) }

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

func noContent(w http.ResponseWriter, status int) error {
	w.WriteHeader(status)
	return nil
}

// readBody reads the request body within the listener's limit: 413 with
// the limit past it, 400 when it cannot be read. A nil body reads as empty.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
				Message: fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit)}
		}
		return nil, badRequest("", "could not read the request body")
	}
	return b, nil
}

// decode reads a JSON object body. With required false an empty body is a
// nil map. The body must be application/json (or +json), one JSON object,
// nothing after it, within the size limit.
func decode(r *http.Request, required bool) (map[string]any, error) {
	b, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if required {
			return nil, badRequest("", "a JSON object body is required (Content-Type: application/json)")
		}
		return nil, nil
	}
	// ServeHTTP has refused other types with 415 (browser.go); this stays
	// for a handler reached another way.
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if !jsonType(mt) {
		return nil, badRequest("", "the body must be JSON sent with Content-Type: application/json (got %q)", r.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest("", "malformed JSON body: %s", jsonProblem(b, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("", "malformed JSON body: unexpected data after the JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("", "the body must be a JSON object")
	}
	return obj, nil
}

func jsonProblem(b []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off := min(int(se.Offset), len(b))
		line := 1 + bytes.Count(b[:off], []byte("\n"))
		col := max(1, off-1-bytes.LastIndexByte(b[:off], '\n'))
		return fmt.Sprintf("%s (line %d, column %d)", se.Error(), line, col)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of the body"
	}
	return err.Error()
}

// only refuses body fields other than the given ones.
func only(body map[string]any, allowed ...string) error {
	for _, k := range sortedKeys(body) {
		if !slices.Contains(allowed, k) {
			return badRequest(k, "unknown property %q (expected: %s)", k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// statusBody reads {"status": true|false}.
func statusBody(body map[string]any) (bool, error) {
	if err := only(body, "status"); err != nil {
		return false, err
	}
	v, ok := body["status"]
	if !ok {
		return false, badRequest("status", "status is required: true to activate, false to deactivate")
	}
	b, ok := v.(bool)
	if !ok {
		return false, badRequest("status", "status must be true or false (a JSON boolean)")
	}
	return b, nil
}

// statusText is Express Gateway's status answer.
func statusText(active, changed bool) map[string]string {
	switch {
	case changed && active:
		return map[string]string{"status": "Activated"}
	case changed:
		return map[string]string{"status": "Deactivated"}
	case active:
		return map[string]string{"status": "Active"}
	default:
		return map[string]string{"status": "Inactive"}
	}
}

// stringArray reads a JSON array of strings.
func stringArray(body map[string]any, field string) ([]string, error) {
	v, ok := body[field]
	if !ok || v == nil {
		return nil, badRequest(field, "%s is required: an array of strings", field)
	}
	list, ok := v.([]any)
	if !ok {
		return nil, badRequest(field, "%s must be an array of strings", field)
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, badRequest(field, "%s must be an array of strings", field)
		}
		out = append(out, s)
	}
	return out, nil
}

// paging reads ?start=&count= (Express Gateway's cursor and page size).
func paging(r *http.Request) (uint64, int, error) {
	q := r.URL.Query()
	var start uint64
	if s := q.Get("start"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, badRequest("start", "start must be a cursor: a non-negative integer (the nextKey of the previous page)")
		}
		start = n
	}
	count := 100
	if s := q.Get("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, 0, badRequest("count", "count must be a positive integer")
		}
		count = min(n, maxCount)
	}
	return start, count, nil
}

const maxCount = 1000

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
