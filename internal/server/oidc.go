package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/names"
)

// Sign-in through an OpenID Connect provider is an authorization-code flow
// with PKCE (S256), relying on go-oidc (discovery, the provider's keys,
// the ID token's signature, iss, aud and exp) and x/oauth2 (the
// authorization URL and the code exchange). What is authgate's own: the
// flow cookie that binds state, nonce and the PKCE verifier to the browser
// (flow.go), single use of each state in the State store, the checks
// go-oidc leaves to its caller (algorithms pinned to the provider's
// asymmetric ones, azp, nonce, iat), mapping claims to an account, and
// ending, like every login method, in beginSession.

// Refusals of a sign-in through a provider; classifyDenial maps each to
// its status and reason.
var (
	errProviderUnknown     = errors.New("no provider with this id")
	errProviderUnavailable = errors.New("the provider's discovery document is not loaded yet")
	errProviderError       = errors.New("the provider answered the sign-in with an error")
	errFlowState           = errors.New("missing, forged, expired or mismatched sign-in state")
	errFlowReplayed        = errors.New("sign-in state used twice")
	errUnsafeRedirect      = errors.New("rd outside the redirect allow-list")
	errCodeExchange        = errors.New("code exchange failed")
	errIDTokenAlgorithm    = errors.New("ID token algorithm not among the provider's asymmetric ones")
	errIDTokenSignature    = errors.New("ID token signature invalid")
	errIDTokenIssuer       = errors.New("ID token from another issuer")
	errIDTokenAudience     = errors.New("ID token for another client (aud or azp)")
	errIDTokenExpired      = errors.New("ID token expired")
	errIDTokenNonce        = errors.New("ID token nonce mismatch")
	errIDTokenClaims       = errors.New("ID token or userinfo claims unusable")
	errEmailUnverified     = errors.New("email not verified where the email domain decides")
	errEmailDomain         = errors.New("email domain not allowed")
	errGroupNotAllowed     = errors.New("user in none of the allowed groups")
	errShadowsLocal        = errors.New("provider user named like a local user")
	errSignInBroken        = errors.New("sign-in failed on authgate's side")
)

const (
	// discoveryTimeout bounds one fetch of a discovery document.
	discoveryTimeout = 10 * time.Second
	// maxProviderBody bounds every answer read from a provider.
	maxProviderBody = 1 << 20
	// maxGroupsRead bounds the groups read from a claim; more are ignored.
	maxGroupsRead = 1000
	// maxSessionCookie bounds the session cookie a provider's user gets,
	// name=value, whatever the provider sends.
	maxSessionCookie = 1024
)

// asymmetricAlgs are the ID token algorithms accepted, when the provider
// publishes them: never none, never HS256 (whose key would be the client
// secret, which the provider is not the only one to know).
var asymmetricAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// provider is one configured OpenID Connect provider at run time.
type provider struct {
	cfg    config.Provider
	client *http.Client
	logger *slog.Logger
	now    func() time.Time
	// onError counts a failed discovery.
	onError func()
	// found is the discovery result; nil until it has loaded.
	found atomic.Pointer[discovered]
	// failing is set while discovery keeps failing, for the login page.
	failing atomic.Bool
	// generation fingerprints the settings that decide whom the provider
	// admits and as whom; its users' sessions carry it and end when it
	// changes.
	generation string
}

// discovered is what a provider's discovery document settled.
type discovered struct {
	rp       *oidc.Provider
	verifier *oidc.IDTokenVerifier
	algs     []string
}

func newProvider(pc config.Provider, logger *slog.Logger, now func() time.Time, onError func()) *provider {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &provider{
		cfg:        pc,
		client:     &http.Client{Timeout: discoveryTimeout, Transport: limitedBodies{tr}},
		logger:     logger.With(slog.String("provider", pc.ID)),
		now:        now,
		onError:    onError,
		generation: providerGeneration(pc),
	}
}

// providerGeneration fingerprints pc's admission rules: issuer, client,
// claims read, allowed groups and domains, and mapping to local users.
func providerGeneration(pc config.Provider) string {
	b, _ := json.Marshal([]any{pc.Issuer, pc.ClientID, pc.UsernameClaim, pc.GroupsClaim, pc.AllowedGroups, pc.AllowedEmailDomains, pc.MapToLocal})
	sum := sha256.Sum256(b)
	return "p" + base64.RawURLEncoding.EncodeToString(sum[:6])
}

// limitedBodies cuts every answer at maxProviderBody: go-oidc and
// x/oauth2 read whole bodies, and a provider (or whoever answers in its
// name) must not make the gateway hold an unbounded one.
type limitedBodies struct{ rt http.RoundTripper }

func (l limitedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(r)
	if err == nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, maxProviderBody), resp.Body}
	}
	return resp, err
}

// context carries the provider's HTTP client to go-oidc and x/oauth2.
func (p *provider) context(ctx context.Context) context.Context {
	return context.WithValue(oidc.ClientContext(ctx, p.client), oauth2.HTTPClient, p.client)
}

// run fetches the discovery document until it has it or ctx ends,
// retrying with a growing pause: a provider that is down at start must
// not stop the gateway, whose other ways to sign in keep working.
func (p *provider) run(ctx context.Context) {
	pause := time.Second
	for {
		err := p.discover(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		p.failing.Store(true)
		p.onError()
		// go-oidc's error may quote the whole answer: the start is enough.
		msg := err.Error()
		msg = msg[:min(len(msg), 300)]
		p.logger.LogAttrs(ctx, slog.LevelWarn, "provider discovery failed; retrying", slog.String("error", msg), slog.Duration("retry_in", pause))
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(pause*2, time.Minute)
	}
}

// discover fetches and checks the discovery document once.
func (p *provider) discover(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	// go-oidc refuses a document whose issuer is not exactly ours.
	rp, err := oidc.NewProvider(p.context(ctx), p.cfg.Issuer)
	if err != nil {
		return err
	}
	var meta struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := rp.Claims(&meta); err != nil {
		return err
	}
	algs := []string{"RS256"} // OpenID Connect Discovery: RS256 when none is listed
	if len(meta.Algs) > 0 {
		algs = slices.DeleteFunc(slices.Clone(meta.Algs), func(a string) bool { return !slices.Contains(asymmetricAlgs, a) })
	}
	if len(algs) == 0 {
		return errors.New("the provider publishes no asymmetric ID token algorithm")
	}
	ep := rp.Endpoint()
	if ep.AuthURL == "" || ep.TokenURL == "" {
		return errors.New("the discovery document names no authorization or token endpoint")
	}
	d := &discovered{rp: rp, algs: algs}
	d.verifier = rp.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, SupportedSigningAlgs: algs, Now: p.now})
	p.found.Store(d)
	p.failing.Store(false)
	p.logger.LogAttrs(ctx, slog.LevelInfo, "provider discovered", slog.String("algorithms", strings.Join(algs, ",")))
	return nil
}

// oauth2 is the client configuration for one flow, whose redirect URI
// depends on the host the browser used.
func (p *provider) oauth2(d *discovered, redirectURI string) *oauth2.Config {
	ep := d.rp.Endpoint()
	if p.cfg.ClientSecret == "" {
		// A public client authenticates with its client_id in the body
		// and PKCE; never with an empty Basic password.
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, Endpoint: ep, RedirectURL: redirectURI, Scopes: p.cfg.Scopes}
}

// jwtPeek is what is read from an ID token before it is verified: only to
// refuse an algorithm early and to say why a verification failed, never to
// decide anything verification would accept.
type jwtPeek struct {
	alg string
	iss string
	aud jwt.ClaimStrings
	azp string
}

func peekJWT(raw string) (jwtPeek, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return jwtPeek{}, false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	var c struct {
		Iss string           `json:"iss"`
		Aud jwt.ClaimStrings `json:"aud"`
		Azp string           `json:"azp"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	if err1 != nil || err2 != nil || json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		return jwtPeek{}, false
	}
	return jwtPeek{alg: h.Alg, iss: c.Iss, aud: c.Aud, azp: c.Azp}, true
}

// verifyIDToken checks an ID token completely: go-oidc checks the
// signature by the provider's keys with the pinned algorithms, iss, aud
// and exp; then azp, nonce and iat.
func (p *provider) verifyIDToken(ctx context.Context, d *discovered, raw, nonce string, leeway time.Duration) (*oidc.IDToken, error) {
	peek, ok := peekJWT(raw)
	if !ok {
		return nil, fmt.Errorf("%w: not a signed JWT", errIDTokenClaims)
	}
	if !slices.Contains(d.algs, peek.alg) {
		return nil, errIDTokenAlgorithm
	}
	idt, err := d.verifier.Verify(p.context(ctx), raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		switch {
		case errors.As(err, &expired):
			return nil, errIDTokenExpired
		case peek.iss != p.cfg.Issuer:
			return nil, errIDTokenIssuer
		case !slices.Contains(peek.aud, p.cfg.ClientID):
			return nil, errIDTokenAudience
		default:
			return nil, fmt.Errorf("%w: %v", errIDTokenSignature, err)
		}
	}
	// OpenID Connect Core 3.1.3.7: with several audiences azp must be
	// present, and when present it must be this client.
	if (len(idt.Audience) > 1 || peek.azp != "") && peek.azp != p.cfg.ClientID {
		return nil, errIDTokenAudience
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, errIDTokenNonce
	}
	if idt.IssuedAt.IsZero() || idt.IssuedAt.After(p.now().Add(leeway)) {
		return nil, fmt.Errorf("%w: iat missing or in the future", errIDTokenClaims)
	}
	return idt, nil
}

// needsUserinfo says whether claims lacks something the mapping reads, so
// that the userinfo endpoint must be asked: most providers put profile and
// email claims there rather than in the ID token.
func (p *provider) needsUserinfo(claims map[string]any) bool {
	missing := func(k string) bool { _, ok := claims[k]; return !ok }
	return missing(p.cfg.UsernameClaim) || p.cfg.GroupsClaim != "" && missing(p.cfg.GroupsClaim) ||
		len(p.cfg.AllowedEmailDomains) > 0 && (missing("email") || missing("email_verified"))
}

// claims are the ID token's claims, completed from the userinfo endpoint
// when they lack one the mapping reads. The ID token's own win; userinfo
// must be about the same subject.
func (p *provider) claims(ctx context.Context, d *discovered, idt *oidc.IDToken, tok *oauth2.Token) (map[string]any, error) {
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("%w: %v", errIDTokenClaims, err)
	}
	if !p.needsUserinfo(claims) || d.rp.UserInfoEndpoint() == "" {
		return claims, nil
	}
	ui, err := d.rp.UserInfo(p.context(ctx), oauth2.StaticTokenSource(tok))
	if err != nil {
		return nil, fmt.Errorf("%w: userinfo: %v", errCodeExchange, err)
	}
	if ui.Subject != idt.Subject {
		// OpenID Connect Core 5.3.2: a substituted answer.
		return nil, fmt.Errorf("%w: userinfo names another subject", errIDTokenClaims)
	}
	var extra map[string]any
	if err := ui.Claims(&extra); err != nil {
		return nil, fmt.Errorf("%w: userinfo: %v", errIDTokenClaims, err)
	}
	for k, v := range extra {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return claims, nil
}

// account maps claims to the provider's user, or refuses them: a username
// that follows authgate's rule for names, the provider's email and group
// rules. Groups whose names break the rule are dropped, not trusted.
func (p *provider) account(claims map[string]any) (auth.Account, error) {
	username, _ := claims[p.cfg.UsernameClaim].(string)
	if names.Check(username) != nil {
		return auth.Account{}, fmt.Errorf("%w: no usable %s claim", errIDTokenClaims, p.cfg.UsernameClaim)
	}
	a := auth.Account{Username: username, Provider: p.cfg.ID, Generation: p.generation}
	email, _ := claims["email"].(string)
	verified := claims["email_verified"] == true || claims["email_verified"] == "true"
	if p.cfg.UsernameClaim == "email" && !verified {
		// An address the provider has not verified may be anyone's.
		return auth.Account{}, errEmailUnverified
	}
	if verified && names.Check(email) == nil {
		a.Email = email
	}
	if len(p.cfg.AllowedEmailDomains) > 0 {
		at := strings.LastIndexByte(email, '@')
		switch {
		case !verified || at < 0:
			return auth.Account{}, errEmailUnverified
		case !slices.Contains(p.cfg.AllowedEmailDomains, strings.ToLower(email[at+1:])):
			return auth.Account{}, errEmailDomain
		}
	}
	if p.cfg.GroupsClaim != "" {
		a.Groups = groupsOf(claims[p.cfg.GroupsClaim])
	}
	if len(p.cfg.AllowedGroups) > 0 && !slices.ContainsFunc(a.Groups, func(g string) bool { return slices.Contains(p.cfg.AllowedGroups, g) }) {
		return auth.Account{}, errGroupNotAllowed
	}
	return a, nil
}

// groupsOf reads a groups claim: a list of strings, or one string. At
// most maxGroupsRead are read, and only names authgate's rule accepts.
func groupsOf(v any) []string {
	var out []string
	add := func(x any) {
		if s, ok := x.(string); ok && names.Check(s) == nil && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	switch v := v.(type) {
	case []any:
		for _, x := range v[:min(len(v), maxGroupsRead)] {
			add(x)
		}
	case string:
		add(v)
	}
	return out
}
