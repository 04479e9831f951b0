package pipeline

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// recordStep is a policy that appends its name to the trace and continues.
func recordStep(name string, trace *[]string) Policy {
	return PolicyFunc(func(w http.ResponseWriter, r *http.Request, next Handler) error {
		*trace = append(*trace, name)
		return next.Handle(w, r)
	})
}

type condFunc func(*http.Request) bool

func (f condFunc) Match(r *http.Request) bool { return f(r) }

func TestChain(t *testing.T) {
	isPost := condFunc(func(r *http.Request) bool { return r.Method == http.MethodPost })
	tests := []struct {
		name   string
		method string
		steps  func(trace *[]string) []Step
		want   []string
		err    string
	}{
		{
			name:  "no steps runs last",
			steps: func(*[]string) []Step { return nil },
			want:  []string{"last"},
		},
		{
			name: "steps run in order, then last",
			steps: func(tr *[]string) []Step {
				return []Step{{Policy: "a", Action: recordStep("a", tr)}, {Policy: "b", Action: recordStep("b", tr)}, {Policy: "c", Action: recordStep("c", tr)}}
			},
			want: []string{"a", "b", "c", "last"},
		},
		{
			name:   "a step whose condition does not match is skipped",
			method: "GET",
			steps: func(tr *[]string) []Step {
				return []Step{
					{Policy: "a", Action: recordStep("a", tr)},
					{Policy: "post-only", Condition: isPost, Action: recordStep("post-only", tr)},
					{Policy: "c", Action: recordStep("c", tr)},
				}
			},
			want: []string{"a", "c", "last"},
		},
		{
			name:   "a step whose condition matches runs",
			method: "POST",
			steps: func(tr *[]string) []Step {
				return []Step{
					{Policy: "a", Action: recordStep("a", tr)},
					{Policy: "post-only", Condition: isPost, Action: recordStep("post-only", tr)},
				}
			},
			want: []string{"a", "post-only", "last"},
		},
		{
			name: "a skipped last step still reaches last",
			steps: func(tr *[]string) []Step {
				return []Step{{Policy: "never", Condition: condFunc(func(*http.Request) bool { return false }), Action: recordStep("never", tr)}}
			},
			want: []string{"last"},
		},
		{
			name: "a step that returns an error stops the chain",
			steps: func(tr *[]string) []Step {
				return []Step{
					{Policy: "a", Action: recordStep("a", tr)},
					{Policy: "auth", Action: PolicyFunc(func(http.ResponseWriter, *http.Request, Handler) error {
						*tr = append(*tr, "auth")
						return Reject(401, "unauthorized", "")
					})},
					{Policy: "c", Action: recordStep("c", tr)},
				}
			},
			want: []string{"a", "auth"},
			err:  "401 unauthorized",
		},
		{
			name: "a step that answers without calling next stops the chain",
			steps: func(tr *[]string) []Step {
				return []Step{
					{Policy: "terminate", Action: PolicyFunc(func(w http.ResponseWriter, _ *http.Request, _ Handler) error {
						*tr = append(*tr, "terminate")
						w.WriteHeader(204)
						return nil
					})},
					{Policy: "c", Action: recordStep("c", tr)},
				}
			},
			want: []string{"terminate"},
		},
		{
			name: "conditions see what earlier steps did",
			steps: func(tr *[]string) []Step {
				authed := condFunc(func(r *http.Request) bool { return StateOf(r).Identity != nil })
				return []Step{
					{Policy: "login", Action: PolicyFunc(func(w http.ResponseWriter, r *http.Request, next Handler) error {
						*tr = append(*tr, "login")
						StateOf(r).Identity = &Identity{ConsumerID: "c"}
						return next.Handle(w, r)
					})},
					{Policy: "authed", Condition: authed, Action: recordStep("authed", tr)},
				}
			},
			want: []string{"login", "authed", "last"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var trace []string
			last := HandlerFunc(func(http.ResponseWriter, *http.Request) error {
				trace = append(trace, "last")
				return nil
			})
			h := Chain(tt.steps(&trace), last)
			method := tt.method
			if method == "" {
				method = "GET"
			}
			r := WithState(httptest.NewRequest(method, "/", nil), &State{})
			err := h.Handle(httptest.NewRecorder(), r)
			if !reflect.DeepEqual(trace, tt.want) {
				t.Errorf("ran %v, want %v", trace, tt.want)
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tt.err != "" && (err == nil || err.Error() != tt.err):
				t.Errorf("error %v, want %s", err, tt.err)
			}
		})
	}
}

// Chain builds the links once; a chain is reused for every request.
func TestChainIsReusable(t *testing.T) {
	n := 0
	count := PolicyFunc(func(w http.ResponseWriter, r *http.Request, next Handler) error {
		n++
		return next.Handle(w, r)
	})
	h := Chain([]Step{{Action: count}, {Action: count}}, HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	for range 3 {
		if err := h.Handle(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)); err != nil {
			t.Fatal(err)
		}
	}
	if n != 6 {
		t.Errorf("steps ran %d times, want 6", n)
	}
}

func TestState(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	if st := StateOf(r); st == nil || st.RequestID != "" || st.Identity != nil {
		t.Errorf("StateOf a bare request = %+v, want an empty state", st)
	}
	// the empty state is fresh each time: writing to it does not leak
	StateOf(r).Record.Reason = "x"
	if StateOf(r).Record.Reason != "" {
		t.Error("the state of a bare request is shared")
	}
	st := &State{RequestID: "rid"}
	r2 := WithState(r, st)
	if StateOf(r2) != st {
		t.Error("WithState/StateOf do not round-trip")
	}
	if StateOf(r) == st {
		t.Error("WithState changed the original request")
	}
}

func TestAdapters(t *testing.T) {
	sentinel := errors.New("sentinel")
	var p Policy = PolicyFunc(func(http.ResponseWriter, *http.Request, Handler) error { return sentinel })
	if err := p.Handle(nil, nil, nil); err != sentinel {
		t.Errorf("PolicyFunc: %v", err)
	}
	var h Handler = HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		_, err := w.Write([]byte("ok"))
		return err
	})
	w := httptest.NewRecorder()
	if err := h.Handle(w, nil); err != nil || !strings.Contains(w.Body.String(), "ok") {
		t.Errorf("HandlerFunc: %v %q", err, w.Body)
	}
}
