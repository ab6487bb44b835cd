package server

import (
	"time"

	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/store"
	"github.com/authgate/authgate/internal/throttle"
)

// State is what outlives any one config: revocations, refresh families and
// login throttles. run builds it once; a config reloaded later becomes a
// new Gateway over the same State, so no logout, refresh family or lockout
// is forgotten. Several replicas would share one State by giving it a
// shared Store and limiters.
type State struct {
	// Store keeps revocations and refresh families. A Store that cannot
	// answer makes the gateway refuse what it would have to look up: it
	// fails closed.
	Store store.Store
	// Users and Clients throttle failed logins per username and per
	// client address.
	Users, Clients limiter
}

// limiter is a login throttle: a token bucket per key (throttle.Limiter).
type limiter interface {
	// Wait returns how long key must wait before its next attempt is
	// admitted; zero when it may go now.
	Wait(key string) time.Duration
	// Take charges an attempt to key, or returns how long to wait.
	Take(key string) time.Duration
	// Refund gives back an attempt charged by Take.
	Refund(key string)
	// Reset forgets key's failures.
	Reset(key string)
}

// NewState returns the state of a single replica, kept in process: a
// memory store and throttles sized by login. now is their clock (nil means
// time.Now).
func NewState(login config.Login, now func() time.Time) *State {
	return &State{
		Store: store.NewMemory(now),
		Users: throttle.New(throttle.Options{
			Slots: login.ThrottleSlots, Burst: login.User.Burst, Interval: login.User.Interval, Now: now,
		}),
		Clients: throttle.New(throttle.Options{
			Slots: login.ThrottleSlots, Burst: login.Client.Burst, Interval: login.Client.Interval, Now: now,
		}),
	}
}
