// Package gateway is the data plane: an immutable Runtime (router and
// pipelines) built from gateway.config.yml, and the http.Handler that serves
// requests through the current Runtime, swapped atomically on reload.
package gateway

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/internal/condition"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/router"
)

// Runtime is one loaded gateway.config.yml, ready to serve. It never changes
// after Build; a reload builds a new one.
type Runtime struct {
	Config  *config.Gateway
	router  *router.Router[*route]
	closers []func()
	// upstreamNames are the folded names of the headers policies set
	// upstream, stripped from clients in every spelling (boundary.go).
	upstreamNames  map[string]struct{}
	methodOverride config.MethodOverride
	// Warnings are problems that do not stop the config from serving (a
	// declared policy Gatehouse does not know that no pipeline uses, a
	// pipeline without policies).
	Warnings []string
	// Source is the file's text the runtime was loaded from (Load), before
	// ${VAR} substitution: what the config-editing Admin API shows as the
	// serving config.
	Source []byte
}

// route is what the router finds: the apiEndpoint and the pipeline that
// serves it.
type route struct {
	// info is what the request's pipeline.State points to (the endpoint,
	// pipeline, scopes and matched path): shared, never copied per request.
	info    pipeline.Route
	methods []string // as configured; empty means every method but TRACE/TRACK
	handler pipeline.Handler
	// what the apiEndpoint accepts in a path (boundary.go)
	allowEncodedSlashes, allowPathParameters bool
	maxBody                                  int64 // 0: the listener's limit alone
}

// Closer is implemented by policies that hold resources (connection pools)
// to release when their Runtime is replaced.
type Closer interface{ Close() }

// Build checks g against the known policies and compiles it. Every problem
// is reported at once as config.Errors.
func Build(g *config.Gateway, env *policyenv.Env, factories map[string]policyenv.Factory) (*Runtime, error) {
	var errs config.Errors
	add := func(err error) { errs = append(errs, config.AsErrors(err)...) }
	at := func(line int, path, format string, args ...any) {
		errs = append(errs, &config.Error{File: g.File, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
	}

	rt := &Runtime{Config: g, methodOverride: g.MethodOverride}
	rt.checkDeclared(g, factories, at)
	envCopy := *env
	envCopy.ServiceEndpoints = g.ServiceEndpoints
	byEndpoint, policies := rt.buildPipelines(g, &envCopy, factories, add, at)
	b := &router.Builder[*route]{}
	addRoutes(b, g, byEndpoint, at)
	if err := errs.Err(); err != nil {
		rt.Close()
		return nil, err
	}
	rt.router = b.Build()
	rt.upstreamNames = upstreamNames(policies)
	return rt, nil
}

// checkDeclared reports the declared policies Gatehouse does not know: an
// error when a pipeline uses one, a warning otherwise.
func (rt *Runtime) checkDeclared(g *config.Gateway, factories map[string]policyenv.Factory, at func(int, string, string, ...any)) {
	used := map[string]bool{}
	for _, pe := range g.Pipelines {
		for _, use := range pe.Value.Policies {
			used[use.Name] = true
		}
	}
	for i, p := range g.Policies {
		if _, ok := factories[p.Name]; ok {
			continue
		}
		if used[p.Name] {
			at(p.Line, fmt.Sprintf("policies[%d]", i), "unknown policy %q (known: %s)", p.Name, strings.Join(knownNames(factories), ", "))
		} else {
			// Express Gateway's generated configs declare every built-in
			// policy; one that no pipeline uses must not stop an unchanged
			// config from loading.
			rt.Warnings = append(rt.Warnings, fmt.Sprintf("%s:%d: policies[%d]: policy %q is not available in Gatehouse; no pipeline uses it, so it is ignored", g.File, p.Line, i, p.Name))
		}
	}
}

// served is the pipeline serving an apiEndpoint.
type served struct {
	pipeline string
	handler  pipeline.Handler
}

// buildPipelines builds every pipeline and returns, for each apiEndpoint,
// the first pipeline that lists it, and every policy built.
func (rt *Runtime) buildPipelines(g *config.Gateway, env *policyenv.Env, factories map[string]policyenv.Factory,
	add func(error), at func(int, string, string, ...any)) (map[string]served, []pipeline.Policy) {
	var policies []pipeline.Policy
	byEndpoint := map[string]served{}
	for _, pe := range g.Pipelines {
		if len(pe.Value.Policies) == 0 {
			// Express Gateway loads a pipeline without policies and its
			// routes answer 404; refusing it would refuse the reload that
			// removed a pipeline's last policy, keeping the old policies
			// serving although the file says otherwise.
			rt.Warnings = append(rt.Warnings, fmt.Sprintf("%s:%d: pipelines.%s.policies: pipeline %q has no policies; the requests routed to it answer 404", g.File, pe.Line, pe.Name, pe.Name))
		}
		handler, closers, pols := buildPipeline(g.File, pe.Name, pe.Value, env, factories, add, at)
		rt.closers = append(rt.closers, closers...)
		policies = append(policies, pols...)
		for _, ref := range pe.Value.Endpoints() {
			if _, dup := byEndpoint[ref.Name]; !dup {
				byEndpoint[ref.Name] = served{pe.Name, handler}
			}
		}
	}
	return byEndpoint, policies
}

// addRoutes adds the routes of every served apiEndpoint, in the order of
// the apiEndpoints section, so that equally specific routes are tried in
// the order the user wrote them. An apiEndpoint no pipeline serves gets
// no route: it answers 404.
func addRoutes(b *router.Builder[*route], g *config.Gateway, byEndpoint map[string]served, at func(int, string, string, ...any)) {
	for _, e := range g.APIEndpoints {
		sv, ok := byEndpoint[e.Name]
		if !ok {
			continue
		}
		for i, ep := range e.Value {
			path := "apiEndpoints." + e.Name
			if len(e.Value) > 1 {
				path = fmt.Sprintf("%s[%d]", path, i)
			}
			if ep.MaxBodyBytes < 0 {
				at(ep.Pos.Line, path+".maxBodyBytes", "must not be negative (0 keeps the listener's limit)")
			}
			paths := ep.AllPaths()
			if len(paths) == 0 {
				paths = []string{""}
			}
			for _, p := range paths {
				spec := router.Spec{Host: ep.Host, HostRegex: ep.HostRegex, PathRegex: ep.PathRegex, Methods: ep.Methods}
				if p != "" {
					spec.Paths = []string{p}
				}
				r := &route{info: pipeline.Route{APIEndpoint: e.Name, Pipeline: sv.pipeline, Scopes: ep.Scopes, MatchedPath: p},
					methods: ep.Methods, handler: sv.handler,
					allowEncodedSlashes: ep.AllowEncodedSlashes, allowPathParameters: ep.AllowPathParameters, maxBody: ep.MaxBodyBytes}
				if err := b.Add(spec, r); err != nil {
					at(ep.Pos.Line, path, "%v", err)
				}
			}
		}
	}
}

func buildPipeline(file, name string, p config.Pipeline, env *policyenv.Env, factories map[string]policyenv.Factory,
	add func(error), at func(int, string, string, ...any)) (pipeline.Handler, []func(), []pipeline.Policy) {
	var steps []pipeline.Step
	var policies []pipeline.Policy
	var closers []func()
	endedAt, endedBy := 0, "" // an unconditional terminal step, once seen
	for _, use := range p.Policies {
		f, known := factories[use.Name]
		for _, s := range use.Steps {
			if endedAt > 0 {
				at(s.Pos.Line, s.Path, "unreachable: the %s step at line %d always ends the pipeline, so nothing may follow it", endedBy, endedAt)
				continue
			}
			if !known {
				continue // reported once, on the policies list or as undeclared
			}
			var cond pipeline.Condition
			if !s.Condition.IsZero() {
				c, err := condition.Compile(s.Condition)
				if err != nil {
					add(err)
					continue
				}
				cond = c
			}
			action := s.Action
			if action.Y == nil {
				action = config.Node{File: file, Path: s.Path + ".action"}
			}
			pol, err := f.New(action, env)
			if err != nil {
				add(positioned(err, action, s))
				continue
			}
			if c, ok := pol.(Closer); ok {
				closers = append(closers, c.Close)
			}
			steps = append(steps, pipeline.Step{Policy: use.Name, Condition: cond, Action: pol})
			policies = append(policies, pol)
			if f.Terminal && cond == nil {
				endedAt, endedBy = s.Pos.Line, use.Name
			}
		}
	}
	return pipeline.Chain(steps, noResponse{pipeline: name}), closers, policies
}

// positioned gives an error without a position the position of the action.
func positioned(err error, action config.Node, s config.Step) error {
	errs := config.AsErrors(err)
	for _, e := range errs {
		if e.Line == 0 {
			e.Line = action.Line()
			if e.Line == 0 {
				e.Line = s.Pos.Line
			}
			e.File = action.File
			if e.Path == "" {
				e.Path = action.Path
			}
		}
	}
	return errs
}

func knownNames(m map[string]policyenv.Factory) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Close releases the policies' resources (idle upstream connections).
func (rt *Runtime) Close() {
	for _, c := range rt.closers {
		c()
	}
}

// Routes is the number of compiled routes, for logs.
func (rt *Runtime) Routes() int { return rt.router.Len() }

// Load parses gateway.config.yml and builds it. When the file has errors
// the policies are still built from what could be read, so that every
// problem (structure, references, policy options) is reported at once.
func Load(name string, data []byte, lookup config.Lookup, env *policyenv.Env, factories map[string]policyenv.Factory) (*Runtime, error) {
	g, perr := config.ParseGateway(name, data, lookup)
	if perr != nil && g == nil {
		return nil, perr
	}
	rt, berr := Build(g, env, factories)
	if rt != nil {
		rt.Source = data
	}
	if perr == nil {
		return rt, berr
	}
	if rt != nil {
		rt.Close()
	}
	errs := append(config.AsErrors(perr), config.AsErrors(berr)...)
	return nil, errs.Err()
}
