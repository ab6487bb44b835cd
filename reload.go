package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/keys"
	"github.com/authgate/authgate/internal/metrics"
	"github.com/authgate/authgate/internal/server"
	"github.com/authgate/authgate/internal/watch"
)

// pollInterval is how often the watched files are stat'ed; a change is
// applied once a poll finds nothing changed since the one before, so a
// burst of writes (an editor's, a ConfigMap update of several files) is
// one reload, one to two intervals after its last write.
const pollInterval = time.Second

// reloader turns the config on disk into a new gateway while the old one
// serves. Its loop is the only goroutine that touches it.
type reloader struct {
	path      string
	lookupEnv func(string) (string, bool)
	logger    *slog.Logger
	accessLog *slog.Logger
	metrics   *metrics.Metrics
	state     *server.State
	live      *server.Live
	// cfg is the config serving, without its users (the gateway holds
	// them), and with the settings only a restart applies at the values
	// serving.
	cfg *config.Config
	// users is how many users cfg has.
	users int
	// stamps are the watched files as the serving config found them.
	stamps watch.Stamps
}

// newReloader returns a reloader of the config at path, which cfg was
// loaded from and live serves.
func newReloader(path string, lookupEnv func(string) (string, bool), cfg *config.Config, opts server.Options, live *server.Live) *reloader {
	r := &reloader{
		path: path, lookupEnv: lookupEnv, live: live,
		logger: opts.Logger, accessLog: opts.AccessLog, metrics: opts.Metrics, state: opts.State,
		users: len(cfg.Users),
	}
	r.cfg = withoutUsers(cfg)
	r.stamps = watch.Take(r.watched())
	return r
}

// watched are the files whose change reloads: the config and every file
// it names.
func (r *reloader) watched() []string {
	return append([]string{r.path}, r.cfg.Files...)
}

// loop reloads on every value from hup and, while the serving config says
// reload.watch, once changes to the watched files have settled; it returns
// when ctx ends.
func (r *reloader) loop(ctx context.Context, hup <-chan os.Signal) {
	if r.cfg.Reload.Watch {
		r.logger.Info("watching the config and the files it names for changes", "files", len(r.watched()))
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	pending := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.logger.Info("reloading the config", "config", r.path, "trigger", "SIGHUP")
			// The listener's certificate files too; what comes of it is
			// logged and counted by the certificates themselves.
			_ = r.live.ReloadCertificates()
			r.reload(ctx)
			pending = false
		case <-tick.C:
			if !r.cfg.Reload.Watch {
				continue
			}
			now := watch.Take(r.watched())
			switch {
			case !now.Same(r.stamps):
				r.stamps, pending = now, true // wait for the writes to settle
			case pending:
				pending = false
				r.logger.Info("reloading the config", "config", r.path, "trigger", "file change")
				r.reload(ctx)
			}
		}
	}
}

// reload loads the config as authgate check does and, when it is valid,
// swaps in a gateway built from it over the same state; otherwise the
// serving config stays and every problem is logged.
func (r *reloader) reload(ctx context.Context) {
	// Taken before reading, so that a write during the load shows as a
	// change at the next poll instead of being taken for what was loaded.
	before := watch.Take(r.watched())
	r.stamps = before
	next, err := config.Load(r.path, r.lookupEnv)
	prev := r.live.Current()
	var gw *server.Gateway
	var restart []string
	if err == nil {
		restart = keepRestartOnly(r.cfg, next)
		keepEphemeralKey(r.cfg, next)
		gw, err = server.New(next, server.Options{
			Logger: r.logger, AccessLog: r.accessLog, Metrics: r.metrics, State: r.state, Previous: prev,
		})
	}
	if err != nil {
		r.metrics.ConfigReloaded(false, time.Now())
		problems := []error{err}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			problems = joined.Unwrap()
		}
		r.logger.Error("config reload failed: the last good config keeps serving", "config", r.path, "problems", len(problems))
		for _, p := range problems {
			// A Problem names a place and what belongs there, never a value.
			r.logger.Error("config problem", "problem", p.Error())
		}
		return
	}
	if err := r.live.Replace(ctx, gw); err != nil {
		if !errors.Is(err, server.ErrShuttingDown) {
			r.logger.Error("config reload failed: the last good config keeps serving", "error", err.Error())
		}
		return
	}
	r.metrics.ConfigReloaded(true, time.Now())
	r.metrics.RestartRequired(len(restart) > 0)
	for _, w := range next.Warnings {
		r.logger.Warn(w)
	}
	if len(restart) > 0 {
		r.logger.Warn("config changes settings that only a restart applies: they keep their old values until then",
			"settings", strings.Join(restart, ", "))
	}
	r.logger.Info("config reloaded", changes(r.cfg, r.users, prev, next, gw)...)
	r.cfg, r.users = withoutUsers(next), len(next.Users)
	now := watch.Take(r.watched())
	for p, s := range before {
		if _, ok := now[p]; ok {
			now[p] = s
		}
	}
	r.stamps = now
}

// withoutUsers is cfg without its users, which the gateway keeps (at
// 100,000 users a second copy is megabytes).
func withoutUsers(cfg *config.Config) *config.Config {
	c := *cfg
	c.Users = nil
	return &c
}

// keepRestartOnly finds the settings next changes that a running gateway
// cannot: the listeners are bound with theirs, the logger is built once,
// and the login throttles and state.* are part of the state, opened once. It sets them
// in next back to the values serving and returns their names.
func keepRestartOnly(serving, next *config.Config) []string {
	var changed []string
	keep(&changed, "listen", serving.Listen, &next.Listen)
	keep(&changed, "metrics_listen", serving.MetricsListen, &next.MetricsListen)
	keep(&changed, "echo_listen", serving.EchoListen, &next.EchoListen)
	s, n := &serving.Server, &next.Server
	keep(&changed, "server.read_header_timeout", s.ReadHeaderTimeout, &n.ReadHeaderTimeout)
	keep(&changed, "server.write_timeout", s.WriteTimeout, &n.WriteTimeout)
	keep(&changed, "server.idle_timeout", s.IdleTimeout, &n.IdleTimeout)
	keep(&changed, "server.max_header_bytes", s.MaxHeaderBytes, &n.MaxHeaderBytes)
	keep(&changed, "server.max_connections", s.MaxConnections, &n.MaxConnections)
	keep(&changed, "log.format", serving.Log.JSON, &next.Log.JSON)
	keep(&changed, "log.level", serving.Log.Level, &next.Log.Level)
	keep(&changed, "log.flush_interval", serving.Log.FlushInterval, &next.Log.FlushInterval)
	keep(&changed, "login.throttle.user", serving.Login.User, &next.Login.User)
	keep(&changed, "login.throttle.client", serving.Login.Client, &next.Login.Client)
	keep(&changed, "login.throttle.slots", serving.Login.ThrottleSlots, &next.Login.ThrottleSlots)
	if !sameListenerTLS(serving.TLS, next.TLS) {
		changed = append(changed, "tls")
		kept := serving.TLS
		if kept != nil && next.TLS != nil {
			// The header is the gateway's, not the listener's.
			t := *kept
			t.HSTSMaxAge = next.TLS.HSTSMaxAge
			kept = &t
		}
		next.TLS = kept
	}
	// The state's link to Redis is opened once; Redis is compared by value.
	if !reflect.DeepEqual(serving.State, next.State) {
		changed = append(changed, "state")
		next.State = serving.State
	}
	return changed
}

// sameListenerTLS reports whether a and b serve the listener the same
// way: the certificate's source, the TLS versions, the redirecting
// listener and the client certificates asked for are the listener's,
// set when it starts. Only hsts_max_age, a header, may differ.
func sameListenerTLS(a, b *config.TLS) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.CertFile != b.CertFile || a.KeyFile != b.KeyFile || a.MinVersion != b.MinVersion || a.RedirectHTTP != b.RedirectHTTP ||
		(a.ACME == nil) != (b.ACME == nil) || (a.ClientAuth == nil) != (b.ClientAuth == nil) {
		return false
	}
	if x, y := a.ACME, b.ACME; x != nil && (!slices.Equal(x.Domains, y.Domains) || x.Email != y.Email ||
		x.DirectoryURL != y.DirectoryURL || x.StorageDir != y.StorageDir || !x.Roots.Equal(y.Roots)) {
		return false
	}
	if x, y := a.ClientAuth, b.ClientAuth; x != nil && (x.UsernameFrom != y.UsernameFrom || !x.CAs.Equal(y.CAs)) {
		return false
	}
	return true
}

// keepEphemeralKey gives next the key the serving config generated when
// neither names one and the algorithm is the same: a fresh key would end
// every session at each reload.
func keepEphemeralKey(serving, next *config.Config) {
	s, n := &serving.Token, &next.Token
	if s.SecretGenerated && n.SecretGenerated && s.Algorithm == n.Algorithm {
		n.Keys, n.SigningKey = s.Keys, s.SigningKey
	}
}

func keep[T comparable](changed *[]string, name string, serving T, next *T) {
	if *next != serving {
		*changed = append(*changed, name)
		*next = serving
	}
}

// changes says what a reload changed, as counts and names of settings,
// never values: users, routes and keys added, removed and changed, and
// which other sections differ.
func changes(old *config.Config, oldUsers int, oldGW *server.Gateway, next *config.Config, nextGW *server.Gateway) []any {
	added, removed, changed := userChanges(oldUsers, oldGW, next.Users, nextGW)
	attrs := []any{"users", len(next.Users), "users_added", added, "users_removed", removed, "users_changed", changed}
	added, removed, changed = routeChanges(old.Routes, next.Routes)
	attrs = append(attrs, "routes", len(next.Routes), "routes_added", added, "routes_removed", removed, "routes_changed", changed)
	added, removed = keyChanges(old.Token.Keys, next.Token.Keys)
	attrs = append(attrs, "keys", len(next.Token.Keys), "keys_added", added, "keys_removed", removed,
		"signing_key_changed", old.Token.SigningKey != next.Token.SigningKey)
	return append(attrs, "settings_changed", strings.Join(sectionChanges(old, next), ","))
}

// userChanges compares users as the old and new gateways hold them
// (groups from the groups file and the password's fingerprint included),
// so that no second copy of them is kept for this.
func userChanges(oldCount int, oldGW *server.Gateway, next []config.User, nextGW *server.Gateway) (added, removed, changed int) {
	kept := 0
	for _, u := range next {
		a, ok := oldGW.Account(u.Username)
		if !ok {
			added++
			continue
		}
		kept++
		if b, _ := nextGW.Account(u.Username); !sameAccount(a, b) {
			changed++
		}
	}
	return added, oldCount - kept, changed
}

// routeChanges compares routes by name.
func routeChanges(old, next []config.Route) (added, removed, changed int) {
	byName := map[string]config.Route{}
	for _, rt := range old {
		byName[rt.Name] = rt
	}
	for _, rt := range next {
		prev, ok := byName[rt.Name]
		switch {
		case !ok:
			added++
		case !sameRoute(prev, rt):
			changed++
		}
		delete(byName, rt.Name)
	}
	return added, len(byName), changed
}

// sameRoute reports whether a and b are one route unchanged. Their CA
// pools are compared as pools: two loads of one file hold functions that
// reflect.DeepEqual never finds equal.
func sameRoute(a, b config.Route) bool {
	ta, tb := a.TLS, b.TLS
	a.TLS, b.TLS = nil, nil
	if !reflect.DeepEqual(a, b) {
		return false
	}
	if ta == nil || tb == nil {
		return ta == tb
	}
	ca, cb := ta.ClientCertificate, tb.ClientCertificate
	return ta.ServerName == tb.ServerName && ta.RootCAs.Equal(tb.RootCAs) &&
		(ca == nil) == (cb == nil) && (ca == nil || slices.EqualFunc(ca.Certificate, cb.Certificate, bytes.Equal))
}

// keyChanges counts keys by what they verify, so a key whose private half
// was added or dropped is the same key.
func keyChanges(old, next []keys.Key) (added, removed int) {
	for _, k := range next {
		if !slices.ContainsFunc(old, k.Verifies) {
			added++
		}
	}
	for _, k := range old {
		if !slices.ContainsFunc(next, k.Verifies) {
			removed++
		}
	}
	return added, removed
}

// sectionChanges names the other parts of the config that differ.
func sectionChanges(old, next *config.Config) []string {
	oldToken, nextToken := old.Token, next.Token
	oldToken.Keys, nextToken.Keys, oldToken.SigningKey, nextToken.SigningKey = nil, nil, "", ""
	var names []string
	for _, s := range []struct {
		name      string
		old, next any
	}{
		{"token", oldToken, nextToken},
		{"headers", []any{old.IdentityHeader, old.StripHeaders, old.StripHeaderPrefixes, old.UpstreamHeaders},
			[]any{next.IdentityHeader, next.StripHeaders, next.StripHeaderPrefixes, next.UpstreamHeaders}},
		{"default_deny", old.DefaultDeny, next.DefaultDeny},
		{"forward_authorization", old.ForwardAuthorization, next.ForwardAuthorization},
		{"trusted_proxies", old.TrustedProxies, next.TrustedProxies},
		{"paths", old.Paths, next.Paths},
		{"session", old.Session, next.Session},
		{"login", old.Login, next.Login},
		{"server", old.Server, next.Server},
		{"transport", old.Transport, next.Transport},
		{"reload", old.Reload, next.Reload},
	} {
		if !reflect.DeepEqual(s.old, s.next) {
			names = append(names, s.name)
		}
	}
	return names
}

func sameAccount(a, b auth.Account) bool {
	return a.Username == b.Username && slices.Equal(a.Groups, b.Groups) && a.Email == b.Email &&
		a.Disabled == b.Disabled && a.Generation == b.Generation
}
