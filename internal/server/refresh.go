package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/authgate/authgate/internal/auth"
)

// errInvalidGrant means a refresh token is unknown, malformed, expired,
// reused or of a revoked session; OAuth 2.0 answers all of them alike.
var errInvalidGrant = errors.New("invalid refresh token")

// errRefreshThrottled means a refresh family rotated refreshRotations
// times within refreshWindow already.
var errRefreshThrottled = errors.New("refresh token rotated too often")

// A family may rotate refreshRotations times per refreshWindow. A client
// rotates about once per access-token lifetime; the rest leaves room for
// retries and restarts. Each rotation costs a signature and a store write,
// so a client rotating in a loop is told to slow down.
const (
	refreshRotations = 5
	refreshWindow    = 60 // seconds
)

// refreshFamily is what the store keeps for one login's refresh tokens,
// under the family's random id: one record however often they rotate,
// holding a hash of the one token that works now. Any other token of the
// family is an earlier one presented again. The tokens themselves are
// never stored.
type refreshFamily struct {
	User       string `json:"u"`
	SessionID  string `json:"sid"`
	Generation string `json:"gen"`
	Epoch      int64  `json:"ep"`
	AuthTime   int64  `json:"at"`
	// AMR is how the user proved who they are at login; every access
	// token of the family carries it.
	AMR []string `json:"amr,omitempty"`
	// End is when the family's refresh tokens stop, however often they
	// rotate.
	End int64 `json:"end"`
	// Current is the SHA-256 of the family's current refresh token.
	Current string `json:"cur"`
	// Rotations counts the rotations since WindowStart (Unix seconds).
	WindowStart int64 `json:"ws"`
	Rotations   int   `json:"n"`
}

// A refresh token is its family's id (16 random bytes), a dot and 32
// random bytes, each base64url. The family id is not the sid, which every
// access token shows: whoever saw an access token could otherwise present
// a made-up token of its family and have the family revoked as reused.
const (
	familyIDBytes = 16
	secretBytes   = 32
)

func familyKey(family string) string { return "rf:" + family }

func refreshHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// familyOf returns the family a refresh token names, or false for anything
// that cannot be one of authgate's refresh tokens.
func familyOf(token string) (string, bool) {
	family, secret, ok := strings.Cut(token, ".")
	if !ok || len(family) > 32 || len(secret) > 64 {
		return "", false
	}
	f, err1 := base64.RawURLEncoding.Strict().DecodeString(family)
	s, err2 := base64.RawURLEncoding.Strict().DecodeString(secret)
	if err1 != nil || err2 != nil || len(f) != familyIDBytes || len(s) != secretBytes {
		return "", false
	}
	return family, true
}

// nextRefreshToken returns a new token of family and its hash.
func nextRefreshToken(family string) (token, hash string, err error) {
	secret, err := randomToken() // secretBytes of them
	if err != nil {
		return "", "", err
	}
	token = family + "." + secret
	return token, refreshHash(token), nil
}

// newFamily stores a new refresh family for s and returns its first token.
func (g *Gateway) newFamily(ctx context.Context, s auth.Subject, end time.Time) (string, error) {
	var id [familyIDBytes]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}
	family := base64.RawURLEncoding.EncodeToString(id[:])
	token, hash, err := nextRefreshToken(family)
	if err != nil {
		return "", err
	}
	now := g.now()
	rec, _ := json.Marshal(refreshFamily{User: s.Username, SessionID: s.SessionID, Generation: s.Generation, Epoch: s.Epoch,
		AuthTime: s.AuthTime.Unix(), AMR: s.AMR, End: end.Unix(), Current: hash, WindowStart: now.Unix()})
	if ok, err := g.store.Add(ctx, familyKey(family), rec, min(g.cfg.Token.Refresh.TTL, end.Sub(now))); err != nil || !ok {
		return "", errors.Join(errors.New("store refresh family"), err)
	}
	return token, nil
}

// issueTokens answers a successful login or refresh: an access token for
// s and refreshToken, if any.
func (g *Gateway) issueTokens(w http.ResponseWriter, s auth.Subject, refreshToken string) error {
	issued, err := g.tokens.Issue(s)
	if err != nil {
		return err
	}
	body := map[string]any{"access_token": issued.Token, "token_type": "Bearer", "expires_in": issued.ExpiresIn}
	if refreshToken != "" {
		body["refresh_token"] = refreshToken
	}
	out, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(out)+1))
	_, _ = w.Write(append(out, '\n'))
	return nil
}

// refresh serves POST /token/refresh: it swaps a refresh token for a new
// access token and a new refresh token. Each refresh token works once;
// presenting one again means it was stolen (or its holder raced a thief),
// so the whole session is revoked (RFC 9700 §4.14.2).
func (g *Gateway) refresh() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		info := requestInfoFrom(r.Context())
		if !g.cfg.Token.Refresh.Enabled {
			writeJSONError(w, http.StatusNotFound, "not_found")
			return
		}
		token, err := readRefreshRequest(w, r, g.cfg.Login.MaxBodyBytes)
		if err != nil {
			info.reason = "bad_request"
			writeJSONError(w, http.StatusBadRequest, "invalid_request")
			return
		}
		next, err := g.redeem(r.Context(), token)
		if errors.Is(err, errInvalidGrant) || errors.Is(err, errRefreshThrottled) {
			d := classifyDenial(err)
			info.reason = d.reason
			g.metrics.TokenRejected(d.reason)
			if next.retryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(next.retryAfter))
			}
			writeJSONError(w, d.status, d.reason) // both reasons are OAuth 2.0 error codes
			return
		}
		if err == nil {
			info.user = next.subject.Username
			err = g.issueTokens(w, next.subject, next.refreshToken)
		}
		if err != nil {
			g.fail(w, r, "refresh", err)
		}
	})
}

// redeemed is a refresh token swapped for its successor.
type redeemed struct {
	subject      auth.Subject
	refreshToken string
	// retryAfter is in seconds, with errRefreshThrottled.
	retryAfter int
}

// redeem replaces a family's current refresh token by a new one and
// returns whom to issue tokens to. Rotation and reuse detection go through
// the store's compare-and-swap alone, so that replicas sharing a store
// cannot both rotate one token. A throttled rotation leaves the token
// current.
func (g *Gateway) redeem(ctx context.Context, token string) (redeemed, error) {
	family, ok := familyOf(token)
	if !ok {
		return redeemed{}, errInvalidGrant
	}
	key := familyKey(family)
	raw, ok, err := g.store.Get(ctx, key)
	if err != nil {
		return redeemed{}, err
	}
	var rec refreshFamily
	if !ok || json.Unmarshal(raw, &rec) != nil {
		return redeemed{}, errInvalidGrant
	}
	if rec.Current == "" {
		return redeemed{}, errInvalidGrant // revoked when a token of it was reused
	}
	if subtle.ConstantTimeCompare([]byte(refreshHash(token)), []byte(rec.Current)) != 1 {
		// Only tokens of the family name it: this is an earlier one.
		if err := g.reuseDetected(ctx, key, rec); err != nil {
			return redeemed{}, err
		}
		return redeemed{}, errInvalidGrant
	}
	now := g.now()
	end := time.Unix(rec.End, 0)
	if !now.Before(end) {
		return redeemed{}, errInvalidGrant
	}
	// From the store itself, not the copy the request path reads: a logout
	// on another replica a moment ago counts. An error is not an answer:
	// the token may still be good once the store is back.
	if _, revoked, err := g.store.Get(ctx, deniedSession("", rec.SessionID)); err != nil || revoked {
		return redeemed{}, cmp.Or(err, errInvalidGrant)
	}
	if epoch, err := g.epoch(ctx, "", rec.User); err != nil || rec.Epoch < epoch {
		return redeemed{}, cmp.Or(err, errInvalidGrant) // logged out everywhere since
	}
	a, ok := g.users.Lookup(rec.User)
	if !ok || a.Disabled || a.Generation != rec.Generation {
		return redeemed{}, errInvalidGrant
	}
	next := rec
	if now.Unix()-rec.WindowStart >= refreshWindow {
		next.WindowStart, next.Rotations = now.Unix(), 0
	}
	if next.Rotations >= refreshRotations {
		wait := min(max(next.WindowStart+refreshWindow-now.Unix(), 1), refreshWindow)
		return redeemed{retryAfter: int(wait)}, errRefreshThrottled
	}
	next.Rotations++
	newToken, hash, err := nextRefreshToken(family)
	if err != nil {
		return redeemed{}, err
	}
	next.Current = hash
	b, _ := json.Marshal(next)
	swapped, err := g.store.CompareAndSwap(ctx, key, raw, b, min(g.cfg.Token.Refresh.TTL, end.Sub(now)))
	if err != nil {
		return redeemed{}, err
	}
	if !swapped {
		// Used concurrently: one of the two is not the owner.
		if err := g.reuseDetected(ctx, key, rec); err != nil {
			return redeemed{}, err
		}
		return redeemed{}, errInvalidGrant
	}
	s := subject(a, rec.SessionID, time.Unix(rec.AuthTime, 0), rec.AMR)
	s.Epoch, s.SessionEnd = rec.Epoch, end.Add(g.cfg.Token.TTL)
	return redeemed{subject: s, refreshToken: newToken}, nil
}

// reuseDetected revokes the session of a refresh token used twice: the
// session, until the last access token its family could have issued
// expires, and the family under key, which from then on names no token.
// Either write alone ends the family's refresh tokens; an error means
// neither took, and the caller must not answer as if it had.
func (g *Gateway) reuseDetected(ctx context.Context, key string, rec refreshFamily) error {
	g.metrics.TokenRejected("refresh_reuse")
	g.logger.LogAttrs(ctx, slog.LevelWarn, "security incident: a refresh token was used twice; its session is revoked",
		slog.String("user", rec.User), slog.String("session", rec.SessionID))
	now, end := g.now(), time.Unix(rec.End, 0)
	keep := end.Add(g.cfg.Token.TTL + g.cfg.Token.Leeway + time.Second).Sub(now)
	sessionErr := g.store.Set(ctx, deniedSession("", rec.SessionID), nil, max(keep, time.Second))
	dead := rec
	dead.Current = "" // the hash of no token
	b, _ := json.Marshal(dead)
	familyErr := g.store.Set(ctx, key, b, max(end.Sub(now), time.Second))
	if sessionErr != nil || familyErr != nil {
		err := fmt.Errorf("revoke session after refresh reuse: %w", errors.Join(sessionErr, familyErr))
		g.logger.LogAttrs(ctx, slog.LevelError, "revoke session after refresh reuse", slog.String("error", err.Error()))
		if sessionErr != nil && familyErr != nil {
			return err
		}
	}
	return nil
}

// readRefreshRequest reads the refresh token from an OAuth 2.0 form
// (grant_type=refresh_token&refresh_token=...) or JSON body.
func readRefreshRequest(w http.ResponseWriter, r *http.Request, maxBody int64) (string, error) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", errBadLoginBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return "", errBadLoginBody
	}
	var token, grant string
	switch mediaType {
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil || len(v["refresh_token"]) != 1 || len(v["grant_type"]) > 1 {
			return "", errBadLoginBody
		}
		token, grant = v.Get("refresh_token"), v.Get("grant_type")
	case "application/json":
		f, err := parseStrictJSON(body, []string{"refresh_token"}, []string{"grant_type"})
		if err != nil {
			return "", err
		}
		token, grant = f["refresh_token"], f["grant_type"]
	default:
		return "", errBadLoginBody
	}
	// A token of any other length is well-formed OAuth, just not a grant
	// authgate issued: redeem answers invalid_grant.
	if (grant != "" && grant != "refresh_token") || token == "" {
		return "", errBadLoginBody
	}
	return token, nil
}
