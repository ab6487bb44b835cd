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
	forwardAuth     *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	upstreamErrors  *prometheus.CounterVec
	logins          *prometheus.CounterVec
	tokenRejections *prometheus.CounterVec
	jwksErrors      *prometheus.CounterVec
	// providerSignins and providerErrors count sign-ins through
	// OpenID Connect providers and failures to reach them.
	providerSignins *prometheus.CounterVec
	providerErrors  *prometheus.CounterVec
	// apiKeys counts requests made with an API key, by the key's name
	// (from the config) and outcome; never the key.
	apiKeys *prometheus.CounterVec
	// secondFactors counts second-factor checks at sign-in.
	secondFactors *prometheus.CounterVec
	tlsExpiry     *prometheus.GaugeVec
	tlsLoaded     *prometheus.GaugeVec
	// The reload gauges follow the names of Prometheus's own
	// (prometheus_config_last_reload_successful and
	// ..._success_timestamp_seconds), so that alerts written for one fit.
	reloadOK        prometheus.Gauge
	reloadTime      prometheus.Gauge
	reloads         *prometheus.CounterVec
	restartRequired prometheus.Gauge
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
		// Forward-auth requests are all answered by one endpoint, counted
		// under route="verify" above; this says which route rule each one
		// was judged by, without counting it twice in the total above.
		forwardAuth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_forward_auth_requests_total",
			Help: "Forward-auth requests answered, by the route their original request matched (\"unmatched\" for none) and status class.",
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
		providerSignins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_provider_signins_total",
			Help: "Sign-ins through an OpenID Connect provider, by provider id and outcome (success or the refusal reason).",
		}, []string{"provider", "outcome"}),
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_provider_discovery_errors_total",
			Help: "Failed fetches of an OpenID Connect provider's discovery document, by provider id (sign-in with it waits for a retry).",
		}, []string{"provider"}),
		apiKeys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_api_key_requests_total",
			Help: "Requests made with a known API key, by the key's name and outcome (admitted, expired, not_allowed, mfa_required).",
		}, []string{"key", "outcome"}),
		secondFactors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_second_factor_attempts_total",
			Help: "Second-factor checks at sign-in, by factor (totp) and outcome (success, invalid, replayed, required, not_enrolled, error).",
		}, []string{"factor", "outcome"}),
		stateSyncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authgate_state_sync_errors_total",
			Help: "Lost links to the shared state (Redis) and failed attempts to resynchronise the copy of the revocations.",
		}),
	}
	m.tlsExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "authgate_tls_certificate_expiry_timestamp_seconds",
		Help: "When the TLS certificate in service expires, in seconds since the Unix epoch, by certificate (\"file\" for tls.cert_file, else the ACME domain).",
	}, []string{"certificate"})
	// Named after authgate_config_last_reload_successful, so that one
	// alert rule shape fits both.
	m.tlsLoaded = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "authgate_tls_certificate_last_reload_successful",
		Help: "1 when the last load of the TLS certificate (from its files, or from the ACME CA) succeeded; 0 while the previous one stays in service (or, with ACME, none could be obtained yet).",
	}, []string{"certificate"})
	m.registry.MustRegister(m.tlsExpiry, m.tlsLoaded)
	m.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "authgate_config_last_reload_successful",
		Help: "1 when the last load of the config (at start, on SIGHUP or on a file change) succeeded; 0 while the last good config keeps serving after a failed one.",
	})
	m.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "authgate_config_last_reload_success_timestamp_seconds",
		Help: "When the config serving now was loaded, in seconds since the Unix epoch.",
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_config_reloads_total",
		Help: "Reloads of the config (SIGHUP or a file change), by result: success or failure.",
	}, []string{"result"})
	m.restartRequired = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "authgate_config_restart_required",
		Help: "1 when the loaded config changes a setting that only a restart applies (listen addresses, listener limits, log settings, login throttles, state.*); they keep their old values until then.",
	})
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "authgate_build_info",
		Help:        "Always 1; the version label says which build is running.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	info.Set(1)
	m.registry.MustRegister(m.requests, m.forwardAuth, m.duration, m.upstreamErrors, m.logins, m.tokenRejections, m.jwksErrors,
		m.providerSignins, m.providerErrors, m.apiKeys, m.secondFactors,
		m.reloadOK, m.reloadTime, m.reloads, m.restartRequired, m.stateSyncErrors, info,
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

// APIKey counts one request made with the API key called name (a config
// name, a fixed set) that ended with outcome.
func (m *Metrics) APIKey(name, outcome string) { m.apiKeys.WithLabelValues(name, outcome).Inc() }

// SecondFactor counts one check of factor ("totp") at sign-in that ended
// with outcome.
func (m *Metrics) SecondFactor(factor, outcome string) {
	m.secondFactors.WithLabelValues(factor, outcome).Inc()
}

// JWKSRefreshFailed returns a counter for a trusted issuer's failed key
// fetches; issuer comes from the config, a fixed set.
func (m *Metrics) JWKSRefreshFailed(issuer string) func() {
	c := m.jwksErrors.WithLabelValues(issuer)
	return c.Inc
}

// ProviderSignin counts one sign-in through provider (a config id) that
// ended with outcome: "success" or a refusal reason.
func (m *Metrics) ProviderSignin(provider, outcome string) {
	m.providerSignins.WithLabelValues(provider, outcome).Inc()
}

// ProviderDiscoveryFailed returns a counter for provider's failed
// discovery fetches.
func (m *Metrics) ProviderDiscoveryFailed(provider string) func() {
	return m.providerErrors.WithLabelValues(provider).Inc
}

// TLSCertificateLoaded records an attempt to put the TLS certificate
// name in service: when it expires, and whether the attempt succeeded (a
// failed one leaves the expiry of the certificate still in service).
// name comes from the config: "file" or an ACME domain.
func (m *Metrics) TLSCertificateLoaded(name string, notAfter time.Time, ok bool) {
	if !ok {
		m.tlsLoaded.WithLabelValues(name).Set(0)
		return
	}
	m.tlsLoaded.WithLabelValues(name).Set(1)
	m.tlsExpiry.WithLabelValues(name).Set(float64(notAfter.Unix()))
}

// ConfigLoaded records the config loaded at start, at.
func (m *Metrics) ConfigLoaded(at time.Time) {
	m.reloadOK.Set(1)
	m.reloadTime.Set(float64(at.UnixNano()) / 1e9)
	// Both series exist from the start, so that increase() sees the first.
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
}

// ConfigReloaded records a reload: whether it succeeded and, if so, when
// (the config serving from then on).
func (m *Metrics) ConfigReloaded(ok bool, at time.Time) {
	if !ok {
		m.reloadOK.Set(0)
		m.reloads.WithLabelValues("failure").Inc()
		return
	}
	m.reloadOK.Set(1)
	m.reloadTime.Set(float64(at.UnixNano()) / 1e9)
	m.reloads.WithLabelValues("success").Inc()
}

// RestartRequired records whether the loaded config changes settings that
// only a restart applies.
func (m *Metrics) RestartRequired(required bool) {
	v := 0.0
	if required {
		v = 1
	}
	m.restartRequired.Set(v)
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
	// Bound by the first ForwardAuth.
	bindForwardAuth sync.Once
	forwardAuth     [5]prometheus.Counter
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

// ForwardAuth counts a forward-auth request whose original request this
// route was judged by, answered with status.
func (r *Route) ForwardAuth(status int) {
	r.bindForwardAuth.Do(func() {
		for i := range r.forwardAuth {
			r.forwardAuth[i] = r.m.forwardAuth.WithLabelValues(r.name, strconv.Itoa(i+1)+"xx")
		}
	})
	if c := status/100 - 1; c >= 0 && c < len(r.forwardAuth) {
		r.forwardAuth[c].Inc()
	}
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
