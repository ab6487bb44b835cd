package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/internal/names"
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

// Account is a user as the request path sees it, whichever source it
// comes from: the name it is known by, what it may do, and whether its
// tokens still hold.
type Account struct {
	Username string
	Groups   []string
	Email    string
	// Disabled accounts cannot log in, and their tokens are refused.
	Disabled bool
	// Generation changes whenever every token issued to the account must
	// stop working; tokens carry the one they were issued under. How it is
	// made is the source's business: for a local user it fingerprints the
	// password hash, so a new password ends the old sessions.
	Generation string
	// Provider is the id of the OpenID Connect provider that vouched for
	// the account; empty for a local account. Its sessions are the
	// provider's user's, never a local user's of the same name.
	Provider string
}

// LocalUser is a user the config defines, in its file or an htpasswd
// file.
type LocalUser struct {
	Account
	// Hash is the bcrypt hash of the user's password.
	Hash []byte
}

// Local holds the users the config defines: it checks their passwords
// and looks them up for token validation. It keeps each user once.
//
// Every password check does the bcrypt work of one comparison at the
// highest cost among the enabled users' hashes, whoever is named: an
// unknown or disabled user is compared against a dummy hash of that cost,
// and a user whose hash has a lower cost c is compared against it and then
// against dummies of costs c, c+1, …, top-1, since 2^c + 2^c + 2^(c+1) +
// … + 2^(top-1) = 2^top. With mixed costs a dummy of any one cost would
// tell unknown users from the users of the other costs by the time they
// take.
type Local struct {
	users []LocalUser
	// index finds a user's place in users; an int32 rather than a pointer
	// keeps 100,000 users' index small and out of the collector's way.
	index map[string]int32
	// folded finds, by names.Fold of its name, each user whose name is
	// not already its own folded form (few are), so that LookupFold needs
	// no second index of every user.
	folded map[string]int32
	// top is the highest cost among enabled users' hashes; dummies[c] is a
	// hash of a random password at cost c, for each cost from the lowest
	// to top.
	top     int
	dummies map[int][]byte
	// admitted holds one token per login running or queued; running holds
	// one per comparison in progress.
	admitted chan struct{}
	running  chan struct{}
}

// NewLocal returns the source of users, each of which must have a bcrypt
// hash and a name of its own. A user's Generation is made from its hash.
// Without enabled users, unknown users pay bcrypt.DefaultCost.
func NewLocal(users []LocalUser, opts PasswordOptions) (*Local, error) {
	if opts.MaxConcurrent < 1 || opts.MaxQueue < 0 {
		return nil, errors.New("password checks need MaxConcurrent >= 1 and MaxQueue >= 0")
	}
	l := &Local{
		users:    users,
		index:    make(map[string]int32, len(users)),
		admitted: make(chan struct{}, opts.MaxConcurrent+opts.MaxQueue),
		running:  make(chan struct{}, opts.MaxConcurrent),
	}
	low, top := bcrypt.MaxCost, bcrypt.MinCost
	for i := range users {
		u := &users[i]
		c, err := bcrypt.Cost(u.Hash)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", u.Username, err)
		}
		if _, dup := l.index[u.Username]; dup {
			return nil, fmt.Errorf("user %q is defined twice", u.Username)
		}
		l.index[u.Username] = int32(i)
		if f := names.Fold(u.Username); f != u.Username {
			if l.folded == nil {
				l.folded = map[string]int32{}
			}
			l.folded[f] = int32(i)
		}
		u.Generation = generation(u.Hash)
		if !u.Disabled {
			low, top = min(low, c), max(top, c)
		}
	}
	if low > top { // no enabled user
		low, top = bcrypt.DefaultCost, bcrypt.DefaultCost
	}
	l.top, l.dummies = top, make(map[int][]byte, top-low+1)
	for c := low; c <= top; c++ {
		d, err := dummyHash(c)
		if err != nil {
			return nil, err
		}
		l.dummies[c] = d
	}
	return l, nil
}

// generation fingerprints a password hash: it changes when the password
// does, so tokens issued before a password change stop working.
func generation(hash []byte) string {
	sum := sha256.Sum256(append([]byte("authgate generation "), hash...))
	return base64.RawURLEncoding.EncodeToString(sum[:6])
}

// LookupFold returns the account of the user whose name folds
// (names.Fold) to what name folds to: the local user that name, written
// in other case or width, would pass for in an application that compares
// names loosely. Config refuses two users that fold alike.
func (l *Local) LookupFold(name string) (Account, bool) {
	f := names.Fold(name)
	i, ok := l.index[f]
	if !ok {
		if i, ok = l.folded[f]; !ok {
			return Account{}, false
		}
	}
	return l.users[i].Account, true
}

// Lookup returns the account of username, if the config defines one.
func (l *Local) Lookup(username string) (Account, bool) {
	i, ok := l.index[username]
	if !ok {
		return Account{}, false
	}
	return l.users[i].Account, true
}

// padding returns the dummy hashes to compare after a hash of the given
// cost so that the whole check costs as much as one comparison at l.top.
func (l *Local) padding(cost int) [][]byte {
	var pad [][]byte
	for c := cost; c < l.top; c++ {
		pad = append(pad, l.dummies[c])
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

// CheckPassword returns username's account if password is theirs. It
// returns ErrInvalidCredentials for a wrong password or an unknown or
// disabled user (after the same amount of work, whatever the user's own
// hash costs), ErrPasswordTooLong, ErrBusy when the comparison queue is
// full, or the context's error when the caller gave up waiting.
func (l *Local) CheckPassword(ctx context.Context, username, password string) (Account, error) {
	if len(password) > MaxPasswordBytes {
		return Account{}, ErrPasswordTooLong
	}
	select {
	case l.admitted <- struct{}{}:
	default:
		return Account{}, ErrBusy
	}
	defer func() { <-l.admitted }()
	select {
	case l.running <- struct{}{}:
	case <-ctx.Done():
		return Account{}, ctx.Err()
	}
	defer func() { <-l.running }()

	var u *LocalUser
	if i, ok := l.index[username]; ok && !l.users[i].Disabled {
		u = &l.users[i]
	}
	hash, pad := l.dummies[l.top], [][]byte(nil)
	if u != nil {
		cost, _ := bcrypt.Cost(u.Hash) // NewLocal refused hashes without one
		hash, pad = u.Hash, l.padding(cost)
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	for _, d := range pad {
		_ = bcrypt.CompareHashAndPassword(d, []byte(password))
	}
	if err != nil || u == nil {
		return Account{}, ErrInvalidCredentials
	}
	return u.Account, nil
}
