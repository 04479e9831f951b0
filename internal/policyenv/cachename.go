package policyenv

import (
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
)

// CacheName is the cache label of one policy step's own cache on /metrics
// (gatehouse_cache_entries and friends, issue #14): kind, then the step's
// config path without its ".action" (e.g.
// "jwt:pipelines.default.policies[0].jwt[0]"), so two jwt steps export two
// series and a reload's rebuilt step takes its predecessor's. An action
// that is not a step's (tests) is named by kind alone.
func CacheName(kind string, action Decoder) string {
	n, ok := action.(config.Node)
	if !ok {
		return kind
	}
	step := strings.TrimSuffix(strings.TrimSuffix(n.Path, "action"), ".")
	if step == "" {
		return kind
	}
	return kind + ":" + step
}
