#!/usr/bin/env node
// Interop test: the TypeScript SDK client (@modelcontextprotocol/sdk 1.32.2, pinned in
// interop/package-lock.json) signs in to a Ferry server protected by the test identity
// provider (provider.mjs here) and calls its tools.
//
// Usage: node interop/oidc/ts-oauth-client.mjs URL
// The server's tool `whoami` answers "SUBJECT SCOPES". The SDK discovers the provider
// from Ferry's 401 and metadata, registers a client, and sends the user to the
// authorization URL: here a "browser" follows the provider's redirects (its test sign-in
// page signs `alice` in) and hands the code back to the SDK.
//
// Output: "ok NAME" or "FAIL NAME: REASON" per check, then "N passed, M failed".

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const url = new URL(process.argv[2]);
const REDIRECT = 'http://127.0.0.1:9/callback'; // never fetched: the "browser" stops there
let passed = 0;
let failed = 0;
const check = (name, good, why) => {
  if (good) { passed++; console.log(`ok ${name}`); } else { failed++; console.log(`FAIL ${name}: ${why}`); }
};

// Follow redirects with cookies until the client's redirect URI; its `code`.
async function browse(start) {
  const cookies = new Map();
  let at = new URL(start);
  for (let i = 0; i < 20; i++) {
    if (at.href.startsWith(REDIRECT)) {
      if (at.searchParams.get('error')) throw new Error(`refused: ${at.searchParams.get('error_description')}`);
      return at.searchParams.get('code');
    }
    const cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(at, { redirect: 'manual', headers: { cookie } });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1));
    }
    const location = res.headers.get('location');
    if (!location) throw new Error(`${at}: ${res.status} ${await res.text()}`);
    at = new URL(location, at);
  }
  throw new Error('too many redirects');
}

// The SDK's view of the application: everything in memory.
const saved = {};
let authorizationUrl;
const provider = {
  get redirectUrl() { return REDIRECT; },
  get clientMetadata() {
    return { client_name: 'ts-sdk-interop', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'], token_endpoint_auth_method: 'none', application_type: 'native' };
  },
  clientInformation: () => saved.client,
  saveClientInformation: (c) => { saved.client = c; },
  tokens: () => saved.tokens,
  saveTokens: (t) => { saved.tokens = t; },
  redirectToAuthorization: (u) => { authorizationUrl = u; },
  saveCodeVerifier: (v) => { saved.verifier = v; },
  codeVerifier: () => saved.verifier,
};

async function connect() {
  const client = new Client({ name: 'ts-sdk-interop', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
  return { client, transport, connecting: client.connect(transport) };
}

try {
  let { transport, connecting } = await connect();
  const first = await connecting.then(() => 'connected', (e) => e);
  check('an unauthenticated connection is refused and sign-in starts', first instanceof UnauthorizedError
    && authorizationUrl, `got ${first}`);
  const params = authorizationUrl.searchParams;
  check('PKCE S256 and the resource parameter', params.get('code_challenge_method') === 'S256'
    && params.get('resource') === url.href, authorizationUrl.href);
  check('the client registered itself', !!saved.client?.client_id, JSON.stringify(saved.client));
  await transport.finishAuth(await browse(authorizationUrl));
  check('tokens for the server', !!saved.tokens?.access_token, JSON.stringify(saved.tokens));

  let client;
  ({ client, transport, connecting } = await connect());
  await connecting;
  const result = await client.callTool({ name: 'whoami', arguments: {} });
  const text = result.content?.[0]?.text;
  check('the server knows the signed-in user', text === 'alice mcp', text);

  // A refused token is refreshed by the SDK on its own.
  saved.tokens = { ...saved.tokens, access_token: 'revoked' };
  authorizationUrl = undefined;
  await client.close();
  ({ client, transport, connecting } = await connect());
  const again = await connecting.then(() => 'connected', (e) => e);
  check('a refused token is refreshed without the user', again === 'connected' && !authorizationUrl, `${again}`);
  if (again === 'connected') {
    const r = await client.callTool({ name: 'whoami', arguments: {} });
    check('and works', r.content?.[0]?.text === 'alice mcp', JSON.stringify(r));
    await client.close();
  }
} catch (e) {
  check('the flow', false, e?.stack ?? e);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
