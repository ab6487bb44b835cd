// Package metrics holds authgate's Prometheus metrics on a registry of its
// own (never the global one), with label values drawn from fixed sets:
// route names from the config, status classes, outcome and reason words.
// No user, token or raw path ever becomes a label.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the set of authgate's metrics.
type Metrics struct {
	registry        *prometheus.Registry
	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	upstreamErrors  *prometheus.CounterVec
	logins          *prometheus.CounterVec
	tokenRejections *prometheus.CounterVec
	jwksErrors      *prometheus.CounterVec
	stateSyncErrors prometheus.Counter
}

// New registers authgate's metrics, plus the Go runtime and process
// collectors, on a fresh registry.
func New(version string) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_http_requests_total",
			Help: "HTTP requests answered, by route and status class.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authgate_http_request_duration_seconds",
			Help:    "Time from request start to the end of the response, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_upstream_errors_total",
			Help: "Failed upstream exchanges, by route and kind (timeout, unavailable, canceled).",
		}, []string{"route", "kind"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_login_attempts_total",
			Help: "Login attempts, by outcome.",
		}, []string{"outcome"}),
		tokenRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_token_rejections_total",
			Help: "Requests refused for their credentials, by reason.",
		}, []string{"reason"}),
		jwksErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_jwks_refresh_errors_total",
			Help: "Failed fetches of a trusted issuer's keys (the previous keys stay in use), by issuer.",
		}, []string{"issuer"}),
		stateSyncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authgate_state_sync_errors_total",
			Help: "Lost links to the shared state (Redis) and failed attempts to resynchronise the copy of the revocations.",
		}),
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "authgate_build_info",
		Help:        "Always 1; the version label says which build is running.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	info.Set(1)
	m.registry.MustRegister(m.requests, m.duration, m.upstreamErrors, m.logins, m.tokenRejections, m.jwksErrors, m.stateSyncErrors, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Route returns one route's metrics. Its series are created by its first
// request, not before, so that routes nobody uses (there may be thousands)
// cost neither memory here nor series in Prometheus; from then on the
// label values are bound, and the request path does no label lookups.
func (m *Metrics) Route(name string) *Route {
	return &Route{m: m, name: name}
}

// Login counts a login attempt's outcome.
func (m *Metrics) Login(outcome string) { m.logins.WithLabelValues(outcome).Inc() }

// TokenRejected counts a request refused for its credentials.
func (m *Metrics) TokenRejected(reason string) { m.tokenRejections.WithLabelValues(reason).Inc() }

// JWKSRefreshFailed returns a counter for a trusted issuer's failed key
// fetches; issuer comes from the config, a fixed set.
func (m *Metrics) JWKSRefreshFailed(issuer string) func() {
	c := m.jwksErrors.WithLabelValues(issuer)
	return c.Inc
}

// StateSyncFailed counts a lost link to the shared state or a failed
// resynchronisation.
func (m *Metrics) StateSyncFailed() { m.stateSyncErrors.Inc() }

// WatchState exports the state's health, read at every scrape: up (1 when
// the state can be trusted: always for the in-process state; with Redis,
// while the link is alive and the copy of the revocations in step) and
// the age of that copy. Call it once per Metrics.
func (m *Metrics) WatchState(up func() bool, syncAge func() time.Duration) {
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authgate_state_up",
			Help: "1 while the shared state is reachable and the copy of the revocations is in step; always 1 in process.",
		}, func() float64 {
			if up() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authgate_state_sync_age_seconds",
			Help: "How long ago the copy of the revocations was last known complete; token-bearing requests are refused once it exceeds state.max_staleness. Always 0 in process.",
		}, func() float64 { return syncAge().Seconds() }),
	)
}

// Route holds one route's metrics.
type Route struct {
	m    *Metrics
	name string
	bind sync.Once
	// Bound by the first Observe.
	byClass  [5]prometheus.Counter
	duration prometheus.Observer
}

// Observe records a finished request.
func (r *Route) Observe(status int, d time.Duration) {
	r.bind.Do(func() {
		r.duration = r.m.duration.WithLabelValues(r.name)
		for i := range r.byClass {
			r.byClass[i] = r.m.requests.WithLabelValues(r.name, strconv.Itoa(i+1)+"xx")
		}
	})
	if c := status/100 - 1; c >= 0 && c < len(r.byClass) {
		r.byClass[c].Inc()
	}
	r.duration.Observe(d.Seconds())
}

// UpstreamError counts a failed upstream exchange of the given kind:
// "timeout", "unavailable" or "canceled". Its series exists only once such
// an error happened.
func (r *Route) UpstreamError(kind string) {
	switch kind {
	case "timeout", "unavailable", "canceled":
		r.m.upstreamErrors.WithLabelValues(r.name, kind).Inc()
	}
}
