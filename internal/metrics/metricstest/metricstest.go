// Package metricstest reads series back out of a metrics registry, for the
// tests of the packages that export them.
package metricstest

import "github.com/gatehouse/gatehouse/internal/metrics"

// CacheValue is the value of metric's series with {cache=cache} in m's
// registry (a gauge's or a counter's); ok is false when there is none.
func CacheValue(m *metrics.Metrics, metric, cache string) (v float64, ok bool) {
	families, err := m.Registry.Gather()
	if err != nil {
		return 0, false
	}
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "cache" && l.GetValue() == cache {
					if g := s.GetGauge(); g != nil {
						return g.GetValue(), true
					}
					return s.GetCounter().GetValue(), true
				}
			}
		}
	}
	return 0, false
}
