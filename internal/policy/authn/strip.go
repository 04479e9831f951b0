package authn

// Strip is what an auth policy removes of the credential it checked before
// the request goes on upstream.
type Strip struct {
	Header bool // the credential's header
	Query  bool // every occurrence of the credential's query parameter
}

// HeaderDefault is what a policy does with a credential read from a
// header when stripCredentials is not set: Express Gateway's behaviour
// for that policy.
type HeaderDefault bool

const (
	// ForwardHeader: jwt, basic-auth, key-auth and oauth2-introspect
	// forward the header upstream in Express Gateway (upstreams often
	// verify the token again, or read the user).
	ForwardHeader HeaderDefault = false
	// StripHeader: Express Gateway's oauth2 policy removes it.
	StripHeader HeaderDefault = true
)

// Stripping is the one rule of every auth policy's stripCredentials
// option. true removes the credential from the header and the query;
// false removes it from neither (Express Gateway's query behaviour). Unset,
// a credential in a header follows Express Gateway (header), and one in
// the query is removed: a deliberate difference, as URLs end up in access
// logs, upstream logs and Referer headers (RFC 6750 §5.3 advises against
// tokens in URLs for that reason).
func Stripping(stripCredentials *bool, header HeaderDefault) Strip {
	if stripCredentials != nil {
		return Strip{Header: *stripCredentials, Query: *stripCredentials}
	}
	return Strip{Header: bool(header), Query: true}
}
