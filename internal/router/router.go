// Package router maps a request's host, method and path to the apiEndpoint
// that serves it.
//
// Precedence, most specific first (Express Gateway takes the first declared
// match; Gatehouse makes the order independent of how the file is written):
//
//  1. host: an exact host, then wildcard hosts (more literal characters
//     first), then hostRegex, then any host ('*' or none);
//  2. path, within the same host rank: an exact path, then the longest
//     literal prefix before the first parameter or star;
//  3. the order of the file.
//
// Methods filter: an entry whose methods do not include the request's is
// skipped and the next candidate is tried. GET also allows HEAD.
package router

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Spec is one way of reaching a value: Express Gateway's apiEndpoint fields.
type Spec struct {
	Host      string   // "", "*", "api.example.com", "*.example.com"
	HostRegex string   // RE2 syntax, matched against the host without port
	Paths     []string // Express path patterns; none means every path
	PathRegex string   // RE2, matched against the escaped path
	Methods   []string // upper case; none means every method
}

// Router is immutable once built; Match is safe for concurrent use.
type Router[T any] struct {
	exact    map[string][]*entry[T]
	wildcard []*entry[T]
	regex    []*entry[T]
	anyHost  []*entry[T]
	n        int
}

type entry[T any] struct {
	value   T
	host    hostMatcher
	path    *pathMatcher
	pathRE  *regexp.Regexp
	methods []string
	order   int
}

// Builder collects specs; Build freezes them into a Router.
type Builder[T any] struct {
	entries []*entry[T]
}

// Add compiles spec. The error names the bad host, path or regexp.
func (b *Builder[T]) Add(s Spec, v T) error {
	var hm hostMatcher
	switch {
	case s.HostRegex != "":
		re, err := regexp.Compile("(?i)" + s.HostRegex)
		if err != nil {
			return fmt.Errorf("hostRegex %q: %v", s.HostRegex, err)
		}
		hm = hostMatcher{kind: hostRegex, re: re}
	default:
		var err error
		hm, err = compileHost(s.Host)
		if err != nil {
			return err
		}
	}
	methods := make([]string, 0, len(s.Methods))
	for _, m := range s.Methods {
		methods = append(methods, strings.ToUpper(m))
	}
	base := entry[T]{value: v, host: hm, methods: methods}
	if s.PathRegex != "" {
		re, err := regexp.Compile(s.PathRegex)
		if err != nil {
			return fmt.Errorf("pathRegex %q: %v", s.PathRegex, err)
		}
		e := base
		e.pathRE = re
		e.order = len(b.entries)
		b.entries = append(b.entries, &e)
		return nil
	}
	paths := s.Paths
	if len(paths) == 0 {
		paths = []string{"*"}
	}
	// compile every path before adding any: a failed Add adds nothing.
	added := make([]*entry[T], 0, len(paths))
	for _, p := range paths {
		pm, err := compilePath(p)
		if err != nil {
			return err
		}
		e := base
		e.path = pm
		e.order = len(b.entries) + len(added)
		added = append(added, &e)
	}
	b.entries = append(b.entries, added...)
	return nil
}

// Build sorts the entries by precedence.
func (b *Builder[T]) Build() *Router[T] {
	r := &Router[T]{exact: map[string][]*entry[T]{}, n: len(b.entries)}
	for _, e := range b.entries {
		switch e.host.kind {
		case hostExact:
			r.exact[e.host.lit] = append(r.exact[e.host.lit], e)
		case hostWildcard:
			r.wildcard = append(r.wildcard, e)
		case hostRegex:
			r.regex = append(r.regex, e)
		default:
			r.anyHost = append(r.anyHost, e)
		}
	}
	for _, l := range r.exact {
		sortByPath(l)
	}
	sort.SliceStable(r.wildcard, func(i, j int) bool {
		a, b := r.wildcard[i], r.wildcard[j]
		if a.host.litLen != b.host.litLen {
			return a.host.litLen > b.host.litLen
		}
		return pathBefore(a, b)
	})
	sortByPath(r.regex)
	sortByPath(r.anyHost)
	return r
}

func sortByPath[T any](l []*entry[T]) {
	sort.SliceStable(l, func(i, j int) bool { return pathBefore(l[i], l[j]) })
}

func pathBefore[T any](a, b *entry[T]) bool {
	ae, be := a.path != nil && a.path.exact, b.path != nil && b.path.exact
	if ae != be {
		return ae
	}
	al, bl := specificity(a), specificity(b)
	if al != bl {
		return al > bl
	}
	return a.order < b.order
}

func specificity[T any](e *entry[T]) int {
	switch {
	case e.pathRE != nil:
		return 0
	case e.path.kind == kindAny:
		return -1
	}
	return e.path.litPrefix
}

// Len is the number of compiled entries (one per path pattern).
func (r *Router[T]) Len() int { return r.n }

// Match finds the value for a request. host is the Host header (a port is
// ignored), path the escaped request path.
func (r *Router[T]) Match(host, method, path string) (v T, ok bool) {
	host = normalizeHost(host)
	if l := r.exact[host]; l != nil {
		if e := first(l, host, method, path, false); e != nil {
			return e.value, true
		}
	} else if hasUpper(host) {
		if e := first(r.exact[strings.ToLower(host)], host, method, path, false); e != nil {
			return e.value, true
		}
	}
	for _, l := range [...][]*entry[T]{r.wildcard, r.regex} {
		if e := first(l, host, method, path, true); e != nil {
			return e.value, true
		}
	}
	if e := first(r.anyHost, host, method, path, false); e != nil {
		return e.value, true
	}
	return v, false
}

func first[T any](l []*entry[T], host, method, path string, checkHost bool) *entry[T] {
	for _, e := range l {
		if checkHost && !e.host.match(host) {
			continue
		}
		if !methodAllowed(e.methods, method) {
			continue
		}
		if e.pathRE != nil {
			if e.pathRE.MatchString(path) {
				return e
			}
			continue
		}
		if e.path.match(path) {
			return e
		}
	}
	return nil
}

func methodAllowed(methods []string, m string) bool {
	if len(methods) == 0 {
		return true
	}
	for _, x := range methods {
		if x == m || (m == "HEAD" && x == "GET") {
			return true
		}
	}
	return false
}

type hostKind uint8

const (
	hostAny hostKind = iota
	hostExact
	hostWildcard
	hostRegex
)

type hostMatcher struct {
	kind   hostKind
	lit    string   // hostExact, lower case
	labels []string // hostWildcard: labels, each may hold '*'
	litLen int      // literal characters, for ordering wildcards
	re     *regexp.Regexp
}

func compileHost(h string) (hostMatcher, error) {
	h = strings.ToLower(strings.TrimSpace(h))
	if h == "" || h == "*" {
		return hostMatcher{kind: hostAny}, nil
	}
	if strings.ContainsAny(h, "/ ?#@") {
		return hostMatcher{}, fmt.Errorf("host %q is not a host name", h)
	}
	if !strings.Contains(h, "*") {
		return hostMatcher{kind: hostExact, lit: normalizeHost(h)}, nil
	}
	labels := strings.Split(h, ".")
	n := 0
	for _, l := range labels {
		if l == "" {
			return hostMatcher{}, fmt.Errorf("host %q has an empty label", h)
		}
		n += len(l) - strings.Count(l, "*")
	}
	return hostMatcher{kind: hostWildcard, labels: labels, litLen: n}, nil
}

func (h *hostMatcher) match(host string) bool {
	switch h.kind {
	case hostAny:
		return true
	case hostExact:
		return strings.EqualFold(host, h.lit)
	case hostRegex:
		return h.re.MatchString(host)
	}
	// vhost semantics: '*' is one or more characters within one label.
	for _, l := range h.labels {
		var label string
		label, host, _ = strings.Cut(host, ".")
		if !globLabel(l, label) {
			return false
		}
	}
	return host == ""
}

// globLabel matches one host label against a pattern label where '*' stands
// for one or more characters.
func globLabel(p, s string) bool {
	if p == "*" {
		return s != ""
	}
	star := strings.IndexByte(p, '*')
	if star < 0 {
		return strings.EqualFold(p, s)
	}
	prefix, rest := p[:star], p[star+1:]
	if len(s) < len(prefix)+1 || !strings.EqualFold(s[:len(prefix)], prefix) {
		return false
	}
	s = s[len(prefix):]
	// the star takes at least one character; try every split.
	for i := 1; i <= len(s); i++ {
		if globLabel(rest, s[i:]) {
			return true
		}
	}
	return false
}

// normalizeHost strips the port from a Host header value and a trailing dot.
func normalizeHost(h string) string {
	if h == "" {
		return h
	}
	if h[0] == '[' { // IPv6 literal
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		h = h[:i]
	}
	if len(h) > 1 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	return h
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
