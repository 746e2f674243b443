// node-oidc-provider configured like Latchkey's benchmark server: client_credentials with ES256 JWT
// access tokens for one resource and opaque ones for another, introspection and revocation, the
// in-memory adapter. Usage: node server.mjs PORT CLIENT_ID CLIENT_SECRET
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
  }],
  scopes: ['api:read'],
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
// Quiet: no per-request logging, as Latchkey runs with access logs off in the benchmark.
provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
