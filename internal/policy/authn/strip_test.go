package authn

import "testing"

// TestStripping is the one rule of stripCredentials for every auth policy:
// set, it decides header and query alike; unset, the header follows
// Express Gateway's policy and the query is always stripped.
func TestStripping(t *testing.T) {
	yes, no := true, false
	for _, c := range []struct {
		name   string
		opt    *bool
		header HeaderDefault
		want   Strip
	}{
		{"unset, EG forwards the header", nil, ForwardHeader, Strip{Header: false, Query: true}},
		{"unset, EG strips the header (oauth2)", nil, StripHeader, Strip{Header: true, Query: true}},
		{"true", &yes, ForwardHeader, Strip{Header: true, Query: true}},
		{"true, oauth2", &yes, StripHeader, Strip{Header: true, Query: true}},
		{"false", &no, ForwardHeader, Strip{}},
		{"false, oauth2", &no, StripHeader, Strip{}},
	} {
		if got := Stripping(c.opt, c.header); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
