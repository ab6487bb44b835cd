package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func TestRouteSeriesAppearWithUse(t *testing.T) {
	m := New("test")
	used, idle := m.Route("/used"), m.Route("/idle")
	used.Observe(204, 3*time.Millisecond)
	used.UpstreamError("timeout")
	used.ForwardAuth(401)
	used.UpstreamError("made-up")
	idle.UpstreamError("made-up")
	out := scrape(t, m)
	for _, tc := range []struct {
		name   string
		series string
		want   bool
	}{
		{"used-route-counted", `authgate_http_requests_total{code="2xx",route="/used"} 1`, true},
		{"used-route-classes-bound", `authgate_http_requests_total{code="5xx",route="/used"} 0`, true},
		{"used-route-timed", `authgate_http_request_duration_seconds_count{route="/used"} 1`, true},
		{"upstream-error-counted", `authgate_upstream_errors_total{kind="timeout",route="/used"} 1`, true},
		{"no-zero-upstream-series", `authgate_upstream_errors_total{kind="canceled"`, false},
		{"unknown-kind-ignored", `kind="made-up"`, false},
		{"forward-auth-counted", `authgate_forward_auth_requests_total{code="4xx",route="/used"} 1`, true},
		{"forward-auth-classes-bound", `authgate_forward_auth_requests_total{code="2xx",route="/used"} 0`, true},
		{"idle-route-has-no-series", `route="/idle"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Contains(out, tc.series); got != tc.want {
				t.Errorf("scrape contains %q = %v, want %v", tc.series, got, tc.want)
			}
		})
	}
}

// TestTLSCertificateGauges: a failed load sets the certificate's
// last_reload_successful to 0 and leaves the expiry of the one in service.
func TestTLSCertificateGauges(t *testing.T) {
	m := New("test")
	expiry := time.Unix(1900000000, 0)
	m.TLSCertificateLoaded("file", expiry, true)
	m.TLSCertificateLoaded("file", time.Time{}, false)
	out := scrape(t, m)
	for _, want := range []string{
		`authgate_tls_certificate_expiry_timestamp_seconds{certificate="file"} 1.9e+09`,
		`authgate_tls_certificate_last_reload_successful{certificate="file"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// TestConfigReloadGauges: a failed reload leaves the time of the last good
// one, so an alert can say both "the last reload failed" and "since when
// the config serving is old".
func TestConfigReloadGauges(t *testing.T) {
	m := New("test")
	start := time.Unix(1_700_000_000, 500_000_000)
	m.ConfigLoaded(start)
	m.ConfigReloaded(true, start.Add(time.Minute))
	m.ConfigReloaded(false, start.Add(2*time.Minute))
	m.RestartRequired(true)
	out := scrape(t, m)
	for _, series := range []string{
		"authgate_config_last_reload_successful 0",
		"authgate_config_last_reload_success_timestamp_seconds 1.7000000605e+09",
		`authgate_config_reloads_total{result="success"} 1`,
		`authgate_config_reloads_total{result="failure"} 1`,
		"authgate_config_restart_required 1",
	} {
		if !strings.Contains(out, series+"\n") {
			t.Errorf("scrape lacks %q", series)
		}
	}
}
