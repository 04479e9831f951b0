// Package clientaddr finds the address of the client a request comes from:
// the TCP peer, or, when the peer is a trusted proxy, the first address
// that no trusted proxy vouches for in X-Forwarded-For or Forwarded
// (RFC 7239), read right to left. Everything the client address decides
// (failure limits, rate limits, req.ip, the access log, X-Forwarded-For
// upstream) reads the one address the gateway computes per request.
//
// A header is believed only as far as trusted hops wrote it: each trusted
// proxy appends the address it received the request from, so the entries
// to the right of the first untrusted one were written by trusted proxies
// and the ones to its left by whoever the client was, who may write
// anything.
package clientaddr

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// The headers a Resolver may read.
const (
	XForwardedFor = "X-Forwarded-For"
	Forwarded     = "Forwarded"
)

// maxHops bounds the Forwarded entries kept while parsing (the rightmost
// ones); a chain of more trusted proxies than this is not a real network.
const maxHops = 32

// Resolver computes client addresses. The nil *Resolver trusts no proxy:
// the client is the TCP peer.
type Resolver struct {
	trusted   []netip.Prefix
	forwarded bool // read Forwarded instead of X-Forwarded-For
}

// New returns a Resolver that trusts the proxies in trusted and reads
// header (XForwardedFor, the default when empty, or Forwarded). It
// returns nil, which trusts no proxy, when trusted is empty.
func New(trusted []netip.Prefix, header string) (*Resolver, error) {
	r := &Resolver{}
	switch {
	case header == "" || strings.EqualFold(header, XForwardedFor):
	case strings.EqualFold(header, Forwarded):
		r.forwarded = true
	default:
		return nil, fmt.Errorf("clientaddr: header must be %s or %s, got %q", XForwardedFor, Forwarded, header)
	}
	if len(trusted) == 0 {
		return nil, nil
	}
	for _, p := range trusted {
		if !p.IsValid() {
			return nil, fmt.Errorf("clientaddr: invalid prefix %v", p)
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

// Header is the header r reads, "" for the nil Resolver.
func (r *Resolver) Header() string {
	switch {
	case r == nil:
		return ""
	case r.forwarded:
		return Forwarded
	}
	return XForwardedFor
}

// Trusted reports whether a is one of the trusted proxies.
func (r *Resolver) Trusted(a netip.Addr) bool {
	if r == nil || !a.IsValid() {
		return false
	}
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Peer parses a net/http RemoteAddr ("host:port"); IPv4-mapped IPv6
// addresses are unmapped and zones dropped, so that one client has one
// spelling. It returns the zero Addr when remoteAddr holds no address.
func Peer(remoteAddr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return canonical(ap.Addr())
	}
	if a, err := netip.ParseAddr(remoteAddr); err == nil {
		return canonical(a)
	}
	return netip.Addr{}
}

func canonical(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// Client returns the client's address for a request received from peer
// with headers h. It does not allocate.
func (r *Resolver) Client(peer netip.Addr, h http.Header) netip.Addr {
	if !r.Trusted(peer) {
		return peer
	}
	var it hopIter
	r.hops(&it, h)
	client := peer
	for {
		a, ok, more := it.next()
		if !more {
			return client // every hop is trusted: the leftmost is the client
		}
		if !ok {
			// An entry that is not an address ("unknown", an obfuscated
			// node, garbage): nothing to its left can be believed, and
			// the last trusted hop is the best-known client.
			return client
		}
		client = a
		if !r.Trusted(a) {
			return a
		}
	}
}

// Chain returns the X-Forwarded-For entries the trusted proxies vouched
// for, client first, without peer itself: what the gateway passes on
// upstream before appending peer. It is empty when peer is not trusted,
// so a client's own X-Forwarded-For never reaches the upstream.
func (r *Resolver) Chain(peer netip.Addr, h http.Header) []netip.Addr {
	if !r.Trusted(peer) {
		return nil
	}
	var out []netip.Addr
	var it hopIter
	r.hops(&it, h)
	for {
		a, ok, more := it.next()
		if !more || !ok {
			break
		}
		out = append(out, a)
		if !r.Trusted(a) {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// hopIter yields a header's entries right to left.
type hopIter struct {
	lines []string // X-Forwarded-For: the header's lines
	li    int      // the line being read
	pos   int      // the end of the unread part of lines[li]
	// Forwarded: the rightmost entries, parsed left to right into a ring.
	fwd  bool
	ring [maxHops]hop
	n    int // entries in ring
	end  int // index after the rightmost entry
}

type hop struct {
	addr netip.Addr
	ok   bool
}

// hops starts it on h's entries.
func (r *Resolver) hops(it *hopIter, h http.Header) {
	if !r.forwarded {
		it.lines = h[XForwardedFor]
		it.li = len(it.lines) - 1
		if it.li >= 0 {
			it.pos = len(it.lines[it.li])
		}
		return
	}
	it.fwd = true
	for _, line := range h[Forwarded] {
		parseForwarded(line, it)
	}
}

func (it *hopIter) push(a netip.Addr, ok bool) {
	it.ring[it.end] = hop{a, ok}
	it.end = (it.end + 1) % maxHops
	if it.n < maxHops {
		it.n++
	}
}

// next returns the next entry from the right: its address, whether it is
// one, and false for more when there is none left.
func (it *hopIter) next() (a netip.Addr, ok, more bool) {
	if it.fwd {
		if it.n == 0 {
			return netip.Addr{}, false, false
		}
		it.end = (it.end + maxHops - 1) % maxHops
		it.n--
		h := it.ring[it.end]
		return h.addr, h.ok, true
	}
	for it.li >= 0 {
		line := it.lines[it.li]
		if it.pos < 0 {
			it.li--
			if it.li >= 0 {
				it.pos = len(it.lines[it.li])
			}
			continue
		}
		j := strings.LastIndexByte(line[:it.pos], ',')
		elem := trimOWS(line[j+1 : it.pos])
		it.pos = j // -1 when the line is done
		if elem == "" {
			continue // empty list elements are allowed (RFC 9110 §5.6.1)
		}
		a, ok := parseNode(elem)
		return a, ok, true
	}
	return netip.Addr{}, false, false
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseNode reads an address as proxies write it: "192.0.2.1",
// "2001:db8::1", "192.0.2.1:4711", "[2001:db8::1]" or "[2001:db8::1]:4711"
// (RFC 7239 §6).
func parseNode(s string) (netip.Addr, bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 || !validPort(s[end+1:]) {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		return canonical(a), true
	}
	// One colon is IPv4 with a port; two or more, IPv6. Deciding first
	// keeps a failed parse (which allocates its error) off common paths.
	if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		if !validPort(s[i:]) {
			return netip.Addr{}, false
		}
		s = s[:i]
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			return a, true
		}
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return canonical(a), true
	}
	return netip.Addr{}, false
}

// validPort accepts "" or ":" and 1 to 5 digits.
func validPort(s string) bool {
	if s == "" {
		return true
	}
	if s[0] != ':' || len(s) < 2 || len(s) > 6 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseForwarded pushes onto it, left to right, the for= node of each
// element of one Forwarded line (RFC 7239 §4): not ok for an element
// without for=, or whose node is not an address ("unknown", "_hidden").
func parseForwarded(line string, it *hopIter) {
	inQuote, esc := false, false
	start := 0
	for i := 0; i <= len(line); i++ {
		if i < len(line) {
			c := line[i]
			switch {
			case esc:
				esc = false
				continue
			case inQuote && c == '\\':
				esc = true
				continue
			case c == '"':
				inQuote = !inQuote
				continue
			case inQuote || c != ',':
				continue
			}
		}
		elem := trimOWS(line[start:i])
		start = i + 1
		if elem == "" {
			continue
		}
		it.push(forNode(elem))
	}
}

// forNode finds the for= pair of one element.
func forNode(elem string) (netip.Addr, bool) {
	for elem != "" {
		var pair string
		pair, elem = cutPair(elem)
		k, v, found := strings.Cut(trimOWS(pair), "=")
		if !found || !strings.EqualFold(trimOWS(k), "for") {
			continue
		}
		v = trimOWS(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
			if strings.IndexByte(v, '\\') >= 0 {
				return netip.Addr{}, false // no address needs an escape
			}
		} else if strings.ContainsAny(v, "[]\"") {
			return netip.Addr{}, false // IPv6 and ports must be quoted
		}
		return parseNode(v)
	}
	return netip.Addr{}, false
}

// cutPair splits an element at its first ';' outside quotes.
func cutPair(s string) (pair, rest string) {
	inQuote, esc := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case inQuote && c == '\\':
			esc = true
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == ';':
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}
