import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { createSigner } from 'fast-jwt';
import type { AuthConfig } from '../../command-api/auth.ts';
import { loadCommandApiConfig as loadConfig } from '../../command-api/config.ts';
import type { EventPublisher } from '../../shared/kafka/publisher.ts';
import { buildUnitCommandApp, UNIT_JWT_SECRET } from '../support/command-app.ts';
import { eventually } from '../../harness/eventually.ts';
import { mintToken } from '../../command-api/mint-token.ts';

/** Production token checks: RS256/ES256 against a public key or a JWKS, the algorithm pinned. */
const publisher: EventPublisher = {
  connect: () => Promise.resolve(),
  disconnect: () => Promise.resolve(),
  publish: (events) => Promise.resolve(events.map((_, i) => ({ topic: 'movie-ratings', partition: 0, offset: i }))),
};

async function appWith(auth: AuthConfig) {
  const app = await buildUnitCommandApp({ publisher, config: { auth } });
  after(() => app.close());
  return (token: string) =>
    app
      .inject({
        method: 'POST',
        url: '/v1/movies/m1/ratings',
        headers: { authorization: `Bearer ${token}` },
        payload: { value: 3 },
      })
      .then((r) => r.statusCode);
}

const pem = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const claims = { sub: 'auth0|123', roles: ['user'] };

function sign(
  privateKey: KeyObject,
  algorithm: 'RS256' | 'ES256' | 'HS256',
  extra: { kid?: string; iss?: string; aud?: string } = {},
  secret?: string,
) {
  const { kid, ...payload } = extra;
  return createSigner({ key: secret ?? pem(privateKey), algorithm, expiresIn: 60_000, ...(kid ? { kid } : {}) })({
    ...claims,
    ...payload,
  });
}

describe('tokens once verified', async () => {
  const send = await appWith({ kind: 'secret', secret: UNIT_JWT_SECRET });

  it('refuses a token past its exp, though it was accepted before', async () => {
    // exp is in whole seconds from a rounded-down iat: a 1 s token may have a millisecond left, a 2 s one has a second.
    const token = mintToken(UNIT_JWT_SECRET, claims, 2);
    assert.equal(await send(token), 202);
    await eventually(async () => assert.equal(await send(token), 401), 5000);
  });

  it('refuses a role the token lacks every time it is sent, not only the first', async () => {
    const token = mintToken(UNIT_JWT_SECRET, { sub: 'ada', roles: ['admin'] }, 60);
    assert.deepEqual([await send(token), await send(token)], [403, 403]);
  });
});

describe('RS256 tokens against a public key', async () => {
  const keys = rsa();
  const publicPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const send = await appWith({
    kind: 'public-key',
    algorithm: 'RS256',
    publicKey: publicPem,
    issuer: 'https://id.example',
    audience: 'movie-catalogue',
  });
  const good = { iss: 'https://id.example', aud: 'movie-catalogue' };

  it('accepts a token signed by the key, with the configured issuer and audience', async () => {
    assert.equal(await send(sign(keys.privateKey, 'RS256', good)), 202);
  });

  it('refuses another key, another issuer or audience, and HS256 with the public key as its secret', async () => {
    assert.equal(await send(sign(rsa().privateKey, 'RS256', good)), 401);
    assert.equal(await send(sign(keys.privateKey, 'RS256', { ...good, iss: 'https://evil.example' })), 401);
    assert.equal(await send(sign(keys.privateKey, 'RS256', { ...good, aud: 'another-api' })), 401);
    assert.equal(await send(sign(keys.privateKey, 'HS256', good, publicPem)), 401);
  });
});

describe('ES256 tokens against a JWKS', async () => {
  const first = ec();
  const rotated = ec();
  let published: Array<{ kid: string; key: KeyObject }> = [{ kid: 'k1', key: first.publicKey }];
  let down = false;
  let keyless = false;
  let fetches = 0;
  const server = http.createServer((_req, res) => {
    fetches += 1;
    if (down) return void res.writeHead(503).end();
    if (keyless) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": "none"}');
    const keys = published.map(({ kid, key }) => ({ ...key.export({ format: 'jwk' }), kid, use: 'sig', alg: 'ES256' }));
    // A key of another type in the set is ignored, not fatal.
    keys.push({ ...rsa().publicKey.export({ format: 'jwk' }), kid: 'rsa-1', use: 'sig', alg: 'RS256' });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => server.close());
  const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;

  it('accepts a token whose kid is in the set, fetching the set once', async () => {
    const send = await appWith({ kind: 'jwks', algorithm: 'ES256', jwksUrl });
    fetches = 0;
    assert.equal(await send(sign(first.privateKey, 'ES256', { kid: 'k1' })), 202);
    assert.equal(await send(sign(first.privateKey, 'ES256', { kid: 'k1' })), 202);
    assert.equal(fetches, 1);
  });

  it('refuses an unknown kid, a token without kid, another key under a known kid, and the RSA key of the set', async () => {
    const send = await appWith({ kind: 'jwks', algorithm: 'ES256', jwksUrl });
    assert.equal(await send(sign(first.privateKey, 'ES256', { kid: 'k1' })), 202);
    assert.equal(await send(sign(first.privateKey, 'ES256', { kid: 'nobody' })), 401);
    assert.equal(await send(sign(first.privateKey, 'ES256')), 401);
    assert.equal(await send(sign(ec().privateKey, 'ES256', { kid: 'k1' })), 401);
    assert.equal(await send(sign(rsa().privateKey, 'RS256', { kid: 'rsa-1' })), 401);
  });

  it('follows a key rotation, and keeps known keys working while the JWKS is down', async () => {
    published = [{ kid: 'k1', key: first.publicKey }];
    down = false;
    const send = await appWith({ kind: 'jwks', algorithm: 'ES256', jwksUrl });
    assert.equal(await send(sign(first.privateKey, 'ES256', { kid: 'k1' })), 202);
    down = true;
    assert.equal(await send(sign(first.privateKey, 'ES256', { kid: 'k1' })), 202);
    down = false;
    published = [
      { kid: 'k1', key: first.publicKey },
      { kid: 'k2', key: rotated.publicKey },
    ];
    // Within the refresh interval an unknown kid is not fetched for (forged kids cost nothing);
    // a fresh instance, as after the interval, finds the rotated key.
    const fresh = await appWith({ kind: 'jwks', algorithm: 'ES256', jwksUrl });
    assert.equal(await fresh(sign(rotated.privateKey, 'ES256', { kid: 'k2' })), 202);
  });

  it('answers 503, not 401, when the JWKS cannot be fetched and no key is known', async () => {
    down = true;
    const send = await appWith({ kind: 'jwks', algorithm: 'ES256', jwksUrl });
    assert.equal(await send(sign(first.privateKey, 'ES256', { kid: 'k1' })), 503);
    down = false;
    assert.equal(await send(sign(first.privateKey, 'ES256', { kid: 'k1' })), 202, 'recovers once the JWKS answers');
  });

  it('answers 503 when the JWKS answers something that is not a key set', async () => {
    keyless = true;
    down = false;
    const send = await appWith({ kind: 'jwks', algorithm: 'ES256', jwksUrl });
    assert.equal(await send(sign(first.privateKey, 'ES256', { kid: 'k1' })), 503);
    keyless = false;
  });
});

describe('command API auth config', () => {
  it('takes exactly one key source and checks a public key against the algorithm', () => {
    const loadCommandApiConfig = (env: Record<string, string>) =>
      loadConfig({ EVENT_ID_SECRET: 'e'.repeat(32), ...env });
    const rsaPem = rsa().publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const ecPem = ec().publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.equal(loadCommandApiConfig({ JWT_PUBLIC_KEY: rsaPem }).auth.kind, 'public-key');
    assert.deepEqual(
      loadCommandApiConfig({
        JWT_JWKS_URL: 'https://id.example/jwks',
        JWT_ALGORITHM: 'ES256',
        JWT_ISSUER: 'https://id.example',
      }).auth,
      {
        kind: 'jwks',
        algorithm: 'ES256',
        jwksUrl: 'https://id.example/jwks',
        issuer: 'https://id.example',
        audience: undefined,
      },
    );
    assert.throws(
      () => loadCommandApiConfig({ JWT_PUBLIC_KEY: ecPem }),
      /JWT_PUBLIC_KEY: must be a PEM public key of the type JWT_ALGORITHM names/,
    );
    assert.throws(
      () => loadCommandApiConfig({ JWT_PUBLIC_KEY: 'not a key', JWT_ALGORITHM: 'ES256' }),
      /JWT_PUBLIC_KEY/,
    );
    assert.throws(
      () => loadCommandApiConfig({ JWT_SECRET: 'x'.repeat(32), JWT_JWKS_URL: 'https://id.example/jwks' }),
      /exactly one of/,
    );
    assert.throws(
      () => loadCommandApiConfig({ JWT_JWKS_URL: 'ftp://id.example/jwks' }),
      /JWT_JWKS_URL: must be an http or https URL/,
    );
    assert.throws(
      () => loadCommandApiConfig({ JWT_JWKS_URL: 'https://id.example/jwks', JWT_ALGORITHM: 'HS256' }),
      /JWT_ALGORITHM/,
    );
  });
});
