package config

// The file* types mirror the YAML document key for key. They hold text as
// written; Load turns them into the typed Config, so nothing after Load ever
// looks at these again. A field's yaml tag is the contract operators write
// against: add keys, never rename them.

type fileConfig struct {
	Listen               string        `yaml:"listen"`
	MetricsListen        *string       `yaml:"metrics_listen"`
	EchoListen           string        `yaml:"echo_listen"`
	Token                fileToken     `yaml:"token"`
	Users                []fileUser    `yaml:"users"`
	HtpasswdFile         string        `yaml:"htpasswd_file"`
	HtpasswdGroupsFile   string        `yaml:"htpasswd_groups_file"`
	DefaultDeny          bool          `yaml:"default_deny"`
	UpstreamHeaders      fileUpstream  `yaml:"upstream_headers"`
	IdentityHeader       string        `yaml:"identity_header"`
	StripHeaders         []string      `yaml:"strip_headers"`
	ForwardAuthorization bool          `yaml:"forward_authorization"`
	TrustedProxies       []string      `yaml:"trusted_proxies"`
	Routes               []fileRoute   `yaml:"routes"`
	Paths                filePaths     `yaml:"paths"`
	Log                  fileLog       `yaml:"log"`
	Server               fileServer    `yaml:"server"`
	Transport            fileTransport `yaml:"transport"`
	Login                fileLogin     `yaml:"login"`
	Session              fileSession   `yaml:"session"`
	LoginPage            fileLoginPage `yaml:"login_page"`
}

type fileSession struct {
	CookieName           string   `yaml:"cookie_name"`
	CookieDomain         string   `yaml:"cookie_domain"`
	InsecureCookie       bool     `yaml:"insecure_cookie"`
	TTL                  string   `yaml:"ttl"`
	MaxLifetime          string   `yaml:"max_lifetime"`
	AllowedRedirectHosts []string `yaml:"allowed_redirect_hosts"`
	LoginURL             string   `yaml:"login_url"`
	LogoutRedirect       string   `yaml:"logout_redirect"`
}

type fileLoginPage struct {
	Title        string `yaml:"title"`
	LogoURL      string `yaml:"logo_url"`
	TemplateFile string `yaml:"template_file"`
}

type fileToken struct {
	Algorithm  string       `yaml:"algorithm"`
	Keys       []fileKey    `yaml:"keys"`
	SigningKey string       `yaml:"signing_key"`
	Refresh    fileRefresh  `yaml:"refresh"`
	Trusted    []fileIssuer `yaml:"trusted_issuers"`
	CacheSize  *int         `yaml:"cache_size"`
	Secret     string       `yaml:"secret"`
	SecretFile string       `yaml:"secret_file"`
	TTL        string       `yaml:"ttl"`
	Issuer     string       `yaml:"issuer"`
	Audience   string       `yaml:"audience"`
	Leeway     string       `yaml:"leeway"`
}

type fileKey struct {
	ID         string `yaml:"id"`
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	KeyFile    string `yaml:"key_file"`
}

type fileIssuer struct {
	Issuer        string   `yaml:"issuer"`
	Audience      string   `yaml:"audience"`
	JWKSURL       string   `yaml:"jwks_url"`
	JWKSFile      string   `yaml:"jwks_file"`
	Algorithms    []string `yaml:"algorithms"`
	UsernameClaim string   `yaml:"username_claim"`
	GroupsClaim   string   `yaml:"groups_claim"`
}

type fileRefresh struct {
	Enabled     bool   `yaml:"enabled"`
	TTL         string `yaml:"ttl"`
	MaxLifetime string `yaml:"max_lifetime"`
}

type fileUpstream struct {
	Groups       *string `yaml:"groups"`
	Email        *string `yaml:"email"`
	Token        string  `yaml:"token"`
	Assertion    string  `yaml:"assertion"`
	AssertionTTL string  `yaml:"assertion_ttl"`
}

type fileUser struct {
	Username     string   `yaml:"username"`
	PasswordHash string   `yaml:"password_hash"`
	Groups       []string `yaml:"groups"`
	Email        string   `yaml:"email"`
	Disabled     bool     `yaml:"disabled"`
}

type fileRoute struct {
	Name          string   `yaml:"name"`
	Path          string   `yaml:"path"`
	Host          string   `yaml:"host"`
	Upstream      string   `yaml:"upstream"`
	Public        bool     `yaml:"public"`
	StripPrefix   bool     `yaml:"strip_prefix"`
	AllowedUsers  []string `yaml:"allowed_users"`
	AllowedGroups []string `yaml:"allowed_groups"`
	Methods       []string `yaml:"methods"`
}

type filePaths struct {
	Refresh string `yaml:"refresh"`
	Login   string `yaml:"login"`
	Logout  string `yaml:"logout"`
	Verify  string `yaml:"verify"`
	Healthz string `yaml:"healthz"`
	Readyz  string `yaml:"readyz"`
}

type fileLog struct {
	Format        string `yaml:"format"`
	Level         string `yaml:"level"`
	FlushInterval string `yaml:"flush_interval"`
}

type fileServer struct {
	ReadHeaderTimeout string `yaml:"read_header_timeout"`
	ReadTimeout       string `yaml:"read_timeout"`
	WriteTimeout      string `yaml:"write_timeout"`
	SendTimeout       string `yaml:"send_timeout"`
	IdleTimeout       string `yaml:"idle_timeout"`
	ShutdownGrace     string `yaml:"shutdown_grace"`
	MaxHeaderBytes    int    `yaml:"max_header_bytes"`
	MaxConnections    int    `yaml:"max_connections"`
	GCHeadroomMiB     *int   `yaml:"gc_headroom_mib"` // ignored, with a warning
}

type fileTransport struct {
	DialTimeout           string `yaml:"dial_timeout"`
	ResponseHeaderTimeout string `yaml:"response_header_timeout"`
	IdleConnTimeout       string `yaml:"idle_conn_timeout"`
	MaxIdleConnsPerHost   int    `yaml:"max_idle_conns_per_host"`
}

type fileLogin struct {
	MaxBodyBytes  int          `yaml:"max_body_bytes"`
	MaxConcurrent int          `yaml:"max_concurrent"`
	MaxQueue      int          `yaml:"max_queue"`
	ShedDelay     string       `yaml:"shed_delay"`
	Throttle      fileThrottle `yaml:"throttle"`
}

type fileThrottle struct {
	User   fileBucket `yaml:"user"`
	Client fileBucket `yaml:"client"`
	Slots  int        `yaml:"slots"`
}

type fileBucket struct {
	Burst    int    `yaml:"burst"`
	Interval string `yaml:"interval"`
}
