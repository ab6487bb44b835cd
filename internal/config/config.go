// Package config turns authgate's YAML file into typed, validated values.
//
// Load (or Parse, for a document in memory) is the entry point. It works in
// three steps: decode the YAML into file types that mirror it, with the
// decoder's KnownFields rejecting unknown keys (parse.go); validate every
// value, expanding ${VAR} references from the environment, without side
// effects (validate.go); then load what the values name, such as key files
// and the login template (load.go). Every problem from all three is
// reported at once, with its line, column and YAML path. Everything
// downstream works with the typed Config and never re-parses text on the
// request path.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"html/template"
	"log/slog"
	"net/netip"
	"net/url"
	"time"

	"github.com/authgate/authgate/internal/keys"
)

// Config is a loaded, validated gateway configuration.
type Config struct {
	// Listen is the host:port of the public listener.
	Listen string
	// MetricsListen is the host:port of the Prometheus listener; empty
	// disables metrics.
	MetricsListen string
	// EchoListen, when set, starts the built-in echo upstream there (demo use).
	EchoListen string
	// Token configures issued and accepted JWTs.
	Token Token
	// Users are the local accounts, from the file and the htpasswd file.
	Users []User
	// IdentityHeader carries the authenticated username to upstreams.
	IdentityHeader string
	// StripHeaders are removed, in every spelling, from every request sent
	// upstream; it always includes IdentityHeader and the well-known
	// identity headers.
	StripHeaders []string
	// StripHeaderPrefixes are header-name prefixes removed like StripHeaders.
	StripHeaderPrefixes []string
	// DefaultDeny makes forward-auth refuse (403) a request that matches no
	// route instead of admitting any authenticated user.
	DefaultDeny bool
	// UpstreamHeaders names the identity headers beyond the username.
	UpstreamHeaders UpstreamHeaders
	// ForwardAuthorization keeps the client's Authorization header towards
	// upstreams; false (the default) drops it.
	ForwardAuthorization bool
	// TrustedProxies are the peers whose forwarding headers are believed;
	// empty trusts nobody.
	TrustedProxies []netip.Prefix
	// Routes are the proxied prefixes, in file order.
	Routes []Route
	// Paths are the gateway's own endpoints; they win over Routes.
	Paths Paths
	// Log configures the process logger.
	Log Log
	// Server configures the public listener's limits.
	Server Server
	// Transport configures connections to upstreams.
	Transport Transport
	// Login bounds the login endpoint.
	Login Login
	// Session configures browser sessions (the login form and its cookie).
	Session Session
	// LoginPage brands the login form.
	LoginPage LoginPage
	// TLS, when not nil, makes the public listener serve HTTPS; nil
	// serves plain HTTP.
	TLS *TLS
	// Reload says how a running gateway learns that its config changed.
	Reload Reload
	// Providers are the OpenID Connect providers people may sign in with,
	// each a button on the login page (providers.go).
	Providers []Provider
	// APIKeys says how API keys are sent; the keys are the users'.
	APIKeys APIKeys
	// Passkeys, when not nil, enables WebAuthn sign-in and registration.
	Passkeys *Passkeys
	// Files are the files the config names, resolved against its folder:
	// those Load read (key and secret files, htpasswd and groups files,
	// the login template, providers' client_secret_file) and the trusted issuers' jwks_file, which the
	// gateway reads itself. A reload watches them; Validate leaves it
	// empty.
	Files []string
	// State says where revocations, refresh families and throttles live.
	State State
	// Warnings are problems that do not stop the gateway but that an operator
	// must see at start-up.
	Warnings []string
}

// TLS configures HTTPS on the public listener: a certificate from files
// (CertFile and KeyFile) or from an ACME CA (ACME), never both.
type TLS struct {
	// CertFile and KeyFile name the PEM certificate chain and its private
	// key; both empty when ACME is set. Load checks that they parse and
	// match; the gateway re-reads them when they change.
	CertFile, KeyFile string
	// MinVersion is the lowest TLS version accepted: tls.VersionTLS12
	// or tls.VersionTLS13.
	MinVersion uint16
	// ACME, when not nil, obtains and renews the certificate.
	ACME *ACME
	// RedirectHTTP, when set, is the host:port of a plain-HTTP listener
	// that answers 308 to the same URL on https (and ACME HTTP-01
	// challenges).
	RedirectHTTP string
	// HSTSMaxAge is the max-age of the Strict-Transport-Security header
	// on every HTTPS answer; zero sends none.
	HSTSMaxAge time.Duration
	// ClientAuth, when not nil, lets a client certificate sign in.
	ClientAuth *ClientAuth
}

// ACME configures certificates obtained from an ACME CA (RFC 8555).
type ACME struct {
	// Domains are the names the certificate is for, lower case; the
	// gateway answers TLS for no other name.
	Domains []string
	// Email is the account's contact; empty for none.
	Email string
	// DirectoryURL is the CA's directory (https).
	DirectoryURL string
	// Roots verify the CA's directory: the system's roots plus those of
	// acme.ca_file; nil (without a ca_file) means the system's alone.
	Roots *x509.CertPool
	// StorageDir keeps the certificates and the account key (mode 0700),
	// so that a restart, or another replica sharing it, asks for none.
	StorageDir string
}

// ClientAuth lets a client certificate issued by one of CAs sign in.
type ClientAuth struct {
	// CAs are the CAs a client certificate must chain to.
	CAs *x509.CertPool
	// UsernameFrom names where the username is read: "subject_cn",
	// "san_email" or "san_dns".
	UsernameFrom string
}

// Token configures JWT issuing and validation.
type Token struct {
	// Algorithm is the one algorithm tokens are signed and verified with.
	Algorithm string
	// Keys are every key tokens may be verified with; each token names its
	// key by kid. When the file names none, Load generates an ephemeral
	// one and sets SecretGenerated.
	Keys []keys.Key
	// SigningKey is the kid of the key new tokens are signed with.
	SigningKey string
	// SecretGenerated reports that the only key is ephemeral.
	SecretGenerated bool
	// Refresh configures refresh tokens; off unless Enabled.
	Refresh Refresh
	// TrustedIssuers are identity providers whose tokens are accepted too.
	TrustedIssuers []TrustedIssuer
	// CacheSize bounds how many verified tokens are remembered so their
	// signatures are checked once; zero disables the cache.
	CacheSize int
	// TTL is the lifetime of an issued token.
	TTL time.Duration
	// Issuer is the iss claim written and required.
	Issuer string
	// Audience is the aud claim written and required.
	Audience string
	// Leeway is the clock skew tolerated on exp, nbf and iat; at most a minute.
	Leeway time.Duration
}

// TrustedIssuer is an external identity provider.
type TrustedIssuer struct {
	Issuer   string
	Audience string
	// JWKSURL or JWKSFile (exactly one) supplies the provider's keys.
	JWKSURL  string
	JWKSFile string
	// Algorithms accepted from it: RS256, ES256, EdDSA.
	Algorithms []string
	// UsernameClaim names the username claim; default sub.
	UsernameClaim string
	// GroupsClaim names the groups claim; empty for none.
	GroupsClaim string
}

// Refresh configures refresh tokens.
type Refresh struct {
	Enabled bool
	// TTL is how long one refresh token may wait to be used.
	TTL time.Duration
	// MaxLifetime bounds a refresh family from its login.
	MaxLifetime time.Duration
}

// UpstreamHeaders names the headers, beyond the identity header, that carry
// the verified identity upstream; an empty name sends nothing.
type UpstreamHeaders struct {
	Groups string
	Email  string
	// Token carries the verified bearer token itself.
	Token string
	// Assertion carries a short-lived JWT the gateway signs per request.
	Assertion    string
	AssertionTTL time.Duration
	// ForwardAuthCookie makes every 2xx forward-auth answer carry Cookie:
	// the request's cookies without the session cookie, for a proxy that
	// copies answer headers over the request it passes on (Traefik,
	// ingress-nginx), so that the application never receives the session
	// cookie. Off by default: the answer would show a script that can
	// reach /verify on its own site that site's cookies, HttpOnly ones too.
	ForwardAuthCookie bool
}

// User is a local account.
type User struct {
	// Username is the login name; it never contains control characters,
	// commas or spaces, so it is safe to place in a header.
	Username string
	// PasswordHash is a bcrypt hash.
	PasswordHash []byte
	// Source says where the account was defined, for messages.
	Source string
	// Groups the user belongs to.
	Groups []string
	// Email, when known.
	Email string
	// Disabled users cannot log in and their tokens stop working.
	Disabled bool
	// APIKeys are the user's keys for machines, each stored as a hash.
	APIKeys []APIKey
	// TOTPSecret is the user's RFC 6238 secret (base32, as authenticator
	// apps take it) from totp_secret or totp_secret_file; empty for none.
	// It is a secret: never log it.
	TOTPSecret string
	// RequireMFA refuses the user any sign-in that does not end with a
	// second factor; with none enrolled, the user cannot sign in.
	RequireMFA bool
	// Passkeys are the user's WebAuthn credentials (public keys).
	Passkeys []Passkey
}

// Passkey is one WebAuthn credential a user registered.
type Passkey struct {
	// Name labels it for people; may be empty.
	Name string
	// ID is the credential ID; PublicKey its COSE public key.
	ID, PublicKey []byte
	// BackupEligible is the authenticator's BE flag at registration
	// (a synced passkey); a sign-in whose flag differs is refused.
	BackupEligible bool
}

// Passkeys configures WebAuthn sign-in.
type Passkeys struct {
	// RPID is the relying party ID: the host name passkeys are bound to.
	RPID string
	// RPName is shown by the browser; default "authgate".
	RPName string
	// Origins are the only origins ceremonies may come from
	// (scheme://host[:port]).
	Origins []string
	// UserVerification is "required" (default), "preferred" or
	// "discouraged".
	UserVerification string
	// SignIn says how passkeys sign people in: "passwordless" (the
	// default, a passkey alone), "second_factor" (only after the
	// password) or "both".
	SignIn string
}

// Passwordless reports whether a passkey alone signs its user in.
func (p *Passkeys) Passwordless() bool { return p.SignIn != "second_factor" }

// SecondFactor reports whether a user with passkeys is asked for one
// after their password.
func (p *Passkeys) SecondFactor() bool { return p.SignIn != "passwordless" }

// APIKey is one key a machine signs in with as its user. Only its
// SHA-256 is known: the key itself was shown once, when it was made.
type APIKey struct {
	// Name labels the key in metrics and logs; unique in the config.
	Name string
	// Hash is the SHA-256 of the whole key ("ag_…").
	Hash [32]byte
	// Expires is when the key stops working; zero for never.
	Expires time.Time
	// Routes, when non-empty, are the names of the only routes the key
	// may be used on.
	Routes []string
	// Methods, when non-empty, are the only methods it may be used with.
	Methods []string
}

// APIKeys configures how API keys are sent.
type APIKeys struct {
	// Header, when set, is a header API keys may be sent in besides
	// Authorization: Bearer; it is stripped before proxying.
	Header string
}

// Route is one proxied prefix.
type Route struct {
	// Name labels the route in logs and metrics; it defaults to host+path.
	Name string
	// Host, when non-empty, restricts the route to that host (lower case,
	// no trailing dot; a port only when the file named one).
	Host string
	// Path is the matched prefix, canonical, without a trailing slash
	// except for the root "/".
	Path string
	// Upstream is the absolute http(s) URL requests are sent to.
	Upstream *url.URL
	// Public routes need no token; identity headers are still stripped.
	Public bool
	// StripPrefix removes Path from the request path before forwarding.
	StripPrefix bool
	// AllowedUsers and AllowedGroups, when either is non-empty, admit only
	// those users and members of those groups.
	AllowedUsers  []string
	AllowedGroups []string
	// Methods, when non-empty, are the only methods allowed (case-exact).
	Methods []string
	// TLS, when not nil, is how an https upstream is verified and what
	// client certificate is shown to it; nil verifies against the
	// system's roots and shows none.
	TLS *UpstreamTLS
	// RequireMFA refuses (403 mfa_required) callers whose sign-in had no
	// second factor: TOTP, a passkey, or a provider marked mfa.
	RequireMFA bool
}

// UpstreamTLS is how the gateway speaks TLS to one route's upstream.
// Verification is never skipped.
type UpstreamTLS struct {
	// RootCAs are the only CAs the upstream's certificate may chain to;
	// nil means the system's roots.
	RootCAs *x509.CertPool
	// ServerName is the name the upstream's certificate must carry, and
	// the SNI sent; empty means the upstream URL's host.
	ServerName string
	// ClientCertificate, when not nil, is shown to an upstream that asks
	// for one (mutual TLS).
	ClientCertificate *tls.Certificate
}

// Paths are the gateway's own endpoints.
type Paths struct {
	Refresh string
	Login   string
	Logout  string
	Verify  string
	Healthz string
	Readyz  string
}

// Session configures browser sessions.
type Session struct {
	// CookieName is the cookie's full name, "__Host-" prefix included when
	// the cookie is Secure and host-only.
	CookieName string
	// CookieDomain, when set, shares the cookie with every subdomain.
	CookieDomain string
	// Secure marks the cookie Secure; false only for plain-HTTP development.
	Secure bool
	// TTL is the lifetime of the token in the cookie; it is re-issued once
	// past half of it.
	TTL time.Duration
	// MaxLifetime bounds a session from its login, however often refreshed.
	MaxLifetime time.Duration
	// AllowedRedirectHosts may appear in rd besides the request's own host
	// and hosts under CookieDomain; lower case.
	AllowedRedirectHosts []string
	// LoginURL is the login page as browsers reach it; empty means the
	// gateway's own login path on the host of the request being checked.
	LoginURL string
	// LogoutRedirect is where POST logout sends the browser.
	LogoutRedirect string
}

// LoginPage brands the login form.
type LoginPage struct {
	Title   string
	LogoURL string
	// Template, when not nil, replaces the built-in page; it is parsed
	// from login_page.template_file.
	Template *template.Template
}

// Reload configures live reloading. SIGHUP always reloads.
type Reload struct {
	// Watch reloads when the config file or a file it names changes;
	// true unless the file says false.
	Watch bool
}

// Log configures logging.
type Log struct {
	// JSON selects the JSON handler; false selects logfmt-style text.
	JSON bool
	// Level is the minimum level logged.
	Level slog.Level
	// FlushInterval is how long log lines may wait in memory to be written
	// together; zero writes each line at once.
	FlushInterval time.Duration
}

// Server bounds what a client can make the public listener hold.
type Server struct {
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response; zero means none, which keeps
	// long-lived streams (SSE, WebSocket) working.
	WriteTimeout time.Duration
	// SendTimeout bounds each write to a client (as nginx's send_timeout):
	// a client that stops reading is cut off, a stream that keeps writing
	// is not; zero disables it.
	SendTimeout time.Duration
	IdleTimeout time.Duration
	// ShutdownGrace is how long in-flight requests may finish after SIGTERM.
	ShutdownGrace  time.Duration
	MaxHeaderBytes int
	// MaxConnections caps concurrently open client connections.
	MaxConnections int
}

// Transport configures the connections to upstreams.
type Transport struct {
	DialTimeout time.Duration
	// ResponseHeaderTimeout turns a hanging upstream into a 504.
	ResponseHeaderTimeout time.Duration
	IdleConnTimeout       time.Duration
	MaxIdleConnsPerHost   int
}

// Login bounds the login endpoint.
type Login struct {
	// MaxBodyBytes caps a login request body.
	MaxBodyBytes int64
	// MaxConcurrent caps bcrypt comparisons running at once.
	MaxConcurrent int
	// MaxQueue caps logins waiting for a comparison slot; more are shed.
	MaxQueue int
	// ShedDelay is the longest a throttled (429) or shed (503) answer is
	// held before it is sent: until the client may retry, at most this
	// long, so a client retrying at once sends about one attempt per
	// ShedDelay; zero answers at once.
	ShedDelay time.Duration
	// User throttles failed logins per username (folded: case, width,
	// whitespace and invisible characters do not make a new name).
	User Throttle
	// Client throttles failed logins per client address (IPv6 per /64).
	Client Throttle
	// ThrottleSlots is how many usernames, and how many clients, are
	// tracked at once; it fixes the memory used.
	ThrottleSlots int
}

// Throttle is a token bucket: Burst failures, then one more per Interval.
type Throttle struct {
	Burst    int
	Interval time.Duration
}

// LogValue keeps a Config's secret out of logs even if the whole struct is
// logged by mistake.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("listen", c.Listen), slog.Int("routes", len(c.Routes)), slog.Int("users", len(c.Users)))
}
