package jwtauth

// UpstreamHeaders names the claimsToHeaders headers, so that the gateway
// strips a client's own copy of them in every spelling before any policy
// runs (pipeline.UpstreamHeaders).
func (p *policy) UpstreamHeaders() []string {
	out := make([]string, 0, len(p.headers))
	for _, h := range p.headers {
		out = append(out, h.header)
	}
	return out
}
