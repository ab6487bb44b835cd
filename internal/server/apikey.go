package server

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/config"
)

// Refusals of API keys.
var (
	// errAPIKeyUnknown means the credential looked like an API key but no
	// users[].api_keys line has its hash: never issued, or revoked by
	// deleting its line.
	errAPIKeyUnknown = errors.New("unknown API key")
	// errAPIKeyExpired means the key is past its expires.
	errAPIKeyExpired = errors.New("API key expired")
	// errAPIKeyScope means the key is limited to other routes or methods.
	errAPIKeyScope = errors.New("API key not allowed on this route or method")
)

// amrAPIKey is the amr of a request made with an API key. RFC 8176 has
// no word for it; it is no sign-in, and no second factor.
const amrAPIKey = "apikey"

// apiKey is one configured key, built once per config.
type apiKey struct {
	name     string
	username string
	expires  time.Time // zero: never
	// routes, when not nil, are the names of the only routes it may use.
	routes  map[string]struct{}
	methods []string
}

// buildAPIKeys indexes every user's keys by hash. A request's key is found
// by one map lookup on its SHA-256: the lookup's timing can at most tell
// an attacker something about the hash of the key they sent, which says
// nothing about any configured key (SECURITY.md).
func buildAPIKeys(users []config.User) map[[32]byte]*apiKey {
	out := map[[32]byte]*apiKey{}
	for _, u := range users {
		for _, k := range u.APIKeys {
			ak := &apiKey{name: k.Name, username: u.Username, expires: k.Expires, methods: k.Methods}
			if len(k.Routes) > 0 {
				ak.routes = map[string]struct{}{}
				for _, r := range k.Routes {
					ak.routes[r] = struct{}{}
				}
			}
			out[k.Hash] = ak
		}
	}
	return out
}

// apiKeyCredential returns the API key the request carries, if it carries
// one: in api_keys.header, or as an Authorization bearer credential that
// starts with ag_. bearer is the Authorization credential when already
// read. An api_keys.header that is sent twice or holds something else is
// malformed: explicit credentials that fail, fail the request.
func (g *Gateway) apiKeyCredential(h http.Header) (key string, present bool, err error) {
	name := g.cfg.APIKeys.Header
	if name == "" {
		return "", false, nil
	}
	values, ok := h[name]
	if !ok {
		return "", false, nil
	}
	if len(values) != 1 || !auth.LooksLikeAPIKey(values[0]) || len(values[0]) > auth.MaxTokenBytes {
		return "", true, auth.ErrMalformedCredentials
	}
	return values[0], true, nil
}

// identifyAPIKey finds key's user. Nothing is looked up in the store: a
// key is revoked by deleting its line, which the next config drops.
func (g *Gateway) identifyAPIKey(key string) (principal, error) {
	k, ok := g.apiKeys[auth.HashAPIKey(key)]
	if !ok {
		return principal{}, errAPIKeyUnknown
	}
	if !k.expires.IsZero() && !g.now().Before(k.expires) {
		g.metrics.APIKey(k.name, "expired")
		return principal{}, errAPIKeyExpired
	}
	a, ok := g.users.Lookup(k.username)
	if !ok || a.Disabled {
		return principal{}, errUserGone
	}
	// token stays empty: upstream_headers.token must never hand the key
	// itself to an upstream.
	return principal{
		Identity: auth.Identity{Username: a.Username, AMR: []string{amrAPIKey}},
		groups:   a.Groups, email: a.Email, key: k,
	}, nil
}

// allows applies the key's routes and methods limits; rt nil (no route
// matched) is allowed only to a key without a routes limit.
func (k *apiKey) allows(rt *upstreamRoute, method string) bool {
	if k.routes != nil {
		if rt == nil {
			return false
		}
		if _, ok := k.routes[rt.name]; !ok {
			return false
		}
	}
	return len(k.methods) == 0 || slices.Contains(k.methods, method)
}
