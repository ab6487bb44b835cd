package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The OpenID provider these tests sign in with is zitadel/oidc's example
// OP, a provider implementation we did not write, run in process on
// loopback with its own login form. Two things are added to it, through
// its storage interface, as an operator of it would: a groups claim, and
// a signing key the test holds, so that a test can forge the ID tokens no
// honest provider sends (alg none, another audience, …) and put them in
// the provider's token answer.

// opUser is a user of the test OP.
type opUser struct {
	ID, Username, Password, Email string
	EmailVerified                 bool
	Groups                        []string `json:"-"`
}

// testOP is a running example OP.
type testOP struct {
	issuer string
	key    *rsa.PrivateKey
	// tamper, when set, rewrites the id_token of the token endpoint's
	// answer.
	mu     sync.Mutex
	tamper func(idToken string) string
}

// opStorage is the example storage with a groups claim and the test's key.
type opStorage struct {
	*storage.Storage
	groups map[string][]string // by user ID
	key    *rsa.PrivateKey
}

type opSigningKey struct{ key *rsa.PrivateKey }

func (k opSigningKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k opSigningKey) Key() any                                    { return k.key }
func (k opSigningKey) ID() string                                  { return "test-op-key" }

type opPublicKey struct{ key *rsa.PrivateKey }

func (k opPublicKey) ID() string                         { return "test-op-key" }
func (k opPublicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k opPublicKey) Use() string                        { return "sig" }
func (k opPublicKey) Key() any                           { return &k.key.PublicKey }

func (s *opStorage) SigningKey(context.Context) (op.SigningKey, error) {
	return opSigningKey{s.key}, nil
}

func (s *opStorage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{opPublicKey{s.key}}, nil
}

func (s *opStorage) addGroups(userID string, info *zoidc.UserInfo, scopes []string) {
	for _, sc := range scopes {
		if sc == "groups" && s.groups[userID] != nil {
			info.AppendClaims("groups", s.groups[userID])
		}
	}
}

func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, info *zoidc.UserInfo, token op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, info, token, scopes); err != nil {
		return err
	}
	s.addGroups(token.GetSubject(), info, scopes)
	return nil
}

func (s *opStorage) SetUserinfoFromToken(ctx context.Context, info *zoidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, info, tokenID, subject, origin); err != nil {
		return err
	}
	// The example answers userinfo for the scopes of an access token it
	// looked up; groups are asked for by every client here.
	s.addGroups(info.Subject, info, []string{"groups"})
	return nil
}

// startOP runs the example OP on loopback with users and clients, each
// client registered with redirectURI-style callbacks under gateway.
func startOP(t *testing.T, users []opUser, clients ...*storage.Client) *testOP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &testOP{issuer: "http://" + ln.Addr().String()}
	o.key, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*storage.User{}
	groups := map[string][]string{}
	for _, u := range users {
		byID[u.ID] = &storage.User{ID: u.ID, Username: u.Username, Password: u.Password, Email: u.Email, EmailVerified: u.EmailVerified}
		groups[u.ID] = u.Groups
	}
	file := filepath.Join(t.TempDir(), "users.json")
	b, _ := json.Marshal(byID)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	us, err := storage.StoreFromFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cm := map[string]*storage.Client{}
	for _, c := range clients {
		cm[c.GetID()] = c
	}
	st := &opStorage{Storage: storage.NewStorageWithClients(us, cm), groups: groups, key: o.key}
	h := exampleop.SetupServer(o.issuer, st, nil, false)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: o.wrap(h)}}
	srv.Start()
	t.Cleanup(srv.Close)
	return o
}

// wrap alters the token endpoint's id_token when the test asks it to.
func (o *testOP) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		tamper := o.tamper
		o.mu.Unlock()
		if tamper == nil || r.URL.Path != "/oauth/token" {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var answer map[string]any
		if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &answer) == nil {
			if s, ok := answer["id_token"].(string); ok {
				answer["id_token"] = tamper(s)
			}
		}
		b, _ := json.Marshal(answer)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		w.Write(b)
	})
}

func (o *testOP) setTamper(f func(string) string) {
	o.mu.Lock()
	o.tamper = f
	o.mu.Unlock()
}

// claimsOf decodes a JWT's payload without verifying it.
func claimsOf(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// sign makes a JWT of claims with the OP's key (alg RS256), or with alg
// none, or HS256 keyed with secret.
func (o *testOP) sign(t *testing.T, claims map[string]any, alg, secret string) string {
	t.Helper()
	payload, _ := json.Marshal(claims)
	switch alg {
	case "none":
		return b64s(`{"alg":"none","typ":"JWT"}`) + "." + b64s(string(payload)) + "."
	case "HS256":
		in := b64s(`{"alg":"HS256","typ":"JWT","kid":"test-op-key"}`) + "." + b64s(string(payload))
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: o.key, KeyID: "test-op-key"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64s(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// opBrowser is a cookie-keeping client that does not follow redirects, so
// that each step of a sign-in can be looked at.
type opBrowser struct {
	t      *testing.T
	client *http.Client
}

func newOPBrowser(t *testing.T) *opBrowser {
	jar, _ := cookiejar.New(nil)
	return &opBrowser{t: t, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *opBrowser) get(u string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *opBrowser) postForm(u string, form url.Values) *http.Response {
	b.t.Helper()
	resp, err := b.client.PostForm(u, form)
	if err != nil {
		b.t.Fatalf("POST %s: %v", u, err)
	}
	resp.Body.Close()
	return resp
}

// location resolves resp's Location against its request.
func location(t *testing.T, resp *http.Response) string {
	t.Helper()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("%s %s: status %d, no Location", resp.Request.Method, resp.Request.URL, resp.StatusCode)
	}
	return loc.String()
}

var authRequestID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signInAtOP follows the gateway's redirect to the OP, signs in there as
// username and returns the callback URL the OP sends the browser to.
func (b *opBrowser) signInAtOP(start, username, password string) string {
	t := b.t
	t.Helper()
	resp, _ := b.get(start)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET %s: status %d, want 303 to the provider", start, resp.StatusCode)
	}
	resp, _ = b.get(location(t, resp)) // the OP's authorization endpoint
	if resp.StatusCode/100 != 3 {
		t.Fatalf("authorization endpoint: status %d", resp.StatusCode)
	}
	loginURL := location(t, resp)
	resp, body := b.get(loginURL)
	m := authRequestID.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("OP login form: status %d %q", resp.StatusCode, body)
	}
	u, _ := url.Parse(loginURL)
	u.RawQuery = ""
	resp = b.postForm(u.String(), url.Values{"id": {m[1]}, "username": {username}, "password": {password}})
	for range 5 { // the OP's own redirects, until it leaves for the gateway
		if resp.StatusCode/100 != 3 {
			t.Fatalf("OP sign-in: status %d", resp.StatusCode)
		}
		next := location(t, resp)
		if strings.Contains(next, "/callback?") && !strings.HasPrefix(next, u.Scheme+"://"+u.Host) {
			return next
		}
		resp, _ = b.get(next)
	}
	t.Fatal("the OP never sent the browser back")
	return ""
}

// sessionCookie is the gateway's session cookie in b for base.
func (b *opBrowser) cookie(base, name string) *http.Cookie {
	u, _ := url.Parse(base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}
