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
