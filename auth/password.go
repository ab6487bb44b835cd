package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// MaxPasswordBytes is bcrypt's input limit. Longer passwords are refused
// rather than truncated, so two passwords sharing 72 bytes never match.
const MaxPasswordBytes = 72

// PasswordOptions bounds the bcrypt work a flood of logins can cause.
type PasswordOptions struct {
	// MaxConcurrent is how many comparisons run at once; it must be positive.
	MaxConcurrent int
	// MaxQueue is how many more may wait for a slot; zero means none wait
	// and a login that finds every slot busy is refused with ErrBusy.
	MaxQueue int
	// Run runs a comparison and returns when it is done (on a
	// low-priority thread, say); nil runs it on the calling goroutine.
	Run func(func())
}

// Passwords checks usernames and passwords against bcrypt hashes.
type Passwords struct {
	hashes map[string][]byte
	// dummy is compared for unknown users so that they cost as much as
	// known ones and timing does not reveal which usernames exist.
	dummy []byte
	// admitted holds one token per login running or queued; running holds
	// one per comparison in progress.
	admitted chan struct{}
	running  chan struct{}
	run      func(func())
}

// NewPasswords returns a checker for hashes (username → bcrypt hash).
func NewPasswords(hashes map[string][]byte, opts PasswordOptions) (*Passwords, error) {
	if opts.MaxConcurrent < 1 || opts.MaxQueue < 0 {
		return nil, errors.New("password checks need MaxConcurrent >= 1 and MaxQueue >= 0")
	}
	cost := bcrypt.DefaultCost
	for user, h := range hashes {
		c, err := bcrypt.Cost(h)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", user, err)
		}
		cost = max(cost, c)
	}
	dummy, err := dummyHash(cost)
	if err != nil {
		return nil, err
	}
	return &Passwords{
		hashes:   hashes,
		dummy:    dummy,
		admitted: make(chan struct{}, opts.MaxConcurrent+opts.MaxQueue),
		running:  make(chan struct{}, opts.MaxConcurrent),
		run:      opts.Run,
	}, nil
}

// dummyHash makes a bcrypt hash of a random password at the given cost
// without paying that cost: it hashes at the minimum cost and rewrites the
// cost field, which is all CompareHashAndPassword reads to decide how much
// work to do.
func dummyHash(cost int) ([]byte, error) {
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	h, err := bcrypt.GenerateFromPassword(pw, bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	copy(h[4:6], fmt.Sprintf("%02d", cost))
	return h, nil
}

// Check reports whether password is username's. It returns nil on a match,
// ErrInvalidCredentials for a wrong password or an unknown user (after the
// same amount of work), ErrPasswordTooLong, ErrBusy when the comparison
// queue is full, or the context's error when the caller gave up waiting.
func (p *Passwords) Check(ctx context.Context, username, password string) error {
	if len(password) > MaxPasswordBytes {
		return ErrPasswordTooLong
	}
	select {
	case p.admitted <- struct{}{}:
	default:
		return ErrBusy
	}
	defer func() { <-p.admitted }()
	select {
	case p.running <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.running }()

	hash, known := p.hashes[username]
	if !known {
		hash = p.dummy
	}
	var err error
	compare := func() { err = bcrypt.CompareHashAndPassword(hash, []byte(password)) }
	if p.run != nil {
		p.run(compare)
	} else {
		compare()
	}
	if err != nil || !known {
		return ErrInvalidCredentials
	}
	return nil
}
