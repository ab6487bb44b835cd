package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/redisstate"
	"github.com/authgate/authgate/internal/store"
	"github.com/authgate/authgate/internal/throttle"
)

// State is what outlives any one config: revocations, refresh families and
// login throttles. run builds it once; a config reloaded later becomes a
// new Gateway over the same State, so no logout, refresh family or lockout
// is forgotten. Several replicas share one State's contents by keeping it
// on Redis (OpenState with state.redis).
type State struct {
	// Store keeps revocations and refresh families. A Store that cannot
	// answer makes the gateway refuse what it would have to look up: it
	// fails closed.
	Store store.Store
	// Revocations answers the revocation reads every request makes
	// (deny:*, epoch:* keys) from memory, never from the network; nil
	// means Store, which must then be in process. Writes go to Store.
	Revocations reader
	// Users and Clients throttle failed logins per username and per
	// client address.
	Users, Clients limiter
	// shared is the Redis link when the state lives there; nil in process.
	shared *redisstate.Redis
}

// reader is the read half of store.Store.
type reader interface {
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
}

// limiter is a login throttle: a token bucket per key. Its errors are
// store.ErrUnavailable: the bucket could not be read or charged.
type limiter interface {
	// Wait returns how long key must wait before its next attempt is
	// admitted; zero when it may go now.
	Wait(ctx context.Context, key string) (time.Duration, error)
	// Take charges an attempt to key, or returns how long to wait.
	Take(ctx context.Context, key string) (time.Duration, error)
	// Refund gives back an attempt charged by Take.
	Refund(ctx context.Context, key string) error
	// Reset forgets key's failures.
	Reset(ctx context.Context, key string) error
}

// mirroredPrefixes are the keys every replica keeps a copy of, so that
// checkRevoked reads them from memory. Their values only grow, as
// redisstate requires: deny keys hold nothing, an epoch only rises.
var mirroredPrefixes = []string{"deny:", "epoch:"}

// NewState returns the state of a single replica, kept in process: a
// memory store and throttles sized by login. now is their clock (nil means
// time.Now).
func NewState(login config.Login, now func() time.Time) *State {
	return &State{
		Store: store.NewMemory(now),
		Users: localLimiter{throttle.New(throttle.Options{
			Slots: login.ThrottleSlots, Burst: login.User.Burst, Interval: login.User.Interval, Now: now,
		})},
		Clients: localLimiter{throttle.New(throttle.Options{
			Slots: login.ThrottleSlots, Burst: login.Client.Burst, Interval: login.Client.Interval, Now: now,
		})},
	}
}

// StateOptions are what OpenState needs besides the config.
type StateOptions struct {
	// Logger receives the Redis link's changes; nil discards them.
	Logger *slog.Logger
	// OnSyncError is called for every lost link to Redis and failed
	// resynchronisation; nil calls nothing.
	OnSyncError func()
}

// OpenState returns the state cfg asks for: on the Redis deployment
// state.redis names, shared with every replica configured alike, or, when
// there is none, NewState's in-process state. The Redis state starts
// following the deployment at once; Close stops it.
func OpenState(cfg *config.Config, o StateOptions) (*State, error) {
	rc := cfg.State.Redis
	if rc == nil {
		return NewState(cfg.Login, nil), nil
	}
	r, err := redisstate.New(redisstate.Options{
		URL: rc.URL, Sentinel: rc.Sentinel, Password: rc.Password, KeyPrefix: rc.KeyPrefix,
		Mirror: mirroredPrefixes, MaxStaleness: cfg.State.MaxStaleness,
		Logger: o.Logger, OnSyncError: o.OnSyncError,
	})
	if err != nil {
		return nil, fmt.Errorf("shared state: %w", err)
	}
	l := cfg.Login
	return &State{
		Store:       r,
		Revocations: r.Mirror(),
		Users:       r.Limiter("user", l.User.Burst, l.User.Interval),
		Clients:     r.Limiter("client", l.Client.Burst, l.Client.Interval),
		shared:      r,
	}, nil
}

// Close stops following Redis and closes its connections; nothing for
// the in-process state. The state must not be used afterwards.
func (s *State) Close() error {
	if s.shared == nil {
		return nil
	}
	return s.shared.Close()
}

// Up reports whether the state can be trusted now: always in process;
// on Redis, while the link is alive and the copy of the revocations in
// step.
func (s *State) Up() bool { return s.shared == nil || s.shared.Up() }

// SyncAge is how long ago the copy of the revocations was last known
// complete; zero in process, where there is no copy.
func (s *State) SyncAge() time.Duration {
	if s.shared == nil {
		return 0
	}
	return s.shared.SyncAge()
}

// WaitSynced waits until the copy of the revocations was first
// synchronised, or ctx ends; at once in process.
func (s *State) WaitSynced(ctx context.Context) error {
	if s.shared == nil {
		return nil
	}
	return s.shared.WaitSynced(ctx)
}

// revocations is what checkRevoked reads.
func (s *State) revocations() reader {
	if s.Revocations != nil {
		return s.Revocations
	}
	return s.Store
}

// localLimiter is a throttle.Limiter, which never fails, as a limiter.
type localLimiter struct{ l *throttle.Limiter }

func (l localLimiter) Wait(_ context.Context, key string) (time.Duration, error) {
	return l.l.Wait(key), nil
}

func (l localLimiter) Take(_ context.Context, key string) (time.Duration, error) {
	return l.l.Take(key), nil
}

func (l localLimiter) Refund(_ context.Context, key string) error { l.l.Refund(key); return nil }

func (l localLimiter) Reset(_ context.Context, key string) error { l.l.Reset(key); return nil }
