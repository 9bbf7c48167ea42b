package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type rootDeps struct {
	api     http.Handler
	web     http.Handler
	device  http.Handler
	ciba    http.Handler
	app     http.Handler // the mobile web app under /app/
	ready   func(context.Context) error
	metrics http.Handler
	reg     *prometheus.Registry
	logger  *slog.Logger
}

// newRootHandler routes the server's surfaces to their handlers and counts
// every request by surface and status class.
func newRootHandler(d rootDeps) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/admin/", d.api)
	mux.Handle("/v1/", d.api)
	mux.Handle("/v/", d.web)
	mux.Handle("/device/", d.device)
	mux.Handle("/d/", d.device)
	mux.Handle("/app/", d.app)
	mux.Handle("GET /w/{workspace}/.well-known/jwks.json", d.api)
	mux.Handle("/w/{workspace}/.well-known/openid-configuration", d.ciba)
	mux.Handle("/w/{workspace}/ciba/", d.ciba)
	mux.Handle("GET /openapi.json", d.api)
	mux.Handle("GET /openapi.yaml", d.api)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := d.ready(ctx); err != nil {
			d.logger.Warn("not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", d.metrics)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write([]byte("Tandem is running. API description: /openapi.json\n"))
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		b, _ := json.Marshal(map[string]any{"title": "Not Found", "status": 404, "detail": "No such endpoint: " + r.URL.Path})
		w.Write(b)
	})

	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tandem_http_requests_total", Help: "HTTP requests by surface and status code.",
	}, []string{"surface", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tandem_http_request_duration_seconds", Help: "HTTP request latency by surface.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"surface"})
	d.reg.MustRegister(requests, duration)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		mux.ServeHTTP(sw, r)
		s := surface(r.URL.Path)
		requests.WithLabelValues(s, strconv.Itoa(sw.status)).Inc()
		duration.WithLabelValues(s).Observe(time.Since(start).Seconds())
	})
}

func surface(path string) string {
	switch {
	case strings.HasPrefix(path, "/admin/"):
		return "admin"
	case strings.HasPrefix(path, "/v1/"):
		return "integrator"
	case strings.HasPrefix(path, "/v/"):
		return "web"
	case strings.HasPrefix(path, "/device/"):
		return "device"
	case strings.HasPrefix(path, "/app/"):
		return "app"
	case strings.HasPrefix(path, "/w/") && (strings.Contains(path, "/ciba/") || strings.HasSuffix(path, "/openid-configuration")):
		return "ciba"
	case path == "/healthz" || path == "/readyz" || path == "/metrics":
		return "ops"
	}
	return "other"
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
