package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func localUser(t *testing.T, name, password string, cost int) LocalUser {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		t.Fatal(err)
	}
	return LocalUser{Account: Account{Username: name}, Hash: h}
}

func TestLocalCheckPassword(t *testing.T) {
	alice := localUser(t, "alice", "right", bcrypt.MinCost)
	alice.Groups, alice.Email = []string{"staff"}, "alice@example.com"
	off := localUser(t, "off", "right", bcrypt.MinCost)
	off.Disabled = true
	l, err := NewLocal([]LocalUser{alice, off}, PasswordOptions{MaxConcurrent: 1, MaxQueue: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name, user, password string
		want                 error
	}{
		{"right", "alice", "right", nil},
		{"wrong", "alice", "wrong", ErrInvalidCredentials},
		{"unknown-user", "mallory", "right", ErrInvalidCredentials},
		{"disabled-user-right-password", "off", "right", ErrInvalidCredentials},
		{"empty-user", "", "", ErrInvalidCredentials},
		{"case-variant-user", "Alice", "right", ErrInvalidCredentials},
		{"too-long", "alice", "right" + strings.Repeat("x", 72), ErrPasswordTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := l.CheckPassword(ctx, tt.user, tt.password)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CheckPassword(%q, %q) = %v, want %v", tt.user, tt.password, err, tt.want)
			}
			if err == nil && (a.Username != "alice" || a.Email != "alice@example.com" || len(a.Groups) != 1 || a.Generation == "") {
				t.Errorf("CheckPassword(%q) account = %+v, want alice's with her groups, email and generation", tt.user, a)
			}
		})
	}
}

func TestLocalLookup(t *testing.T) {
	alice := localUser(t, "alice", "right", bcrypt.MinCost)
	off := localUser(t, "off", "right", bcrypt.MinCost)
	off.Disabled = true
	l, err := NewLocal([]LocalUser{alice, off}, PasswordOptions{MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, ok := l.Lookup("alice")
	if !ok || a.Username != "alice" || a.Generation != generation(alice.Hash) {
		t.Errorf("Lookup(alice) = %+v, %v; want alice with her hash's generation", a, ok)
	}
	if a, ok := l.Lookup("off"); !ok || !a.Disabled {
		t.Errorf("Lookup(off) = %+v, %v; want the account, disabled", a, ok)
	}
	if _, ok := l.Lookup("mallory"); ok {
		t.Errorf("Lookup(mallory) found an account")
	}
	// A new password is a new generation: tokens of the old one end.
	again := localUser(t, "alice", "new password", bcrypt.MinCost)
	if generation(again.Hash) == generation(alice.Hash) {
		t.Errorf("two hashes share a generation")
	}
}

func TestNewLocalRefuses(t *testing.T) {
	alice := localUser(t, "alice", "right", bcrypt.MinCost)
	tests := []struct {
		name  string
		users []LocalUser
		opts  PasswordOptions
	}{
		{"twice", []LocalUser{alice, alice}, PasswordOptions{MaxConcurrent: 1}},
		{"not-bcrypt", []LocalUser{{Account: Account{Username: "bob"}, Hash: []byte("plain")}}, PasswordOptions{MaxConcurrent: 1}},
		{"no-slots", []LocalUser{alice}, PasswordOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewLocal(tt.users, tt.opts); err == nil {
				t.Errorf("NewLocal succeeded, want an error")
			}
		})
	}
}

func TestLocalShedsWhenSaturated(t *testing.T) {
	l, err := NewLocal([]LocalUser{localUser(t, "alice", "right", bcrypt.MinCost)}, PasswordOptions{MaxConcurrent: 1, MaxQueue: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Occupy the running slot and the queue as two in-flight logins would.
	l.admitted <- struct{}{}
	l.admitted <- struct{}{}
	if _, err := l.CheckPassword(context.Background(), "alice", "right"); !errors.Is(err, ErrBusy) {
		t.Fatalf("CheckPassword with a full queue = %v, want ErrBusy", err)
	}
	<-l.admitted
	l.running <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.CheckPassword(ctx, "alice", "right"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CheckPassword queued behind a busy slot = %v, want the context's error", err)
	}
	<-l.running
	if _, err := l.CheckPassword(context.Background(), "alice", "right"); err != nil {
		t.Fatalf("CheckPassword after the slot freed = %v", err)
	}
}

// TestUnknownUsersPayTheSameCost: bcrypt's work doubles with each cost, so
// a user whose hash has cost c plus dummies of costs c..top-1 does the work
// of one comparison at the highest cost top, as an unknown or disabled
// user does. A disabled user's dearer hash does not raise top.
func TestUnknownUsersPayTheSameCost(t *testing.T) {
	var users []LocalUser
	for _, c := range []int{4, 6, 7} {
		users = append(users, localUser(t, fmt.Sprintf("cost%d", c), "right", c))
	}
	off := localUser(t, "off", "right", 9)
	off.Disabled = true
	l, err := NewLocal(append(users, off), PasswordOptions{MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	work := func(hashes ...[]byte) int {
		total := 0
		for _, h := range hashes {
			c, err := bcrypt.Cost(h)
			if err != nil {
				t.Fatal(err)
			}
			total += 1 << c
		}
		return total
	}
	const want = 1 << 7
	if got := work(l.dummies[l.top]); got != want {
		t.Errorf("an unknown or disabled user's work = %d, want %d", got, want)
	}
	for _, u := range users {
		c, _ := bcrypt.Cost(u.Hash)
		if got := work(append([][]byte{u.Hash}, l.padding(c)...)...); got != want {
			t.Errorf("%s's work = %d, want %d", u.Username, got, want)
		}
	}
	// The padding never lets a wrong password through, nor stops a right one.
	for _, u := range users {
		if _, err := l.CheckPassword(context.Background(), u.Username, "right"); err != nil {
			t.Errorf("CheckPassword(%q, right) = %v, want nil", u.Username, err)
		}
		if _, err := l.CheckPassword(context.Background(), u.Username, "wrong"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("CheckPassword(%q, wrong) = %v, want %v", u.Username, err, ErrInvalidCredentials)
		}
	}
}

// TestLocalLookupFold: the local user a name passes for up to case and
// width, found whether the local name or the one asked for is the folded
// form.
func TestLocalLookupFold(t *testing.T) {
	l, err := NewLocal([]LocalUser{localUser(t, "alice", "x", bcrypt.MinCost), localUser(t, "Bob", "x", bcrypt.MinCost)}, PasswordOptions{MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, want string }{
		{"alice", "alice"}, {"Alice", "alice"}, {"ＡＬＩＣＥ", "alice"},
		{"bob", "Bob"}, {"BOB", "Bob"}, {"Bob", "Bob"},
		{"carol", ""}, {"alicе", ""}, // the last with a Cyrillic е: another name, refused elsewhere as confusable or not
	} {
		a, ok := l.LookupFold(tt.name)
		if ok != (tt.want != "") || a.Username != tt.want {
			t.Errorf("LookupFold(%q) = %q, %v; want %q", tt.name, a.Username, ok, tt.want)
		}
	}
}
