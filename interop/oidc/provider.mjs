// A real OAuth 2.1 / OpenID identity provider (oidc-provider, pinned in package-lock.json)
// for Ferry's authorization tests. It listens on a free port of 127.0.0.1 and prints
// `OIDC provider at http://127.0.0.1:PORT` on stdout once it answers.
//
// What it offers:
// - dynamic client registration (RFC 7591), open to anyone;
// - authorization code with PKCE (S256), refresh tokens for clients allowed them;
// - client credentials for the pre-registered machine clients below;
// - resource indicators (RFC 8707): every access token for a resource is a JWT whose
//   `aud` is that resource, with the scopes `mcp`, `reports:read`, `other`.
//
// Test hooks (this provider is for tests only):
// - the sign-in page signs in the test account `alice` and consents to what was asked
//   at once (no form), so a test's "browser" only follows redirects;
// - `POST /test/clock?offset=SECONDS` moves the provider's clock (tokens issued with
//   offset=-3600 expired an hour ago); `offset=0` puts it back.
//
// Usage: node provider.mjs [PORT]    (0 or none: a free port)

import http from 'node:http';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const RESOURCE_SCOPES = 'mcp reports:read other';
const ACCOUNT = 'alice';

// The clock tests can move: oidc-provider reads the time through Date.now().
const realNow = Date.now;
let clockOffsetMs = 0;
Date.now = () => realNow() + clockOffsetMs;

const server = http.createServer();
await new Promise((ready) => server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', ready));
const issuer = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: `es256-${realNow()}`, alg: 'ES256', use: 'sig' };

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  clients: [
    // Machine clients (client credentials): one with the scope Ferry requires, one without.
    { client_id: 'machine', client_secret: 'machine-secret', grant_types: ['client_credentials'],
      redirect_uris: [], response_types: [], scope: 'mcp reports:read' },
    { client_id: 'outsider', client_secret: 'outsider-secret', grant_types: ['client_credentials'],
      redirect_uris: [], response_types: [], scope: 'other' },
  ],
  scopes: ['openid', 'offline_access', 'mcp', 'reports:read', 'other'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    registration: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource) => ({
        scope: RESOURCE_SCOPES,
        audience: resource,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { AccessToken: 600, AuthorizationCode: 60, RefreshToken: 3600, Grant: 3600, Interaction: 600, Session: 3600 },
});

// The sign-in page: signs `alice` in, then grants what the client asked for.
provider.use(async (ctx, next) => {
  if (ctx.path === '/test/clock' && ctx.method === 'POST') {
    clockOffsetMs = Number(ctx.query.offset ?? 0) * 1000;
    ctx.body = { offset: clockOffsetMs / 1000 };
    return;
  }
  if (!ctx.path.startsWith('/interaction/')) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = details;
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: ACCOUNT } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(resource, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  }
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  ctx.status = 303;
  ctx.redirect(to);
});

server.on('request', provider.callback());
console.log(`OIDC provider at ${issuer}`);
