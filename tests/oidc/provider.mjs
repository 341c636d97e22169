// A real OpenID provider for the tests (the certified `oidc-provider` package from npm, installed
// by tests/e2e/install-deps.sh into .venv/e2e-node). Never used in production.
//
//   node tests/oidc/provider.mjs NODE_DIR PORT CLIENT_ID CLIENT_SECRET REDIRECT_URIS POST_LOGOUT_URIS
//
// REDIRECT_URIS and POST_LOGOUT_URIS may each name several URIs, separated by commas (the staff
// and the family sign-in of one app).
// Listens on 127.0.0.1:PORT (0: a free port) and prints one line `listening <issuer>` when ready.
// One confidential client, authorization code only, PKCE required. The login page is a plain
// form (no JavaScript) that the tests fill in with HTTP requests like a browser would: the user's
// identifier and the acr level the "user" authenticated with. Consent is implied (first party).
// A family test account, `family-<11 digits>` (a synthetic Tenor number), also has ID-porten's
// `pid` claim (the person identifier) with those digits.
// Test-only switch: POST /__test/jwks {"mode": "wrong"} publishes another key under the signing
// key's kid, so the ID tokens it signs no longer verify against the issuer's keys.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [nodeDir, port, clientId, clientSecret, redirectUri, postLogoutUri] = process.argv.slice(2);
const { default: Provider } = await import(
  pathToFileURL(join(nodeDir, 'node_modules', 'oidc-provider', 'lib', 'index.js')).href);

const KID = 'test-signing-key';
const jwk = (key) => ({ ...key.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' });
const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
let jwksMode = 'right';

const ACR_VALUES = ['low', 'substantial', 'high'];
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function configuration() {
  return {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUri.split(','),
      post_logout_redirect_uris: postLogoutUri.split(','),
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [jwk(signing.privateKey)] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    acrValues: ACR_VALUES,
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username', 'pid'] },
    scopes: ['openid', 'email', 'profile'],
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource(ctx, form) {
          ctx.body = `<!DOCTYPE html><html lang="en"><head><title>Sign out</title></head><body>${form}`
            + '<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button></body></html>';
        },
      },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          const [user] = id.split('@');
          const family = id.match(/^family-(\d{11})$/);
          return { sub: id, email: `${user}@example.test`, email_verified: true,
                   preferred_username: user, name: `Test ${user}`,
                   ...(family ? { pid: family[1] } : {}) };
        },
      };
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    ttl: { Session: 3600, Interaction: 600, AuthorizationCode: 60, IdToken: 300, AccessToken: 300, Grant: 3600 },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><html lang="en"><head><title>Error</title></head><body><p>${escape(out.error)}: ${escape(out.error_description || '')}</p></body></html>`;
    },
  };
}

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

let provider;
const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/__test/jwks' && req.method === 'POST') {
      jwksMode = JSON.parse(await body(req)).mode === 'wrong' ? 'wrong' : 'right';
      res.writeHead(204).end();
      return;
    }
    if (url.pathname === '/jwks' && jwksMode === 'wrong') {
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' })
        .end(JSON.stringify({ keys: [jwk(other.publicKey)] }));
      return;
    }
    const login = url.pathname.match(/^\/interaction\/([\w-]+)\/login$/);
    if (login && req.method === 'POST') {
      const form = new URLSearchParams(await body(req));
      await provider.interactionDetails(req, res);  // the interaction must be this browser's
      await provider.interactionFinished(req, res, {
        login: { accountId: form.get('login'), acr: form.get('acr') || 'low' },
      }, { mergeWithLastSubmission: false });
      return;
    }
    if (/^\/interaction\/[\w-]+$/.test(url.pathname) && req.method === 'GET') {
      const { uid } = await provider.interactionDetails(req, res);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
        '<!DOCTYPE html><html lang="en"><head><title>Test provider</title></head><body>'
        + `<form method="post" action="/interaction/${escape(uid)}/login">`
        + '<label>User <input name="login"></label>'
        + `<label>Level <select name="acr">${ACR_VALUES.map((v) => `<option>${v}</option>`).join('')}</select></label>`
        + '<button type="submit">Sign in</button></form></body></html>');
      return;
    }
    provider.callback()(req, res);
  } catch (err) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
  }
});

server.listen(Number(port), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = new Provider(issuer, configuration());
  process.stdout.write(`listening ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
