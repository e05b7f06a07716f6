// An independent OAuth 2.0 / OpenID Connect provider for Grantkeeper's interop tests.
//
// Runs panva/oidc-provider (a certified implementation nobody on this project wrote) with one
// client shaped like a Cloudflare self-managed public client:
//   - application_type native, token_endpoint_auth_method none (public client, PKCE S256 required)
//   - grant types authorization_code + refresh_token, refresh tokens single-use (rotated)
//   - redirect URI grantkeeper://oauth/callback (custom scheme) plus a loopback one
//   - revocation and userinfo enabled; dot-form scopes such as Cloudflare's
//
// Usage: node server.mjs [PORT] [--port PORT] [--access-ttl SECS] [--client-id ID]
//                        [--redirect-uri URI]...
// Prints "oidc-provider listening on http://127.0.0.1:PORT" on stdout once it accepts
// connections. Endpoint paths come from the discovery document
// (/.well-known/openid-configuration): authorize /auth, token /token,
// revocation /token/revocation, userinfo /me.
//
// The development login/consent pages ("devInteractions") accept any login and password; the login
// becomes the account id (`sub`), and `email` is `<login>@example.test` unless the login already
// contains an @.

import * as http from 'node:http';
import { randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

function parseArgs(argv) {
  const opts = {
    port: 0,
    accessTtl: 3600,
    clientId: 'grantkeeper-interop',
    redirectUris: [],
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      i += 1;
      return argv[i];
    };
    if (arg === '--port') opts.port = Number(next());
    else if (arg === '--access-ttl') opts.accessTtl = Number(next());
    else if (arg === '--client-id') opts.clientId = next();
    else if (arg === '--redirect-uri') opts.redirectUris.push(next());
    else if (/^\d+$/.test(arg)) opts.port = Number(arg);
    else throw new Error(`unknown argument: ${arg}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error(`bad port: ${opts.port}`);
  }
  if (!Number.isInteger(opts.accessTtl) || opts.accessTtl <= 0) {
    throw new Error(`bad --access-ttl: ${opts.accessTtl}`);
  }
  if (opts.redirectUris.length === 0) {
    opts.redirectUris = [
      'grantkeeper://oauth/callback',
      'dev.grantkeeper.app://oauth/callback',
      'http://127.0.0.1/oauth/callback',
    ];
  }
  return opts;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(`oidc server: ${err.message}`);
  process.exit(2);
}

// Custom scopes in Cloudflare's dot form, next to the OIDC ones.
const SCOPES = [
  'openid',
  'offline_access',
  'account.read',
  'user-details.read',
  'zone.read',
  'dns.read',
  'dns.write',
];

const server = http.createServer();

// The issuer must be known before the provider is built; listen first, then mount.
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(opts.port, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const configuration = {
  clients: [
    {
      client_id: opts.clientId,
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: opts.redirectUris,
      scope: SCOPES.join(' '),
    },
  ],
  scopes: SCOPES,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
  },
  // Public clients must use PKCE (S256 is the only method oidc-provider 9 supports).
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    introspection: { enabled: false },
  },
  // Like Cloudflare: every code exchange by a client allowed the refresh_token grant yields a refresh
  // token (Cloudflare adds offline_access itself), and refresh tokens are single-use.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: {
    AccessToken: opts.accessTtl,
    AuthorizationCode: 60,
    RefreshToken: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
    Session: 24 * 3600,
    Interaction: 600,
    IdToken: 3600,
  },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  // Any login is accepted by the development interactions; give it an e-mail claim.
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        const email = id.includes('@') ? id : `${id}@example.test`;
        return { sub: id, email, email_verified: true };
      },
    };
  },
  // Loopback only, plain http: don't insist on https issuers / secure cookies.
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><head><title>oidc-provider error</title></head><body>`
      + `<h1>oidc-provider error</h1><pre id="error">${Object.entries(out)
        .map(([k, v]) => `${k}: ${String(v).replace(/[<>&]/g, '')}`).join('\n')}</pre></body></html>`;
  },
};

const provider = new Provider(issuer, configuration);

// One line per request for the test's log, with query values of sensitive parameters redacted.
const SENSITIVE = new Set(['code', 'state', 'code_verifier', 'refresh_token', 'access_token', 'token', 'id_token_hint']);
function redact(url) {
  try {
    const u = new URL(url, issuer);
    for (const key of [...u.searchParams.keys()]) {
      if (SENSITIVE.has(key)) u.searchParams.set(key, 'REDACTED');
    }
    return u.pathname + u.search;
  } catch {
    return '<unparseable url>';
  }
}
provider.use(async (ctx, next) => {
  await next();
  console.error(`oidc server: ${ctx.method} ${redact(ctx.url)} -> ${ctx.status}`);
});
for (const event of ['grant.error', 'server_error', 'refresh_token.error', 'authorization.error']) {
  provider.on(event, (_ctx, err) => {
    console.error(`oidc server: ${event}: ${err?.name ?? ''} ${err?.message ?? ''} ${err?.error_description ?? ''}`);
  });
}

server.on('request', provider.callback());

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}

console.log(`oidc-provider listening on ${issuer}`);
