package app

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// opsHandler serves /metrics (Prometheus), /healthz (the process runs) and
// /readyz (a config is loaded and the store answers) beside the Admin API.
// They need no admin key: probes and scrapers run on the admin network, and
// none of them reveals identity data.
func (a *App) opsHandler(adminAPI http.Handler) http.Handler {
	metricsHandler := promhttp.HandlerFor(a.metrics.Registry, promhttp.HandlerOpts{MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			metricsHandler.ServeHTTP(w, r)
		case "/healthz":
			writeStatus(w, http.StatusOK, map[string]any{"status": "ok"})
		case "/readyz":
			a.ready(w, r)
		default:
			adminAPI.ServeHTTP(w, r)
		}
	})
}

func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{"config": "ok", "store": "ok"}
	status := http.StatusOK
	if a.gw == nil || a.gw.Current() == nil {
		checks["config"], status = "not loaded", http.StatusServiceUnavailable
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := a.store.Backend().Ping(ctx); err != nil {
		checks["store"], status = "unavailable: "+err.Error(), http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	res := "ready"
	if status != http.StatusOK {
		res = "not ready"
	}
	writeStatus(w, status, map[string]any{"status": res, "checks": checks})
}

func writeStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
