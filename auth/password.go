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
}

// Passwords checks usernames and passwords against bcrypt hashes.
//
// Every check does the bcrypt work of one comparison at the highest cost
// among the hashes, whoever is named: an unknown user is compared against a
// dummy hash of that cost, and a user whose hash has a lower cost c is
// compared against it and then against dummies of costs c, c+1, …, top-1,
// since 2^c + 2^c + 2^(c+1) + … + 2^(top-1) = 2^top. With mixed costs a
// dummy of any one cost would tell unknown users from the users of the
// other costs by the time they take.
type Passwords struct {
	hashes map[string][]byte
	// top is the highest cost among hashes; dummies[c] is a hash of a
	// random password at cost c, for each cost from the lowest to top.
	top     int
	dummies map[int][]byte
	// admitted holds one token per login running or queued; running holds
	// one per comparison in progress.
	admitted chan struct{}
	running  chan struct{}
}

// NewPasswords returns a checker for hashes (username → bcrypt hash).
// Without hashes, unknown users pay bcrypt.DefaultCost.
func NewPasswords(hashes map[string][]byte, opts PasswordOptions) (*Passwords, error) {
	if opts.MaxConcurrent < 1 || opts.MaxQueue < 0 {
		return nil, errors.New("password checks need MaxConcurrent >= 1 and MaxQueue >= 0")
	}
	low, top := bcrypt.DefaultCost, bcrypt.DefaultCost
	if len(hashes) > 0 {
		low, top = bcrypt.MaxCost, bcrypt.MinCost
	}
	for user, h := range hashes {
		c, err := bcrypt.Cost(h)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", user, err)
		}
		low, top = min(low, c), max(top, c)
	}
	dummies := make(map[int][]byte, top-low+1)
	for c := low; c <= top; c++ {
		d, err := dummyHash(c)
		if err != nil {
			return nil, err
		}
		dummies[c] = d
	}
	return &Passwords{
		hashes:   hashes,
		top:      top,
		dummies:  dummies,
		admitted: make(chan struct{}, opts.MaxConcurrent+opts.MaxQueue),
		running:  make(chan struct{}, opts.MaxConcurrent),
	}, nil
}

// padding returns the dummy hashes to compare after a hash of the given
// cost so that the whole check costs as much as one comparison at p.top.
func (p *Passwords) padding(cost int) [][]byte {
	var pad [][]byte
	for c := cost; c < p.top; c++ {
		pad = append(pad, p.dummies[c])
	}
	return pad
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
// same amount of work, whatever the user's own hash costs),
// ErrPasswordTooLong, ErrBusy when the comparison queue is full, or the
// context's error when the caller gave up waiting.
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
	var pad [][]byte
	if known {
		cost, _ := bcrypt.Cost(hash) // NewPasswords refused hashes without one
		pad = p.padding(cost)
	} else {
		hash = p.dummies[p.top]
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	for _, d := range pad {
		_ = bcrypt.CompareHashAndPassword(d, []byte(password))
	}
	if err != nil || !known {
		return ErrInvalidCredentials
	}
	return nil
}
