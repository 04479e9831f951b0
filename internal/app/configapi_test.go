package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse/internal/condition"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/configedit"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/oauth2server"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// sample is a value of the type a schema names.
func sample(s map[string]any) any {
	if c, ok := s["const"]; ok {
		return c
	}
	if e, ok := s["enum"].([]any); ok {
		return e[0]
	}
	for _, k := range []string{"oneOf", "anyOf"} {
		if alts, ok := s[k].([]any); ok {
			return sample(alts[0].(map[string]any))
		}
	}
	switch s["type"] {
	case "boolean":
		return true
	case "integer", "number":
		return 1
	case "array":
		return []any{}
	case "object":
		return map[string]any{}
	}
	return "x"
}

func decodeSchema(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func yamlNode(t *testing.T, v any) config.Node {
	t.Helper()
	b, _ := json.Marshal(v)
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatal(err)
	}
	return config.Node{File: "gateway.config.yml", Path: "action", Y: n.Content[0]}
}

// TestPolicySchemasMatchDecoders: every built-in policy has a schema, made
// from the struct its factory decodes into: each key of the schema is a
// key the decoder knows, and a key the schema lacks is one the decoder
// refuses.
func TestPolicySchemasMatchDecoders(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	defer s.Close()
	limiter := ratelimit.NewLocal(nil)
	env := &policyenv.Env{Logger: log, Now: time.Now, ConfigDir: t.TempDir(), Identity: s, HTTPClient: outboundClient(nil), RateLimiter: limiter}
	srv, err := oauth2server.New(context.Background(), oauth2server.Options{Store: s, System: &config.System{}, Logger: log, ConfigDir: env.ConfigDir, Limiter: limiter})
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := configSchemas()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]map[string]any{}
	for _, sc := range schemas {
		m := decodeSchema(t, sc.Schema)
		byID[m["$id"].(string)] = m
	}
	for name, f := range gateway.Policies(srv) {
		sc, ok := byID[configedit.PolicyID(name)]
		if !ok {
			t.Errorf("policy %s has no schema", name)
			continue
		}
		props, _ := sc["properties"].(map[string]any)
		if len(props) == 0 || sc["additionalProperties"] != false {
			t.Errorf("policy %s: schema without properties or open to any key: %v", name, sc)
		}
		for key, ps := range props {
			_, err := f.New(yamlNode(t, map[string]any{key: sample(ps.(map[string]any))}), env)
			if err != nil && strings.Contains(err.Error(), "unknown key") {
				t.Errorf("policy %s: the schema has %q, the decoder refuses it: %v", name, key, err)
			}
		}
		_, err := f.New(yamlNode(t, map[string]any{"notAnOption": 1}), env)
		if err == nil || !strings.Contains(err.Error(), "unknown key") {
			t.Errorf("policy %s: a key the schema lacks is accepted: %v", name, err)
		}
	}
}

// TestConditionSchemas: every condition the gateway compiles has a schema
// whose sample compiles, and its required parameters are required.
func TestConditionSchemas(t *testing.T) {
	have := map[string]bool{}
	for _, n := range configedit.ConditionNames() {
		have[n] = true
	}
	for _, name := range condition.Names() {
		if name == "expression" || name == "json-schema" {
			continue // refused at load: no schema to offer
		}
		if !have[name] {
			t.Errorf("condition %s has no schema", name)
			continue
		}
		sc, err := configedit.ConditionSchema(name)
		if err != nil {
			t.Fatal(err)
		}
		m := decodeSchema(t, sc.Schema)
		v := map[string]any{}
		for k, ps := range m["properties"].(map[string]any) {
			v[k] = sample(ps.(map[string]any))
		}
		for _, k := range []string{"conditions"} {
			if _, ok := v[k]; ok {
				v[k] = []any{map[string]any{"name": "always"}}
			}
		}
		if _, ok := v["condition"]; ok {
			v["condition"] = map[string]any{"name": "always"}
		}
		if _, err := condition.Compile(yamlNode(t, v)); err != nil {
			t.Errorf("condition %s: the schema's sample %v does not compile: %v", name, v, err)
		}
		if req, _ := m["required"].([]any); len(req) > 1 {
			if _, err := condition.Compile(yamlNode(t, map[string]any{"name": name})); err == nil {
				t.Errorf("condition %s: the schema requires %v, the condition does not", name, req)
			}
		}
	}
}

// TestConfigSchema: the gateway.config.yml schema names the top-level keys
// the decoder knows.
func TestConfigSchema(t *testing.T) {
	sc, err := configedit.ConfigSchema()
	if err != nil {
		t.Fatal(err)
	}
	m := decodeSchema(t, sc.Schema)
	props := m["properties"].(map[string]any)
	for _, k := range []string{"http", "https", "admin", "apiEndpoints", "serviceEndpoints", "policies", "pipelines", "methodOverride"} {
		if _, ok := props[k]; !ok {
			t.Errorf("config schema lacks %s", k)
		}
	}
	if len(props) != 8 {
		t.Errorf("config schema keys: %d, want 8 (a new key in config.Gateway? check its schema)", len(props))
	}
	ep := props["apiEndpoints"].(map[string]any)["additionalProperties"].(map[string]any)
	if b, _ := json.Marshal(ep); !strings.Contains(string(b), `"hostRegex"`) || !strings.Contains(string(b), `"scopes"`) {
		t.Errorf("apiEndpoint schema: %s", b)
	}
}
