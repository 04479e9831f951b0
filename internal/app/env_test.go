package app

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// TestPolicyEnvComplete: policyEnv and authServer fill every field of
// policyenv.Env but the ones the gateway sets per build, so that a field
// added to it is filled here, for serve and config validate at once, or
// this test fails. The clock is the caller's.
func TestPolicyEnvComplete(t *testing.T) {
	sys, err := config.ParseSystem("system.config.yml", []byte("trustedProxies: [10.0.0.0/8]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	defer s.Close()
	clock := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p := envParams{system: sys, configDir: t.TempDir(), now: func() time.Time { return clock },
		lookup: func(k string) (string, bool) {
			if k == "HTTP_PROXY" {
				return "http://proxy.example:3128", true
			}
			return "", false
		},
		log: slog.New(slog.DiscardHandler), store: s, limiter: ratelimit.NewLocal(nil), metrics: metrics.New()}
	env, err := policyEnv(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authServer(context.Background(), p, &env); err != nil {
		t.Fatal(err)
	}
	setByGateway := map[string]bool{"ServiceEndpoints": true}
	v := reflect.ValueOf(env)
	for i := range v.NumField() {
		if name := v.Type().Field(i).Name; !setByGateway[name] && v.Field(i).IsZero() {
			t.Errorf("policyenv.Env.%s is not set by policyEnv or authServer", name)
		}
	}
	if !env.Now().Equal(clock) {
		t.Errorf("env.Now() = %v, want the caller's clock", env.Now())
	}
}
