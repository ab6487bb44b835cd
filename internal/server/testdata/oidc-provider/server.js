// An independent OpenID provider for authgate's end-to-end test:
// panva/node-oidc-provider (OpenID Certified), with its development
// login form, on 127.0.0.1. The Go test starts it as
//   node server.js PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI...
// and signs in as any login name with any password: the name becomes
// preferred_username, "carol" is in the groups staff and ops.
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, ...redirectUris] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const groups = { carol: ['staff', 'ops'] };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          preferred_username: sub,
          name: sub,
          email: `${sub}@example.com`,
          email_verified: true,
          groups: groups[sub] ?? ['guests'],
        };
      },
    };
  },
  pkce: { required: () => true },
  cookies: { keys: ['authgate-e2e-only-not-a-secret'] },
  features: { devInteractions: { enabled: true } },
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
