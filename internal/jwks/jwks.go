// Package jwks keeps an external identity provider's signing keys: fetched
// from its JWKS URL (or read from a file), refreshed in the background,
// refetched when a token names a key it does not know yet (rate-limited, so
// garbage tokens cannot make the gateway hammer the provider), and served
// stale when the provider is down.
package jwks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/authgate/authgate/internal/keys"
)

// ErrUnknownKey means no key with the token's kid is known, even after a
// refetch (or a refetch was not allowed yet).
var ErrUnknownKey = errors.New("unknown signing key")

// maxDocument bounds a JWKS document.
const maxDocument = 1 << 20

// Options configures a Source.
type Options struct {
	// Issuer labels logs and metrics.
	Issuer string
	// URL is fetched over HTTP(S); File is read instead when set.
	URL  string
	File string
	// Algorithms are the only ones whose keys are kept.
	Algorithms []string
	// RefreshEvery is the background refresh period; zero means 10m.
	RefreshEvery time.Duration
	// MinRefetch is the least time between fetches triggered by unknown
	// kids; zero means 30s.
	MinRefetch time.Duration
	// Client fetches URL; nil means a client with a 10s timeout.
	Client *http.Client
	// Logger receives fetch failures; nil discards them.
	Logger *slog.Logger
	// OnFetchError, if set, is called on each failed fetch (for metrics).
	OnFetchError func()
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Source is one provider's key set.
type Source struct {
	opts Options

	mu   sync.RWMutex
	keys map[string]keys.Key

	fetchMu   sync.Mutex // one fetch at a time
	lastFetch time.Time
}

// New returns a Source; call Start to load and refresh it.
func New(o Options) *Source {
	if o.RefreshEvery == 0 {
		o.RefreshEvery = 10 * time.Minute
	}
	if o.MinRefetch == 0 {
		o.MinRefetch = 30 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Source{opts: o, keys: map[string]keys.Key{}}
}

// Start loads the keys once and refreshes them until ctx ends. A failed
// first load is logged, not fatal: the provider may come up later.
func (s *Source) Start(ctx context.Context) {
	if err := s.fetch(ctx); err != nil {
		s.opts.Logger.Warn("identity provider keys not loaded yet", "issuer", s.opts.Issuer, "error", err.Error())
	}
	go func() {
		t := time.NewTicker(s.opts.RefreshEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = s.fetch(ctx)
			}
		}
	}()
}

// Key returns the key named kid, refetching the set once if it is unknown
// and the last fetch is at least MinRefetch old.
func (s *Source) Key(ctx context.Context, kid string) (keys.Key, error) {
	if k, ok := s.lookup(kid); ok {
		return k, nil
	}
	s.fetchMu.Lock()
	// Checked under the fetch lock: of many requests naming unknown kids at
	// once, one fetches and the rest see its result.
	if s.opts.Now().Sub(s.lastFetch) >= s.opts.MinRefetch {
		_ = s.fetchLocked(ctx)
	}
	s.fetchMu.Unlock()
	if k, ok := s.lookup(kid); ok {
		return k, nil
	}
	return keys.Key{}, ErrUnknownKey
}

func (s *Source) lookup(kid string) (keys.Key, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[kid]
	return k, ok
}

// Len is how many keys are held.
func (s *Source) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.keys)
}

// fetch replaces the keys with a fresh copy; on failure the old keys stay
// (stale is better than locking everyone out while the provider is down).
func (s *Source) fetch(ctx context.Context) error {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	return s.fetchLocked(ctx)
}

func (s *Source) fetchLocked(ctx context.Context) error {
	s.lastFetch = s.opts.Now()
	data, err := s.read(ctx)
	var ks []keys.Key
	if err == nil {
		ks, err = keys.ParseJWKS(data, s.opts.Algorithms)
	}
	if err == nil && len(ks) == 0 {
		err = errors.New("the key set has no usable key")
	}
	if err != nil {
		if s.opts.OnFetchError != nil {
			s.opts.OnFetchError()
		}
		s.opts.Logger.Warn("identity provider keys could not be refreshed; serving the previous keys",
			"issuer", s.opts.Issuer, "keys", s.Len(), "error", err.Error())
		return err
	}
	m := make(map[string]keys.Key, len(ks))
	for _, k := range ks {
		m[k.ID] = k
	}
	s.mu.Lock()
	s.keys = m
	s.mu.Unlock()
	return nil
}

func (s *Source) read(ctx context.Context) ([]byte, error) {
	if s.opts.File != "" {
		return os.ReadFile(s.opts.File)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.opts.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWKS answered %d", resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxDocument))
}
