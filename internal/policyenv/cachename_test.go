package policyenv

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestCacheName(t *testing.T) {
	for _, tc := range []struct {
		action Decoder
		want   string
	}{
		{config.Node{Path: "pipelines.default.policies[0].jwt[0].action"}, "jwt:pipelines.default.policies[0].jwt[0]"},
		{config.Node{Path: "action"}, "jwt"},
		{config.Node{}, "jwt"},
	} {
		if got := CacheName("jwt", tc.action); got != tc.want {
			t.Errorf("CacheName(%q) = %q, want %q", tc.action.(config.Node).Path, got, tc.want)
		}
	}
}
