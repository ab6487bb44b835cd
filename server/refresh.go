package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/authgate/authgate/auth"
)

// errInvalidGrant means a refresh token is unknown, expired, reused or of
// a revoked session; OAuth 2.0 answers all of them alike.
var errInvalidGrant = errors.New("invalid refresh token")

// refreshRecord is what the store keeps for one refresh token, under a hash
// of the token: the token itself is never stored.
type refreshRecord struct {
	User       string `json:"u"`
	SessionID  string `json:"sid"`
	Generation string `json:"gen"`
	AuthTime   int64  `json:"at"`
	// FamilyEnd is when the session's refresh tokens stop, however often
	// they rotate.
	FamilyEnd int64 `json:"end"`
	Used      bool  `json:"used"`
}

func refreshKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "rt:" + hex.EncodeToString(sum[:])
}

// issueTokens answers a successful login or refresh: an access token and,
// when refresh tokens are enabled, a new refresh token of the session.
func (g *Gateway) issueTokens(w http.ResponseWriter, r *http.Request, s auth.Subject, familyEnd time.Time) error {
	issued, err := g.tokens.Issue(s)
	if err != nil {
		return err
	}
	body := map[string]any{"access_token": issued.Token, "token_type": "Bearer", "expires_in": issued.ExpiresIn}
	if g.cfg.Token.Refresh.Enabled {
		rt, err := g.newRefreshToken(r.Context(), s, familyEnd)
		if err != nil {
			return err
		}
		body["refresh_token"] = rt
	}
	out, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(out)+1))
	_, _ = w.Write(append(out, '\n'))
	return nil
}

func (g *Gateway) newRefreshToken(ctx context.Context, s auth.Subject, familyEnd time.Time) (string, error) {
	token, err := randomToken()
	if err != nil {
		return "", err
	}
	rec, _ := json.Marshal(refreshRecord{User: s.Username, SessionID: s.SessionID, Generation: s.Generation,
		AuthTime: s.AuthTime.Unix(), FamilyEnd: familyEnd.Unix()})
	ttl := min(g.cfg.Token.Refresh.TTL, familyEnd.Sub(g.now()))
	if ttl <= 0 {
		return "", errInvalidGrant
	}
	if ok, err := g.store.Add(ctx, refreshKey(token), rec, ttl); err != nil || !ok {
		return "", errors.Join(errors.New("store refresh token"), err)
	}
	return token, nil
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
		s, familyEnd, err := g.redeem(r.Context(), token)
		if err != nil {
			info.reason = "invalid_grant"
			g.metrics.TokenRejected("invalid_grant")
			writeJSONError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		info.user = s.Username
		if err := g.issueTokens(w, r, s, familyEnd); err != nil {
			g.logger.LogAttrs(r.Context(), slog.LevelError, "refresh", slog.String("error", err.Error()))
			writeJSONError(w, http.StatusInternalServerError, "internal_error")
		}
	})
}

// redeem marks a refresh token used and returns whom to issue new tokens to.
func (g *Gateway) redeem(ctx context.Context, token string) (auth.Subject, time.Time, error) {
	key := refreshKey(token)
	raw, ok, err := g.store.Get(ctx, key)
	if err != nil || !ok {
		return auth.Subject{}, time.Time{}, errInvalidGrant
	}
	var rec refreshRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return auth.Subject{}, time.Time{}, errInvalidGrant
	}
	if rec.Used {
		g.reuseDetected(ctx, rec)
		return auth.Subject{}, time.Time{}, errInvalidGrant
	}
	used := rec
	used.Used = true
	next, _ := json.Marshal(used)
	familyEnd := time.Unix(rec.FamilyEnd, 0)
	// Keep the used record until the family ends, so a replay is always
	// recognised as one.
	swapped, err := g.store.CompareAndSwap(ctx, key, raw, next, max(familyEnd.Sub(g.now()), time.Second))
	if err != nil {
		return auth.Subject{}, time.Time{}, errInvalidGrant
	}
	if !swapped {
		g.reuseDetected(ctx, rec) // used concurrently: one of the two is not the owner
		return auth.Subject{}, time.Time{}, errInvalidGrant
	}
	if _, revoked, err := g.store.Get(ctx, deniedSession("", rec.SessionID)); err != nil || revoked {
		return auth.Subject{}, time.Time{}, errInvalidGrant
	}
	a, ok := g.accounts[rec.User]
	if !ok || a.disabled || a.generation != rec.Generation || !g.now().Before(familyEnd) {
		return auth.Subject{}, time.Time{}, errInvalidGrant
	}
	return g.subject(rec.User, rec.SessionID, time.Unix(rec.AuthTime, 0)), familyEnd, nil
}

// reuseDetected revokes the session of a refresh token used twice.
func (g *Gateway) reuseDetected(ctx context.Context, rec refreshRecord) {
	g.metrics.TokenRejected("refresh_reuse")
	g.logger.LogAttrs(ctx, slog.LevelWarn, "security incident: a refresh token was used twice; its session is revoked",
		slog.String("user", rec.User), slog.String("session", rec.SessionID))
	if err := g.store.Set(ctx, deniedSession("", rec.SessionID), nil, g.longestLifetime()); err != nil {
		g.logger.LogAttrs(ctx, slog.LevelError, "revoke session after refresh reuse", slog.String("error", err.Error()))
	}
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
	if (grant != "" && grant != "refresh_token") || token == "" || len(token) > 256 {
		return "", errBadLoginBody
	}
	return token, nil
}
