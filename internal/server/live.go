package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/tlsconf"
)

// Live is the gateway that answers new requests on Run's listeners. A
// reloaded config becomes a new Gateway (over the same State, with the
// serving one as Options.Previous) that Replace swaps in: each request is
// served to its end by the gateway current when it arrived, so none is
// dropped or sees half of each config.
type Live struct {
	current atomic.Pointer[Gateway]
	// mu orders Replace against the end of Run: once Run is shutting
	// down, nothing replaces the gateway it stopped.
	mu    sync.Mutex
	ended bool
	// certs are the public listener's certificates while Run serves
	// HTTPS: the listener's, so they outlive each gateway.
	certs atomic.Pointer[tlsconf.Certs]
}

// ErrShuttingDown is Replace's refusal once Run is shutting down.
var ErrShuttingDown = errors.New("shutting down")

// NewLive returns a Live serving g.
func NewLive(g *Gateway) *Live {
	l := &Live{}
	l.current.Store(g)
	return l
}

// Current is the gateway new requests go to.
func (l *Live) Current() *Gateway { return l.current.Load() }

// Account is the account username has under g's config, as requests see
// it; a reload compares the old and new gateways' to say what changed.
func (g *Gateway) Account(username string) (auth.Account, bool) { return g.users.Lookup(username) }

// ServeHTTP hands the request to the current gateway.
func (l *Live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.current.Load().handler.ServeHTTP(w, r)
}

// Replace makes g answer every request from now on: it starts g's
// background work (under ctx), swaps it in, then retires the gateway it
// replaces, whose requests in flight finish on it. Call it once Run has
// reported ready; it refuses with ErrShuttingDown once Run is ending.
func (l *Live) Replace(ctx context.Context, g *Gateway) error {
	// Started before the swap, outside the lock: a provider's keys may take
	// a while to fetch, and the new gateway must not answer before it has
	// them.
	g.start(ctx)
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		g.retire(nil)
		return ErrShuttingDown
	}
	old := l.current.Swap(g)
	l.mu.Unlock()
	old.retire(g)
	return nil
}

// end marks Run as shutting down: /readyz answers 503 and no Replace
// follows. It returns the gateway serving at that moment.
func (l *Live) end() *Gateway {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = true
	g := l.current.Load()
	g.SetReady(false)
	return g
}

// start begins what g does in the background, refreshing trusted
// providers' keys and fetching OpenID Connect providers' discovery, until
// ctx ends or g is retired, and makes /readyz answer 200.
func (g *Gateway) start(ctx context.Context) {
	ctx, g.stop = context.WithCancel(ctx)
	for _, s := range g.sources {
		s.Start(ctx)
	}
	for _, p := range g.providerList {
		if p.found.Load() == nil {
			go p.run(ctx)
		}
	}
	g.SetReady(true)
}

// retire stops g's background work once next has replaced it (nil: none
// did). Its requests in flight go on; the upstream connections it does not
// share with next are closed once idle.
func (g *Gateway) retire(next *Gateway) {
	g.SetReady(false)
	g.stop()
	if next == nil || next.transport != g.transport {
		g.transport.CloseIdleConnections()
	}
	for _, t := range g.routeTransports {
		t.CloseIdleConnections()
	}
}

// sameVerification reports whether every token verified under prev would
// verify the same way under next, so the cache of verified tokens may
// carry over: every key of prev is still listed unchanged (keys may be
// added, and the signer may change), and every other setting a token is
// checked against is the same. A provider whose keys come from a file
// never passes: the reload may be that file changing, and the cache does
// not record which key admitted a token.
func sameVerification(prev, next config.Token) bool {
	if prev.Algorithm != next.Algorithm || prev.Issuer != next.Issuer || prev.Audience != next.Audience ||
		prev.Leeway != next.Leeway || prev.CacheSize != next.CacheSize {
		return false
	}
	for _, k := range prev.Keys {
		if !slices.ContainsFunc(next.Keys, k.Verifies) {
			return false
		}
	}
	return slices.EqualFunc(prev.TrustedIssuers, next.TrustedIssuers, func(a, b config.TrustedIssuer) bool {
		return a.JWKSFile == "" && b.JWKSFile == "" && a.Issuer == b.Issuer && a.Audience == b.Audience && a.JWKSURL == b.JWKSURL &&
			slices.Equal(a.Algorithms, b.Algorithms) && a.UsernameClaim == b.UsernameClaim && a.GroupsClaim == b.GroupsClaim
	})
}
