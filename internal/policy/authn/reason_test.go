package authn

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestDocsListEveryReason: docs/errors.md's auth-policy tables and the
// reason table say the same: every reason is documented with its status,
// and every code the tables list is a reason.
func TestDocsListEveryReason(t *testing.T) {
	b, err := os.ReadFile("../../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "### Auth policies")
	end := strings.Index(doc, "### Not gateway errors")
	if start < 0 || end < start {
		t.Fatal(`docs/errors.md has no "### Auth policies" section before "### Not gateway errors"`)
	}
	row := regexp.MustCompile(`^\| (\d{3}) \| ([^|]+) \|`)
	code := regexp.MustCompile("`([a-z0-9_]+)`")
	documented := map[Reason][]int{}
	for _, line := range strings.Split(doc[start:end], "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		status, _ := strconv.Atoi(m[1])
		for _, c := range code.FindAllStringSubmatch(m[2], -1) {
			documented[Reason(c[1])] = append(documented[Reason(c[1])], status)
		}
	}
	if len(documented) == 0 {
		t.Fatal("no reason codes found in the auth-policy tables")
	}
	for r, v := range verdicts {
		statuses, ok := documented[r]
		if !ok {
			t.Errorf("%s (%d) is not in docs/errors.md's auth-policy tables", r, v.Status)
			continue
		}
		for _, s := range statuses {
			if s != v.Status {
				t.Errorf("docs/errors.md lists %s as %d; the table says %d", r, s, v.Status)
			}
		}
	}
	for r := range documented {
		if _, ok := verdicts[r]; !ok {
			t.Errorf("docs/errors.md lists %s, which is no auth reason", r)
		}
	}
}

// TestVerdicts: what the table promises of every reason.
func TestVerdicts(t *testing.T) {
	for r, v := range verdicts {
		if v.Message == "" || strings.ContainsAny(v.Message, "\"\\") {
			t.Errorf("%s: message %q must be a sentence safe in a quoted-string", r, v.Message)
		}
		if (v.Status == http.StatusServiceUnavailable) != (v.RetryAfter != "") {
			t.Errorf("%s: a 503 says when to retry, nothing else does (Retry-After %q)", r, v.RetryAfter)
		}
		if v.Status == http.StatusUnauthorized && v.Error == "" && !slices.Contains([]Reason{ReasonMissing, ReasonMissingToken}, r) {
			t.Errorf("%s: a 401 on a presented credential needs an RFC 6750 error code", r)
		}
	}
}

func TestReject(t *testing.T) {
	for _, c := range []struct {
		name      string
		ch        Challenge
		f         Refusal
		status    int
		message   string
		challenge string
		retry     string
	}{
		{"missing token: no error attribute (RFC 6750 §3.1)", BearerScheme(""), Refusal{Reason: ReasonMissingToken},
			401, "a bearer token is required", `Bearer realm="gatehouse"`, ""},
		{"bearer: the message is the description", BearerScheme("Bearer"), Refusal{Reason: ReasonTokenExpired},
			401, "the token has expired", `Bearer realm="gatehouse", error="invalid_token", error_description="the token has expired"`, ""},
		{"another scheme, a description and an error of its own", BearerScheme("JWT"),
			Refusal{Reason: ReasonMalformedToken, Message: "not Bearer", Description: "malformed header", Error: "invalid_request"},
			401, "not Bearer", `JWT realm="gatehouse", error="invalid_request", error_description="malformed header"`, ""},
		{"a scheme challenge is sent whole", SchemeChallenge(`apiKey realm="gatehouse"`), Refusal{Reason: ReasonInvalid, Message: "the API key is not valid"},
			401, "the API key is not valid", `apiKey realm="gatehouse"`, ""},
		{"503: Retry-After, no challenge", BearerScheme("Bearer"), Refusal{Reason: ReasonJWKSUnavailable},
			503, "the signing keys are not available yet; try again shortly", "", "5"},
		{"store outage", Challenge{}, Refusal{Reason: ReasonStoreUnavailable},
			503, "the identity store is unavailable; try again shortly", "", "1"},
	} {
		rej := c.ch.Reject(c.f)
		if rej.Status != c.status || rej.Code != string(c.f.Reason) || rej.Message != c.message || rej.Challenge != c.challenge ||
			rej.Header.Get("Retry-After") != c.retry {
			t.Errorf("%s: %d %s %q challenge %q Retry-After %q; want %d %q %q %q", c.name, rej.Status, rej.Code, rej.Message,
				rej.Challenge, rej.Header.Get("Retry-After"), c.status, c.message, c.challenge, c.retry)
		}
	}
}
