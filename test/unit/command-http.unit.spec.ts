import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, beforeEach, describe, it } from 'node:test';
import { createSigner } from 'fast-jwt';
import { mintToken } from '../../command-api/mint-token.ts';
import { UnavailableError } from '../../shared/errors.ts';
import type { EventPublisher } from '../../shared/kafka/publisher.ts';
import type { Problem } from '../../shared/http/problems.ts';
import type { CatalogueEvent } from '../../shared/events/types.ts';
import { createLogger } from '../../shared/logger.ts';
import { buildUnitCommandApp, UNIT_JWT_SECRET } from '../support/command-app.ts';
import { rawExchange, sendWhole } from '../support/raw-http.ts';

/**
 * The command API's HTTP contract, with the Kafka publisher replaced by a recorder: what is
 * checked here is what reaches the log (nothing, for a refused request) and what the client sees.
 */
const SECRET = UNIT_JWT_SECRET;
const TEST_SUPPORT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'support');
const published: CatalogueEvent[] = [];
let kafkaDown = false;
const publisher: EventPublisher = {
  connect: () => Promise.resolve(),
  disconnect: () => Promise.resolve(),
  publish(events) {
    if (kafkaDown) return Promise.reject(new UnavailableError('broker unavailable', 1, 'kafka'));
    published.push(...events);
    return Promise.resolve(events.map((_, i) => ({ topic: 'movie-ratings', partition: 2, offset: 41 + i })));
  },
};

const app = await buildUnitCommandApp({
  publisher,
  newId: () => '00000000-0000-4000-8000-000000000042',
  now: () => new Date(0),
});
after(() => app.close());

const problemOf = (response: { json: () => unknown }) => response.json() as Problem;

const bearer = (sub: string, roles: string[]) => ({ authorization: `Bearer ${mintToken(SECRET, { sub, roles }, 60)}` });

function rate(headers: Record<string, string>, body: unknown = { value: 4 }) {
  return app.inject({ method: 'POST', url: '/v1/movies/m1/ratings', headers, payload: body as object });
}

describe('command API over HTTP', () => {
  beforeEach(() => {
    published.length = 0;
    kafkaDown = false;
  });

  it('accepts a rating with 202, position and consistency token, user taken from the token', async () => {
    const response = await rate(bearer('alice', ['user']));
    assert.equal(response.statusCode, 202);
    assert.deepEqual(response.json(), {
      eventId: '00000000-0000-4000-8000-000000000042',
      position: { topic: 'movie-ratings', partition: 2, offset: 41 },
      consistencyToken: Buffer.from('movie-ratings:2:41').toString('base64url'),
    });
    assert.equal(published.length, 1);
    assert.equal(published[0]?.type === 'RatingSubmitted' && published[0].userId, 'alice');
  });

  const unauthorized: Array<[string, Record<string, string>]> = [
    ['no token', {}],
    ['a malformed token', { authorization: 'Bearer not.a.jwt' }],
    [
      'a token signed with another secret',
      {
        authorization: `Bearer ${mintToken('another-secret-another-secret-1234', { sub: 'alice', roles: ['user'] }, 60)}`,
      },
    ],
    ['an expired token', { authorization: `Bearer ${mintToken(SECRET, { sub: 'alice', roles: ['user'] }, -60)}` }],
    [
      'a token without exp',
      {
        authorization: `Bearer ${createSigner({ key: SECRET, algorithm: 'HS256', noTimestamp: true })({ sub: 'alice', roles: ['user'] })}`,
      },
    ],
    [
      'a token with another algorithm',
      {
        authorization: `Bearer ${createSigner({ key: SECRET, algorithm: 'HS512', expiresIn: 60_000 })({ sub: 'alice', roles: ['user'] })}`,
      },
    ],
  ];
  for (const [name, headers] of unauthorized) {
    it(`refuses ${name} with 401 and publishes nothing`, async () => {
      const response = await rate(headers);
      assert.equal(response.statusCode, 401);
      assert.equal(response.headers['www-authenticate'], 'Bearer');
      assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(problemOf(response).type, 'urn:movie-catalogue:problem:unauthorized');
      assert.deepEqual(published, []);
    });
  }

  it('refuses a caller without the role with 403', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/movies/m1/metadata',
      headers: bearer('alice', ['user']),
      payload: { title: 'T', description: 'D', director: 'X' },
    });
    assert.equal(response.statusCode, 403);
    assert.equal(problemOf(response).type, 'urn:movie-catalogue:problem:forbidden');
    assert.deepEqual(published, []);
  });

  it('refuses invalid input with 400 naming the fields', async () => {
    const response = await rate(bearer('alice', ['user']), { value: 7 });
    assert.equal(response.statusCode, 400);
    assert.deepEqual(response.json(), {
      type: 'urn:movie-catalogue:problem:validation-failed',
      title: 'The request is not valid',
      status: 400,
      detail: 'One or more fields are invalid.',
      instance: '/v1/movies/m1/ratings',
      errors: [{ field: 'value', message: 'must be between 1 and 5' }],
    });
    assert.deepEqual(published, []);
  });

  it('refuses malformed JSON with 400', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/movies/m1/ratings',
      headers: { ...bearer('alice', ['user']), 'content-type': 'application/json' },
      payload: '{"value":',
    });
    assert.equal(response.statusCode, 400);
    assert.equal(problemOf(response).type, 'urn:movie-catalogue:problem:malformed-body');
    assert.deepEqual(published, []);
  });

  it('refuses an oversized body with 413', async () => {
    const response = await rate(bearer('alice', ['user']), { value: 4, padding: 'x'.repeat(4096) });
    assert.equal(response.statusCode, 413);
    assert.equal(problemOf(response).type, 'urn:movie-catalogue:problem:payload-too-large');
    assert.deepEqual(published, []);
  });

  it('authenticates before it reads the body: 401 or 403, not 400 or 413', async () => {
    const send = (headers: Record<string, string>, payload: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/movies/m1/ratings',
        headers: { ...headers, 'content-type': 'application/json' },
        payload,
      });
    const oversized = JSON.stringify({ value: 4, padding: 'x'.repeat(4096) });
    assert.equal((await send({}, '{"value":')).statusCode, 401);
    assert.equal((await send({}, oversized)).statusCode, 401);
    assert.equal((await send({ authorization: 'Bearer nonsense' }, oversized)).statusCode, 401);
    assert.equal((await send(bearer('ada', ['admin']), oversized)).statusCode, 403);
    assert.deepEqual(published, []);
  });

  it("answers 413 that Node's fetch can read, even while it is still sending", async () => {
    // Over a real socket: what matters is that the client reads the answer instead of failing on a closed connection.
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const post = (body: string | ReadableStream<Uint8Array>) =>
      fetch(`${url}/v1/movies/m1/ratings`, {
        method: 'POST',
        headers: { ...bearer('alice', ['user']), 'content-type': 'application/json' },
        body,
        duplex: 'half',
      });
    const endless = new ReadableStream<Uint8Array>({
      pull: (controller) => controller.enqueue(new Uint8Array(65_536).fill(0x20)),
    });
    for (const response of [
      await post(JSON.stringify({ value: 4, padding: 'x'.repeat(5_000_000) })),
      await post(endless),
    ]) {
      assert.equal(response.status, 413);
      assert.equal(((await response.json()) as Problem).type, 'urn:movie-catalogue:problem:payload-too-large');
    }
    assert.deepEqual(published, []);
  });

  it('answers a refused body that stops arriving with its 413 once it has waited a bounded time for it', async (t) => {
    const listening = await buildUnitCommandApp({ publisher });
    t.after(() => listening.close());
    const url = await listening.listen({ host: '127.0.0.1', port: 0 });
    const head = [
      'POST /v1/movies/tt0000001/metadata HTTP/1.1',
      'Host: x',
      `Authorization: ${bearer('ada', ['admin']).authorization}`,
      'Content-Type: application/json',
      `Content-Length: ${16 * 1024 * 1024}`,
    ].join('\r\n');
    // A client that promises 16 MB, sends a little, and goes silent without closing.
    const answer = await rawExchange(url, `${head}\r\n\r\n{"title":"`, 10_000);
    assert.equal(answer.status, 413);
    assert.equal((JSON.parse(answer.body) as Problem).type, 'urn:movie-catalogue:problem:payload-too-large');
  });

  it('reads a refused 5 or 16 MB body to its end before it closes, so that fetch, or any client that sends it all, hears the 413', async () => {
    // The server in a process of its own, as in production: sharing the client's event loop hides the race.
    const server = spawn(process.execPath, ['--import', 'tsx', path.join(TEST_SUPPORT, 'command-app-process.ts')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [line] = (await once(server.stdout, 'data')) as [Buffer];
      const url = line.toString().trim();
      const headers = { ...bearer('ada', ['admin']), 'content-type': 'application/json' };
      for (const megabytes of [5, 16]) {
        const description = 'x'.repeat(megabytes * 1024 * 1024);
        const body = JSON.stringify({ title: 'T', description, director: 'D', year: 2000, actors: [] });
        const sent = await sendWhole(url, '/v1/movies/tt0000001/metadata', headers, body);
        assert.equal(sent.error, undefined, `${megabytes} MB: the connection closed while the body was being sent`);
        assert.equal(sent.answer.status, 413, `${megabytes} MB`);
        const response = await fetch(`${url}/v1/movies/tt0000001/metadata`, { method: 'POST', headers, body });
        assert.equal(response.status, 413, `${megabytes} MB with fetch`);
        assert.equal(((await response.json()) as Problem).type, 'urn:movie-catalogue:problem:payload-too-large');
      }
    } finally {
      server.kill();
    }
  });

  it("answers fastify's own client errors with problems too", async () => {
    const cases = [
      { url: '/v1/movies/%E0%A4%A/ratings', contentType: 'application/json', status: 400, type: 'malformed-url' },
      {
        url: `/v1/movies/${'x'.repeat(200)}/ratings`,
        contentType: 'application/json',
        status: 414,
        type: 'uri-too-long',
      },
      { url: '/v1/movies/m1/ratings', contentType: 'text/plain', status: 415, type: 'unsupported-media-type' },
      {
        url: '/v1/movies/m1/ratings',
        contentType: 'application/json; charset=utf-16',
        status: 415,
        type: 'unsupported-media-type',
      },
      {
        url: '/v1/movies/m1/ratings',
        contentType: 'application/json; charset="ISO-8859-1"',
        status: 415,
        type: 'unsupported-media-type',
      },
    ];
    for (const c of cases) {
      const response = await app.inject({
        method: 'POST',
        url: c.url,
        headers: { ...bearer('alice', ['user']), 'content-type': c.contentType },
        payload: '{"value":4}',
      });
      assert.equal(response.statusCode, c.status, c.url);
      assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(problemOf(response).type, `urn:movie-catalogue:problem:${c.type}`);
    }
    assert.deepEqual(published, []);
    for (const contentType of ['application/json; charset=UTF-8', 'application/json;charset="utf8"']) {
      const accepted = await app.inject({
        method: 'POST',
        url: '/v1/movies/m1/ratings',
        headers: { ...bearer('alice', ['user']), 'content-type': contentType },
        payload: '{"value":4}',
      });
      assert.equal(accepted.statusCode, 202, contentType);
    }
  });

  it("answers what Node's HTTP parser refuses, and a request without Host, with problems too", async (t) => {
    // These never reach a route: only raw bytes on a socket can send them.
    const listening = await buildUnitCommandApp({ publisher });
    t.after(() => listening.close());
    const url = await listening.listen({ host: '127.0.0.1', port: 0 });
    const token = bearer('alice', ['user']).authorization;
    const cases = [
      { name: 'a malformed request line', request: 'NOT HTTP AT ALL\r\n\r\n', status: 400, type: 'malformed-request' },
      {
        name: 'a NUL in a header',
        request: `POST /v1/movies/m1/ratings HTTP/1.1\r\nHost: x\r\nAuthorization: ${token}\r\nX-A: a\u0000b\r\n\r\n`,
        status: 400,
        type: 'malformed-request',
      },
      {
        name: 'a malformed chunk',
        request:
          'POST /v1/movies/m1/ratings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n',
        status: 400,
        type: 'malformed-request',
      },
      {
        name: 'headers too large',
        request: `GET /health/live HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(20_000)}\r\n\r\n`,
        status: 431,
        type: 'headers-too-large',
      },
      // Node reads a GET's body in another coding than chunked as none; a proxy in front may not.
      {
        name: 'a body in another coding than chunked',
        request: 'GET /health/live HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n',
        status: 400,
        type: 'malformed-request',
        headers: { connection: 'close' },
      },
      {
        name: 'a tunnel asked for',
        request: 'CONNECT localhost:5432 HTTP/1.1\r\nHost: localhost:5432\r\n\r\n',
        status: 405,
        type: 'method-not-allowed',
        headers: { allow: 'GET, HEAD, POST, DELETE' },
      },
      {
        name: 'a compressed body',
        request: `POST /v1/movies/m1/ratings HTTP/1.1\r\nHost: x\r\nAuthorization: ${token}\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{"value":4}`,
        status: 415,
        type: 'unsupported-media-type',
        headers: { 'accept-encoding': 'identity' },
      },
      {
        name: 'no Host',
        request: `POST /v1/movies/m1/ratings HTTP/1.1\r\nAuthorization: ${token}\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{"value":4}`,
        status: 400,
        type: 'malformed-request',
      },
    ];
    for (const c of cases) {
      const answer = await rawExchange(url, c.request);
      assert.equal(answer.status, c.status, c.name);
      assert.equal(answer.headers['content-type']?.split(';')[0], 'application/problem+json', c.name);
      const problem = JSON.parse(answer.body) as Problem;
      assert.deepEqual(
        { type: problem.type, status: problem.status },
        { type: `urn:movie-catalogue:problem:${c.type}`, status: c.status },
        c.name,
      );
      assert.equal(typeof problem.title, 'string', c.name);
      assert.equal(answer.after, '', `${c.name}: one answer only`);
      for (const [name, value] of Object.entries(c.headers ?? {}))
        assert.equal(answer.headers[name], value, `${c.name}: ${name}`);
    }
    assert.deepEqual(published, []);
  });

  it('takes subjects as identity providers spell them', async () => {
    for (const sub of ['auth0|123', 'frank@example.com']) {
      const response = await rate(bearer(sub, ['user']));
      assert.equal(response.statusCode, 202);
    }
    assert.deepEqual(
      published.map((e) => (e.type === 'RatingSubmitted' ? e.userId : undefined)),
      ['auth0|123', 'frank@example.com'],
    );
  });

  it('answers 503 with Retry-After when Kafka does not acknowledge, never 202', async () => {
    kafkaDown = true;
    const response = await rate(bearer('alice', ['user']));
    assert.equal(response.statusCode, 503);
    assert.equal(response.headers['retry-after'], '1');
    assert.equal(problemOf(response).type, 'urn:movie-catalogue:problem:service-unavailable');
    assert.match(problemOf(response).detail!, /may or may not be recorded/);
  });

  it("takes back the caller's own rating with DELETE", async () => {
    const remove = (headers: Record<string, string>, movie = 'm1') =>
      app.inject({ method: 'DELETE', url: `/v1/movies/${movie}/ratings`, headers });
    assert.equal((await remove({})).statusCode, 401);
    assert.equal((await remove(bearer('feed', ['provider']))).statusCode, 403);
    const invalid = await remove(bearer('alice', ['user']), 'no%20such');
    assert.equal(invalid.statusCode, 400);
    assert.deepEqual(problemOf(invalid).errors, [
      { field: 'movieId', message: 'must be 1 to 64 letters, digits or ._~-' },
    ]);
    assert.deepEqual(published, []);

    const response = await remove({ ...bearer('alice', ['user']), 'x-correlation-id': 'trace-42' });
    assert.equal(response.statusCode, 202);
    assert.equal(response.headers['x-correlation-id'], 'trace-42');
    assert.deepEqual(published, [
      {
        type: 'RatingDeleted',
        envelope: {
          eventId: '00000000-0000-4000-8000-000000000042',
          occurredAt: new Date(0),
          principal: 'alice',
          correlationId: 'trace-42',
        },
        recordType: 'movie',
        recordId: 'm1',
        userId: 'alice',
      },
    ]);
  });

  it("imports a provider's ratings in bulk, all or nothing", async () => {
    const batch = (headers: Record<string, string>, body: unknown) =>
      app.inject({ method: 'POST', url: '/v1/ratings/batch', headers, payload: body as object });
    const body = {
      providerId: 'imdb',
      ratings: [
        { movieId: 'm1', userId: 'u1', value: 5 },
        { movieId: 'm2', userId: 'u2', value: 2 },
      ],
    };
    assert.equal((await batch(bearer('alice', ['user']), body)).statusCode, 403);
    const invalid = await batch(bearer('feed', ['provider']), {
      ...body,
      ratings: [...body.ratings, { movieId: 'm3', userId: 'u3', value: 0 }],
    });
    assert.equal(invalid.statusCode, 400);
    assert.deepEqual(problemOf(invalid).errors, [{ field: 'ratings.2.value', message: 'must be between 1 and 5' }]);
    assert.deepEqual(published, []);

    const accepted = await batch(bearer('feed', ['provider']), body);
    assert.equal(accepted.statusCode, 202);
    const positions = [0, 1].map((i) => ({ topic: 'movie-ratings', partition: 2, offset: 41 + i }));
    assert.deepEqual(accepted.json(), {
      eventIds: ['00000000-0000-4000-8000-000000000042', '00000000-0000-4000-8000-000000000042'],
      positions,
      consistencyToken: Buffer.from('movie-ratings:2:42').toString('base64url'),
    });
    assert.deepEqual(
      (published as CatalogueEvent[]).map((e) =>
        e.type === 'RatingSubmitted' ? [e.recordId, e.userId, e.value, e.providerId, e.envelope.principal] : e.type,
      ),
      [
        ['m1', 'u1', 5, 'imdb', 'feed'],
        ['m2', 'u2', 2, 'imdb', 'feed'],
      ],
    );

    kafkaDown = true;
    const unavailable = await batch(bearer('feed', ['provider']), body);
    assert.equal(unavailable.statusCode, 503);
    assert.match(problemOf(unavailable).detail!, /may or may not be recorded/);
  });

  it('answers unknown routes with a 404 problem', async () => {
    const response = await app.inject({ method: 'GET', url: '/nope' });
    assert.equal(response.statusCode, 404);
    assert.equal(problemOf(response).type, 'urn:movie-catalogue:problem:not-found');
  });
});

describe('rate limits', () => {
  it('answers 429 with Retry-After past the limit of one principal, publishing nothing, while others go on', async (t) => {
    const limited = await buildUnitCommandApp({ publisher, config: { rateLimit: { max: 3, windowMs: 60_000 } } });
    t.after(() => limited.close());
    published.length = 0;
    const send = (headers: Record<string, string>) =>
      limited.inject({ method: 'POST', url: '/v1/movies/m1/ratings', headers, payload: { value: 4 } });

    for (let i = 0; i < 3; i++) assert.equal((await send(bearer('carol', ['user']))).statusCode, 202);
    const refused = await send(bearer('carol', ['user']));
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(problemOf(refused).type, 'urn:movie-catalogue:problem:rate-limited');
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${String(refused.headers['retry-after'])}`);
    assert.equal(published.length, 3);

    assert.equal((await send(bearer('dave', ['user']))).statusCode, 202, 'another principal has its own budget');
    assert.equal((await send({})).statusCode, 401, 'no token is refused before any counting');
    assert.equal(
      (await limited.inject({ method: 'GET', url: '/health/live' })).statusCode,
      200,
      'health is never limited',
    );
  });
});

describe('request timeouts', () => {
  it('answers 503 with Retry-After at the request timeout when the log never answers', async (t) => {
    const hung: EventPublisher = { ...publisher, publish: () => new Promise(() => undefined) };
    const slow = await buildUnitCommandApp({ publisher: hung, config: { requestTimeoutMs: 300 } });
    t.after(() => slow.close());
    const started = performance.now();
    const response = await slow.inject({
      method: 'POST',
      url: '/v1/movies/m1/ratings',
      headers: bearer('alice', ['user']),
      payload: { value: 4 },
    });
    const took = performance.now() - started;
    assert.equal(response.statusCode, 503);
    assert.equal(response.headers['retry-after'], '1');
    assert.equal(problemOf(response).type, 'urn:movie-catalogue:problem:service-unavailable');
    assert.match(problemOf(response).detail!, /may or may not be recorded.*same Idempotency-Key/);
    assert.ok(took >= 290 && took < 2000, `answered after ${Math.round(took)} ms`);
  });
});

describe('OpenAPI', () => {
  it('documents every command, from the schemas that validate it, at /docs/json, with the UI at /docs', async () => {
    interface Operation {
      requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> };
      responses: Record<string, unknown>;
      parameters?: Array<{ name: string; in: string }>;
    }
    const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{
      openapi: string;
      paths: Record<string, Record<string, Operation>>;
    }>();
    assert.equal(spec.openapi, '3.0.3');
    const operations = Object.entries(spec.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
    );
    assert.deepEqual(operations.sort(), [
      'DELETE /v1/movies/{movieId}/ratings',
      'POST /v1/movies/{movieId}/metadata',
      'POST /v1/movies/{movieId}/ratings',
      'POST /v1/ratings/batch',
    ]);
    const rating = spec.paths['/v1/movies/{movieId}/ratings']!.post!;
    assert.deepEqual(rating.requestBody!.content['application/json']!.schema.properties.value, {
      type: 'integer',
      minimum: 1,
      maximum: 5,
    });
    assert.ok(['202', '400', '401', '409', '413', '429', '503'].every((status) => status in rating.responses));
    const metadata = spec.paths['/v1/movies/{movieId}/metadata']!.post!;
    assert.deepEqual(metadata.parameters!.map((p) => `${p.in}:${p.name}`).sort(), [
      'header:idempotency-key',
      'header:if-match',
      'path:movieId',
    ]);
    assert.ok('412' in metadata.responses);
    const ui = await app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(ui.statusCode, 200);
    assert.match(ui.headers['content-type'] as string, /text\/html/);
  });
});

describe('request logs', () => {
  it('logs service, route, status, duration and correlation id per request, never tokens or bodies', async (t) => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
    const logged = await buildUnitCommandApp({ publisher, logger: createLogger('command-api', 'debug', sink) });
    t.after(() => logged.close());
    const headers = bearer('alice', ['user']);
    const ok = await logged.inject({
      method: 'POST',
      url: '/v1/movies/m1/ratings',
      headers: { ...headers, 'x-correlation-id': 'trace-7' },
      payload: { value: 4 },
    });
    const refused = await logged.inject({
      method: 'POST',
      url: '/v1/movies/m1/ratings',
      headers: { ...headers, 'x-correlation-id': 'bad id with spaces' },
      payload: { value: 'secret-body-value' },
    });

    const requests = lines.filter((l) => l.msg === 'request');
    assert.deepEqual(
      requests.map(({ service, route, status, correlationId, level }) => ({
        service,
        route,
        status,
        correlationId,
        level,
      })),
      [
        {
          service: 'command-api',
          route: '/v1/movies/:movieId/ratings',
          status: 202,
          correlationId: 'trace-7',
          level: 20,
        },
        {
          service: 'command-api',
          route: '/v1/movies/:movieId/ratings',
          status: 400,
          correlationId: refused.headers['x-correlation-id'],
          level: 30,
        },
      ],
    );
    assert.equal(ok.headers['x-correlation-id'], 'trace-7');
    assert.match(
      String(refused.headers['x-correlation-id']),
      /^[0-9a-f-]{36}$/,
      'an unusable correlation id is replaced',
    );
    assert.ok(requests.every((l) => typeof l.durationMs === 'number'));
    const all = JSON.stringify(lines);
    assert.ok(!all.includes(headers.authorization.slice(7)), 'no token in the logs');
    assert.ok(!all.includes('secret-body-value'), 'no body in the logs');
  });
});
