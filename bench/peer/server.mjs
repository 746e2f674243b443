// node-oidc-provider configured like Latchkey's benchmark server: client_credentials with ES256 JWT
// access tokens for one resource and opaque ones for another, introspection and revocation, refresh
// tokens rotated on every use for a public app, the in-memory adapter.
// Usage: node server.mjs PORT CLIENT_ID CLIENT_SECRET
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'bench' };

const resources = {
  'https://api.example/': { scope: 'api:read', audience: 'https://api.example/', accessTokenTTL: 600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } },
  'https://opaque.example/': { scope: 'api:read', audience: 'https://opaque.example/', accessTokenTTL: 600, accessTokenFormat: 'opaque' },
};

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
    scope: 'api:read',
  }, {
    // The refresh scenario's public app, as Latchkey's: no client authentication, the refresh token
    // rotated on every use.
    client_id: 'bench-app',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1:9/callback'],
    token_endpoint_auth_method: 'none',
    id_token_signed_response_alg: 'ES256',
    scope: 'api:read offline_access',
  }],
  scopes: ['api:read', 'offline_access'],
  rotateRefreshToken: true,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://api.example/',
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        const info = resources[indicator];
        if (!info) throw new Provider.errors.InvalidTarget();
        return info;
      },
    },
  },
});
// Each refresh worker's first refresh token, minted the way a code exchange with `offline_access`
// would store it (its dev login pages are not a product, so the benchmark does not drive them): a grant
// for api:read on the JWT resource, and a refresh token of that grant. Only the benchmark calls this.
provider.use(async (ctx, next) => {
  if (ctx.method !== 'POST' || ctx.path !== '/bench/refresh-token') {
    await next();
    return;
  }
  const resource = 'https://api.example/';
  const grant = new provider.Grant({ accountId: 'bench-user', clientId: 'bench-app' });
  grant.addOIDCScope('offline_access');
  grant.addResourceScope(resource, 'api:read');
  const grantId = await grant.save();
  const client = await provider.Client.find('bench-app');
  const refreshToken = new provider.RefreshToken({
    accountId: 'bench-user',
    client,
    grantId,
    gty: 'authorization_code',
    resource,
    scope: 'api:read offline_access',
  });
  ctx.body = { refresh_token: await refreshToken.save() };
});
// Quiet: no per-request logging, as Latchkey runs with access logs off in the benchmark.
provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
