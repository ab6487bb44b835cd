package config

import "go.yaml.in/yaml/v3"

// The file* types mirror the YAML document key for key; a field's yaml tag
// is the contract operators write against: add keys, never rename them.
//
// The decoder checks the document's shape against them (unknown and
// repeated keys, a list or mapping where the other belongs), but every
// value is kept as the yaml.Node it was written as: the decoder hands a
// yaml.Node field the node itself, with its line and column, before it
// resolves aliases or nulls. Expanding ${VAR}, typing and validating each
// value happen afterwards (validate.go), so that every problem can name
// where it was written and a variable's value is typed as if written there.
//
// The names below only say what each value must be; to the decoder they
// are all yaml.Node.
type (
	text     = yaml.Node // a string
	number   = yaml.Node // a whole number
	flag     = yaml.Node // true or false
	duration = yaml.Node // a Go duration such as 30s
)

// position is where a mapping was written. A file type's At field is
// tagged ",inline": the decoder hands an inline field that implements
// yaml.Unmarshaler the whole mapping node and still checks the mapping's
// keys against the enclosing type, so a problem about a key missing from
// the mapping can name its line without giving up KnownFields.
type position struct{ Line, Column int }

// UnmarshalYAML records where the mapping n starts. The decoder calls it
// for the mapping itself first, then for each mapping merged into it
// (<<), which must not move it.
func (p *position) UnmarshalYAML(n *yaml.Node) error {
	if p.Line == 0 {
		p.Line, p.Column = n.Line, n.Column
	}
	return nil
}

type fileConfig struct {
	At                   position        `yaml:",inline"`
	Listen               text            `yaml:"listen"`
	MetricsListen        text            `yaml:"metrics_listen"`
	EchoListen           text            `yaml:"echo_listen"`
	Token                fileToken       `yaml:"token"`
	Users                []*fileUser     `yaml:"users"`
	HtpasswdFile         text            `yaml:"htpasswd_file"`
	HtpasswdGroupsFile   text            `yaml:"htpasswd_groups_file"`
	DefaultDeny          flag            `yaml:"default_deny"`
	UpstreamHeaders      fileUpstream    `yaml:"upstream_headers"`
	IdentityHeader       text            `yaml:"identity_header"`
	StripHeaders         []text          `yaml:"strip_headers"`
	ForwardAuthorization flag            `yaml:"forward_authorization"`
	TrustedProxies       []text          `yaml:"trusted_proxies"`
	Routes               []*fileRoute    `yaml:"routes"`
	Paths                filePaths       `yaml:"paths"`
	Log                  fileLog         `yaml:"log"`
	Server               fileServer      `yaml:"server"`
	Transport            fileTransport   `yaml:"transport"`
	Login                fileLogin       `yaml:"login"`
	Session              fileSession     `yaml:"session"`
	LoginPage            fileLoginPage   `yaml:"login_page"`
	Reload               fileReload      `yaml:"reload"`
	Providers            []*fileProvider `yaml:"providers"`
	TLS                  fileTLS         `yaml:"tls"`
	APIKeys              fileAPIKeys     `yaml:"api_keys"`
	Passkeys             filePasskeys    `yaml:"passkeys"`
	State                fileState       `yaml:"state"`
}

type filePasskeys struct {
	At               position `yaml:",inline"`
	RPID             text     `yaml:"rp_id"`
	RPName           text     `yaml:"rp_name"`
	Origins          []text   `yaml:"origins"`
	UserVerification text     `yaml:"user_verification"`
	SignIn           text     `yaml:"sign_in"`
}

type filePasskey struct {
	At             position `yaml:",inline"`
	Name           text     `yaml:"name"`
	ID             text     `yaml:"id"`
	PublicKey      text     `yaml:"public_key"`
	BackupEligible flag     `yaml:"backup_eligible"`
}

type fileAPIKeys struct {
	Header text `yaml:"header"`
}

type fileAPIKey struct {
	At      position `yaml:",inline"`
	Name    text     `yaml:"name"`
	Hash    text     `yaml:"hash"`
	Expires text     `yaml:"expires"`
	Routes  []text   `yaml:"routes"`
	Methods []text   `yaml:"methods"`
}

// Lists of mappings hold pointers: the decoder keeps a null element as a
// nil pointer where it would drop a null struct, so an element's index in
// the slice stays its index in the document.

type fileSession struct {
	At                   position `yaml:",inline"`
	CookieName           text     `yaml:"cookie_name"`
	CookieDomain         text     `yaml:"cookie_domain"`
	InsecureCookie       flag     `yaml:"insecure_cookie"`
	TTL                  duration `yaml:"ttl"`
	MaxLifetime          duration `yaml:"max_lifetime"`
	AllowedRedirectHosts []text   `yaml:"allowed_redirect_hosts"`
	LoginURL             text     `yaml:"login_url"`
	LogoutRedirect       text     `yaml:"logout_redirect"`
}

type fileReload struct {
	Watch flag `yaml:"watch"`
}

type fileLoginPage struct {
	Title        text `yaml:"title"`
	LogoURL      text `yaml:"logo_url"`
	TemplateFile text `yaml:"template_file"`
}

type fileToken struct {
	At         position      `yaml:",inline"`
	Algorithm  text          `yaml:"algorithm"`
	Keys       []*fileKey    `yaml:"keys"`
	SigningKey text          `yaml:"signing_key"`
	Refresh    fileRefresh   `yaml:"refresh"`
	Trusted    []*fileIssuer `yaml:"trusted_issuers"`
	CacheSize  number        `yaml:"cache_size"`
	Secret     text          `yaml:"secret"`
	SecretFile text          `yaml:"secret_file"`
	TTL        duration      `yaml:"ttl"`
	Issuer     text          `yaml:"issuer"`
	Audience   text          `yaml:"audience"`
	Leeway     duration      `yaml:"leeway"`
}

type fileKey struct {
	At         position `yaml:",inline"`
	ID         text     `yaml:"id"`
	Secret     text     `yaml:"secret"`
	SecretFile text     `yaml:"secret_file"`
	KeyFile    text     `yaml:"key_file"`
}

type fileIssuer struct {
	At            position `yaml:",inline"`
	Issuer        text     `yaml:"issuer"`
	Audience      text     `yaml:"audience"`
	JWKSURL       text     `yaml:"jwks_url"`
	JWKSFile      text     `yaml:"jwks_file"`
	Algorithms    []text   `yaml:"algorithms"`
	UsernameClaim text     `yaml:"username_claim"`
	GroupsClaim   text     `yaml:"groups_claim"`
}

type fileRefresh struct {
	At          position `yaml:",inline"`
	Enabled     flag     `yaml:"enabled"`
	TTL         duration `yaml:"ttl"`
	MaxLifetime duration `yaml:"max_lifetime"`
}

type fileUpstream struct {
	Groups            text     `yaml:"groups"`
	Email             text     `yaml:"email"`
	Token             text     `yaml:"token"`
	Assertion         text     `yaml:"assertion"`
	AssertionTTL      duration `yaml:"assertion_ttl"`
	ForwardAuthCookie flag     `yaml:"forward_auth_cookie"`
}

type fileUser struct {
	At             position       `yaml:",inline"`
	Username       text           `yaml:"username"`
	PasswordHash   text           `yaml:"password_hash"`
	Groups         []text         `yaml:"groups"`
	Email          text           `yaml:"email"`
	Disabled       flag           `yaml:"disabled"`
	APIKeys        []*fileAPIKey  `yaml:"api_keys"`
	TOTPSecret     text           `yaml:"totp_secret"`
	TOTPSecretFile text           `yaml:"totp_secret_file"`
	RequireMFA     flag           `yaml:"require_mfa"`
	Passkeys       []*filePasskey `yaml:"passkeys"`
}

type fileRoute struct {
	At            position        `yaml:",inline"`
	Name          text            `yaml:"name"`
	Path          text            `yaml:"path"`
	Host          text            `yaml:"host"`
	Upstream      text            `yaml:"upstream"`
	Public        flag            `yaml:"public"`
	StripPrefix   flag            `yaml:"strip_prefix"`
	AllowedUsers  []text          `yaml:"allowed_users"`
	AllowedGroups []text          `yaml:"allowed_groups"`
	Methods       []text          `yaml:"methods"`
	TLS           fileUpstreamTLS `yaml:"tls"`
	RequireMFA    flag            `yaml:"require_mfa"`
}

type filePaths struct {
	Refresh text `yaml:"refresh"`
	Login   text `yaml:"login"`
	Logout  text `yaml:"logout"`
	Verify  text `yaml:"verify"`
	Healthz text `yaml:"healthz"`
	Readyz  text `yaml:"readyz"`
}

type fileLog struct {
	Format        text     `yaml:"format"`
	Level         text     `yaml:"level"`
	FlushInterval duration `yaml:"flush_interval"`
}

type fileServer struct {
	ReadHeaderTimeout duration `yaml:"read_header_timeout"`
	ReadTimeout       duration `yaml:"read_timeout"`
	WriteTimeout      duration `yaml:"write_timeout"`
	SendTimeout       duration `yaml:"send_timeout"`
	IdleTimeout       duration `yaml:"idle_timeout"`
	ShutdownGrace     duration `yaml:"shutdown_grace"`
	MaxHeaderBytes    number   `yaml:"max_header_bytes"`
	MaxConnections    number   `yaml:"max_connections"`
	GCHeadroomMiB     number   `yaml:"gc_headroom_mib"` // ignored, with a warning
}

type fileTransport struct {
	DialTimeout           duration `yaml:"dial_timeout"`
	ResponseHeaderTimeout duration `yaml:"response_header_timeout"`
	IdleConnTimeout       duration `yaml:"idle_conn_timeout"`
	MaxIdleConnsPerHost   number   `yaml:"max_idle_conns_per_host"`
}

type fileLogin struct {
	MaxBodyBytes  number       `yaml:"max_body_bytes"`
	MaxConcurrent number       `yaml:"max_concurrent"`
	MaxQueue      number       `yaml:"max_queue"`
	ShedDelay     duration     `yaml:"shed_delay"`
	Throttle      fileThrottle `yaml:"throttle"`
}

type fileThrottle struct {
	User   fileBucket `yaml:"user"`
	Client fileBucket `yaml:"client"`
	Slots  number     `yaml:"slots"`
}

type fileBucket struct {
	Burst    number   `yaml:"burst"`
	Interval duration `yaml:"interval"`
}

type fileTLS struct {
	At           position       `yaml:",inline"`
	CertFile     text           `yaml:"cert_file"`
	KeyFile      text           `yaml:"key_file"`
	MinVersion   text           `yaml:"min_version"`
	ACME         fileACME       `yaml:"acme"`
	RedirectHTTP text           `yaml:"redirect_http"`
	HSTSMaxAge   duration       `yaml:"hsts_max_age"`
	ClientAuth   fileClientAuth `yaml:"client_auth"`
}

type fileACME struct {
	At           position `yaml:",inline"`
	Domains      []text   `yaml:"domains"`
	Email        text     `yaml:"email"`
	DirectoryURL text     `yaml:"directory_url"`
	CAFile       text     `yaml:"ca_file"`
	StorageDir   text     `yaml:"storage_dir"`
}

type fileClientAuth struct {
	At           position `yaml:",inline"`
	CAFile       text     `yaml:"ca_file"`
	UsernameFrom text     `yaml:"username_from"`
}

type fileUpstreamTLS struct {
	At             position `yaml:",inline"`
	CAFile         text     `yaml:"ca_file"`
	ServerName     text     `yaml:"server_name"`
	ClientCertFile text     `yaml:"client_cert_file"`
	ClientKeyFile  text     `yaml:"client_key_file"`
}
