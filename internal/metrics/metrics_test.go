package metrics

import "testing"

// TestAccessLogDropped: the access log's drops are exported under the
// name docs/operations.md gives.
func TestAccessLogDropped(t *testing.T) {
	m := New()
	m.AccessLogDropped.Inc()
	m.AccessLogDropped.Inc()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "gatehouse_access_log_dropped_total" {
			if v := f.GetMetric()[0].GetCounter().GetValue(); v != 2 {
				t.Errorf("gatehouse_access_log_dropped_total = %v, want 2", v)
			}
			return
		}
	}
	t.Error("gatehouse_access_log_dropped_total is not registered")
}

// TestCacheSize: a cache's entries, bytes and evictions are exported under
// the names docs/operations.md gives, with its cache label.
func TestCacheSize(t *testing.T) {
	m := New()
	m.RegisterCacheSize("jwt", func() (int, int, uint64) { return 3, 300, 7 })
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"gatehouse_cache_entries": 3, "gatehouse_cache_bytes": 300, "gatehouse_cache_evictions_total": 7}
	for _, f := range families {
		w, ok := want[f.GetName()]
		if !ok {
			continue
		}
		mt := f.GetMetric()[0]
		v := mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
		if v != w || mt.GetLabel()[0].GetValue() != "jwt" {
			t.Errorf("%s = %v %v, want %v {cache=jwt}", f.GetName(), v, mt.GetLabel(), w)
		}
		delete(want, f.GetName())
	}
	if len(want) > 0 {
		t.Errorf("not registered: %v", want)
	}
}

// TestCacheSizeReregister: a reload registers its new cache under the same
// name; that must not panic, and the new cache's figures are exported.
func TestCacheSizeReregister(t *testing.T) {
	m := New()
	m.RegisterCacheSize("oauth2-jwt", func() (int, int, uint64) { return 1, 100, 0 })
	m.RegisterCacheSize("oauth2-jwt", func() (int, int, uint64) { return 2, 200, 5 })
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "gatehouse_cache_bytes" {
			if v := f.GetMetric()[0].GetGauge().GetValue(); v != 200 || len(f.GetMetric()) != 1 {
				t.Errorf("gatehouse_cache_bytes = %v (%d series), want 200 from the second registration", v, len(f.GetMetric()))
			}
			return
		}
	}
	t.Error("gatehouse_cache_bytes not registered")
}
