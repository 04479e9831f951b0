package pipeline

// UpstreamHeaders is implemented by policies that set request headers for
// the upstream (the headers policy, the jwt policy's claimsToHeaders). The
// gateway strips every client-sent header that an upstream could read as
// one of these names, in any spelling (case, '_' or '.' for '-'), before
// any policy runs: nginx with underscores_in_headers, CGI, PHP, WSGI and
// Django map "X_User" and "X.User" to the same variable as "X-User"
// (CVE-2025-64484, CVE-2025-48865).
type UpstreamHeaders interface {
	UpstreamHeaders() []string
}
