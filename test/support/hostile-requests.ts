import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { mintToken } from '../../command-api/mint-token.ts';
import { encodeConsistencyToken } from '../../shared/events/position.ts';
import { ID_PATTERN, USER_ID_PATTERN } from '../../shared/events/types.ts';

/*
 * Requests that no correct catalogue accepts, built so that each breaks at least one rule of the
 * brief's HTTP contract (a body, a header, a token, an id, a query, or HTTP itself), together with
 * the statuses a correct refusal may have. The few families drawn at random rather than broken by
 * construction leave out, by an independent test, whatever might be valid.
 */

export type Api = 'command' | 'query';

export type Wire =
  | { kind: 'http'; method: string; path: string; headers: Record<string, string>; body?: string }
  | { kind: 'raw'; bytes: Buffer };

export interface HostileRequest {
  family: string;
  api: Api;
  wire: Wire;
  refusedWith: readonly number[];
}

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A JWT signed with HMAC-SHA256 over whatever header and claims it is given. */
function hs256(claims: unknown, secret: string, header: unknown = { alg: 'HS256', typ: 'JWT' }): string {
  const signed = `${b64(header)}.${b64(claims)}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

type Role = 'admin' | 'user' | 'provider';
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isIntIn = (v: unknown, min: number, max: number) =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

/** Header-safe text: printable ASCII, as any HTTP client sends. */
const printable = (maxLength = 40) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });
const objectText = (entries: ReadonlyArray<readonly [string, string]>) =>
  `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

/** JSON texts of values that are wrong for any typed field: other types, huge and odd numbers. */
const wrongValue = fc.oneof(
  fc.constantFrom(
    'null',
    'true',
    'false',
    '[]',
    '{}',
    '""',
    '"3"',
    '[3]',
    '{"$gt":0}',
    '1e309',
    '-1e309',
    '1e308',
    '-0',
    '0.5',
    '6',
    '-1',
    '4294967297',
    '123456789012345678901234567890',
    '9007199254740993',
  ),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
);
/** wrongValue, less the values a field that `takes` would accept. */
const wrongUnless = (takes: (value: unknown) => boolean) => wrongValue.filter((text) => !takes(JSON.parse(text)));
/** Text no read model can keep, or too long for a field of at most `max` characters. */
const badText = (max: number, visible: boolean) =>
  fc.oneof(
    fc.constantFrom(
      '"\\u0000"',
      '"title\\u0000"',
      '"\\ud800"',
      '"x\\udfffy"',
      JSON.stringify('x'.repeat(max + 1)),
      JSON.stringify(`${'é'.repeat(max)}!`),
    ),
    visible ? fc.constantFrom('""', '"   "', '"\\t\\n"', '"\\u200b"', '"\\u0007"') : fc.constant('"\\u0000"'),
    fc.constantFrom('5', 'null', '[]', '{}', 'true', '["a"]'),
  );
const badId = fc.oneof(
  fc.constantFrom('', 'a b', 'a/b', 'ü', 'x'.repeat(65), '../etc', 'a\u0000', '🎬', 'a%b', 'id\n'),
  fc.string({ unit: 'binary', maxLength: 80 }).filter((s) => !ID_PATTERN.test(s)),
);
const badUserId = fc.oneof(
  fc.constantFrom('', 'a b', 'ü', 'x'.repeat(129), '\u0000', 'tab\there'),
  fc.string({ unit: 'binary', maxLength: 140 }).filter((s) => !USER_ID_PATTERN.test(s)),
);
const goodId = fc.stringMatching(ID_PATTERN);

interface CommandRoute {
  name: string;
  method: 'POST' | 'DELETE';
  path: (movieId: string) => string;
  role: Role;
  /** A body the command accepts; absent for a command without one. */
  validBody?: string;
  /** Bodies this command must refuse. */
  badBodies?: fc.Arbitrary<string>;
}

/** A JSON object `base` with one field replaced by `value`'s text, or left out (`undefined`). */
const withField = (base: Record<string, string>, field: string, value: string | undefined) =>
  objectText(
    Object.entries(base)
      .filter(([k]) => k !== field)
      .concat(value === undefined ? [] : [[field, value]]),
  );

/** Bodies of any command that no schema of the brief accepts, whatever the command. */
function malformedJson(valid: string): fc.Arbitrary<string> {
  return fc.oneof(
    // A strict prefix of an object's text is never JSON.
    fc.integer({ min: 0, max: valid.length - 1 }).map((n) => valid.slice(0, n)),
    fc.constantFrom('x', '}', ']', ',', '0', '"', 'null').map((tail) => `${valid}${tail}`),
    fc.constantFrom(
      "{'value':3}",
      '{value:3}',
      '{"value":NaN}',
      '{"value":Infinity}',
      '{"value":0x3}',
      '{"value":03}',
      '\u0000',
      '[',
      '{"a":1,}',
      '\ufeff\ufeff{}',
    ),
    // Deep nesting, up to the body limit.
    fc.integer({ min: 1000, max: 400_000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
    fc.integer({ min: 1000, max: 100_000 }).map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
    // Prototype pollution.
    fc.constantFrom(
      '{"__proto__":{"value":3}}',
      '{"constructor":{"prototype":{"value":3}}}',
      valid.replace('{', '{"__proto__":{"admin":true},'),
    ),
  );
}

/** Any JSON at all, less whatever `mayBeValid` cannot rule out. */
const randomJson = (mayBeValid: (value: unknown) => boolean) =>
  fc
    .jsonValue({ maxDepth: 4 })
    .filter((v) => !mayBeValid(v))
    .map((v) => JSON.stringify(v));

const unknownKey = fc.oneof(
  fc.constantFrom('Title', 'movieId', 'version', 'userId', 'extra', ''),
  fc.string({ maxLength: 10 }),
);

function metadataBodies(): fc.Arbitrary<string> {
  const base = { title: '"Arrival"', description: '"A linguist."', director: '"Denis Villeneuve"' };
  const known = ['title', 'description', 'director', 'year', 'actors'];
  return fc.oneof(
    fc.constantFrom('title', 'description', 'director').map((field) => withField(base, field, undefined)),
    badText(300, true).map((v) => withField(base, 'title', v)),
    badText(200, true).map((v) => withField(base, 'director', v)),
    badText(10_000, false).map((v) => withField(base, 'description', v)),
    fc
      .oneof(
        fc.constantFrom('1869', '2101', '1999.5', '"1999"', '1e309', '-0.1', 'true', '[]'),
        wrongUnless((v) => v === null || isIntIn(v, 1870, 2100)),
      )
      .map((v) => withField(base, 'year', v)),
    fc
      .oneof(
        badText(200, true).map((v) => `["Amy Adams",${v}]`),
        fc.constantFrom('"Amy Adams"', '{}', '5', `[${Array(501).fill('"a"').join(',')}]`, '[["nested"]]'),
      )
      .map((v) => withField(base, 'actors', v)),
    fc
      .tuple(
        unknownKey.filter((k) => !known.includes(k)),
        wrongValue,
      )
      .map(([k, v]) => withField(base, k, v)),
    randomJson((v) => isObject(v) && ['title', 'description', 'director'].every((k) => typeof v[k] === 'string')),
    malformedJson(objectText(Object.entries(base))),
  );
}

function ratingBodies(): fc.Arbitrary<string> {
  const accepted = (v: unknown) => isObject(v) && Object.keys(v).length === 1 && isIntIn(v.value, 1, 5);
  return fc.oneof(
    wrongUnless((v) => accepted({ value: v })).map((v) => `{"value":${v}}`),
    fc
      .tuple(
        unknownKey.filter((k) => k !== 'value'),
        wrongValue,
      )
      .map(([k, v]) => `{"value":3,${JSON.stringify(k)}:${v}}`),
    fc.constantFrom(
      '{}',
      '{"value":3,"value":7}',
      '{"Value":3}',
      '{"value":"3"}',
      '{"value":3.5}',
      '[{"value":3}]',
      '"value"',
      '3',
    ),
    randomJson(accepted),
    malformedJson('{"value":3}'),
  );
}

function batchBodies(): fc.Arbitrary<string> {
  const item = { movieId: '"m1"', userId: '"u1"', value: '4' };
  const items = (broken: string, at: number, size: number) =>
    `[${Array.from({ length: size }, (_, i) => (i === at ? broken : objectText(Object.entries(item)))).join(',')}]`;
  const badItem = fc.oneof(
    badId.map((v) => withField(item, 'movieId', JSON.stringify(v))),
    badUserId.map((v) => withField(item, 'userId', JSON.stringify(v))),
    wrongUnless((v) => isIntIn(v, 1, 5)).map((v) => withField(item, 'value', v)),
    fc.constantFrom('movieId', 'userId', 'value').map((field) => withField(item, field, undefined)),
    fc
      .tuple(
        unknownKey.filter((k) => !Object.hasOwn(item, k)),
        wrongValue,
      )
      .map(([k, v]) => withField(item, k, v)),
    fc.constantFrom('null', '5', '"m1"', '[]'),
  );
  const base = { providerId: '"imdb"' };
  return fc.oneof(
    fc
      .tuple(badItem, fc.integer({ min: 1, max: 40 }))
      .chain(([broken, size]) =>
        fc.integer({ min: 0, max: size - 1 }).map((at) => withField(base, 'ratings', items(broken, at, size))),
      ),
    fc.constant(withField(base, 'ratings', '[]')),
    fc.constant(
      withField(
        base,
        'ratings',
        `[${Array(1001)
          .fill(objectText(Object.entries(item)))
          .join(',')}]`,
      ),
    ),
    fc
      .oneof(
        badId.map((v) => JSON.stringify(v)),
        wrongUnless((v) => typeof v === 'string' && ID_PATTERN.test(v)),
      )
      .map((v) =>
        objectText([
          ['providerId', v],
          ['ratings', items('', -1, 1)],
        ]),
      ),
    fc.constant(objectText([['ratings', items('', -1, 1)]])),
    fc
      .tuple(
        unknownKey.filter((k) => k !== 'providerId' && k !== 'ratings'),
        wrongValue,
      )
      .map(([k, v]) =>
        objectText([
          ['providerId', '"imdb"'],
          ['ratings', items('', -1, 1)],
          [k, v],
        ]),
      ),
    randomJson((v) => isObject(v) && typeof v.providerId === 'string' && Array.isArray(v.ratings)),
    malformedJson(
      objectText([
        ['providerId', '"imdb"'],
        ['ratings', items('', -1, 1)],
      ]),
    ),
  );
}

const COMMANDS: readonly CommandRoute[] = [
  {
    name: 'metadata',
    method: 'POST',
    path: (id) => `/v1/movies/${id}/metadata`,
    role: 'admin',
    validBody: '{"title":"Arrival","description":"","director":"Denis Villeneuve"}',
    badBodies: metadataBodies(),
  },
  {
    name: 'rating',
    method: 'POST',
    path: (id) => `/v1/movies/${id}/ratings`,
    role: 'user',
    validBody: '{"value":3}',
    badBodies: ratingBodies(),
  },
  { name: 'delete', method: 'DELETE', path: (id) => `/v1/movies/${id}/ratings`, role: 'user' },
  {
    name: 'batch',
    method: 'POST',
    path: () => '/v1/ratings/batch',
    role: 'provider',
    validBody: '{"providerId":"imdb","ratings":[{"movieId":"m1","userId":"u1","value":4}]}',
    badBodies: batchBodies(),
  },
];

/** Headers that change nothing about a request's validity, of junk values, on every request. */
const noise: fc.Arbitrary<Record<string, string>> = fc.dictionary(
  fc.constantFrom(
    'x-correlation-id',
    'traceparent',
    'tracestate',
    'accept',
    'accept-encoding',
    'accept-language',
    'cookie',
    'x-forwarded-for',
    'user-agent',
    'x-request-id',
    'forwarded',
  ),
  printable(60).map((s) => s.trim()),
  { maxKeys: 3 },
);

/** Tokens that must not let a caller in: unsigned, forged, expired, of bad claims, or no token at all. */
function badAuthorization(secret: string, role: Role): fc.Arbitrary<{ header: string | undefined; status: number }> {
  const unauthorized = (header: fc.Arbitrary<string | undefined>) => header.map((h) => ({ header: h, status: 401 }));
  const claims = fc.record({ sub: fc.constant('fuzz-user'), roles: fc.constant([role]), exp: fc.constant(inAnHour()) });
  return fc.oneof(
    unauthorized(
      fc.constantFrom(
        undefined,
        '',
        'Bearer',
        'Bearer ',
        'bearer',
        'Basic YWRtaW46YWRtaW4=',
        'Token abc',
        'Bearer a.b.c',
        'Bearer ..',
        'Bearer x'.repeat(2000),
      ),
    ),
    unauthorized(printable(200).map((s) => `Bearer ${s}`)),
    unauthorized(claims.map((c) => `Bearer ${hs256(c, secret, { alg: 'none', typ: 'JWT' }).replace(/[^.]+$/, '')}`)),
    unauthorized(claims.map((c) => `Bearer ${hs256(c, `${secret}-but-another`)}`)),
    unauthorized(claims.map((c) => `Bearer ${hs256(c, secret, { alg: 'HS512', typ: 'JWT' })}`)),
    unauthorized(claims.map((c) => `Bearer ${hs256(c, secret, { alg: 'RS256', typ: 'JWT' })}`)),
    unauthorized(claims.map((c) => `Bearer ${hs256({ ...c, exp: Math.floor(Date.now() / 1000) - 60 }, secret)}`)),
    unauthorized(claims.map((c) => `Bearer ${hs256({ ...c, nbf: inAnHour() }, secret)}`)),
    unauthorized(claims.map((c) => `Bearer ${hs256({ sub: c.sub, roles: c.roles }, secret)}`)),
    unauthorized(
      fc
        .oneof(fc.constantFrom('', ' ', 'a b', 'x'.repeat(129), 'ü', null, 5, {}, ['a']), badUserId)
        .map((sub) => `Bearer ${hs256({ sub, roles: [role], exp: inAnHour() }, secret)}`),
    ),
    unauthorized(
      fc
        .constantFrom(role, null, 5, {}, [5], [{ role }])
        .map((roles) => `Bearer ${hs256({ sub: 'fuzz-user', roles, exp: inAnHour() }, secret)}`),
    ),
    unauthorized(claims.map((c) => `Bearer ${hs256(c, secret).slice(0, -2)}`)),
    fc.subarray(['admin', 'user', 'provider', 'Admin', 'root', '*', ''].filter((r) => r !== role)).map((roles) => ({
      header: `Bearer ${hs256({ sub: 'fuzz-user', roles, exp: inAnHour() }, secret)}`,
      status: 403,
    })),
  );
}

const encodedId = badId.filter((s) => s.isWellFormed() && s !== '').map(encodeURIComponent);
/** Path segments no router or decoder may choke on: bad escapes, encoded invalid UTF-8, far too long. */
const brokenSegment = fc.constantFrom(
  '%',
  '%zz',
  '%c3%28',
  '%ed%a0%80',
  '%ff',
  '%00',
  'a%2',
  '%%32%33',
  'x'.repeat(200),
  '%F0%9F',
);

export function commandRequests(secret: string): fc.Arbitrary<HostileRequest> {
  const tokenFor = (role: Role) => mintToken(secret, { sub: `fuzz-${role}`, roles: [role] }, 3600);
  const withBody = COMMANDS.filter(
    (c): c is CommandRoute & { validBody: string; badBodies: fc.Arbitrary<string> } => c.validBody !== undefined,
  );
  const request = (
    family: string,
    refusedWith: readonly number[],
    c: CommandRoute,
    path: string,
    headers: Record<string, string | undefined>,
    body?: string,
  ): HostileRequest => ({
    family: `command ${family}`,
    api: 'command',
    refusedWith,
    wire: {
      kind: 'http',
      method: c.method,
      path,
      headers: Object.fromEntries(
        Object.entries({ ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers }).filter(
          (e): e is [string, string] => e[1] !== undefined,
        ),
      ),
      ...(body === undefined ? {} : { body }),
    },
  });
  const authorized = (c: CommandRoute) => ({ authorization: `Bearer ${tokenFor(c.role)}` });
  const route = fc.constantFrom(...COMMANDS);

  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...withBody).chain((c) => fc.tuple(fc.constant(c), c.badBodies)),
          goodId,
          noise,
        )
        .map(([[c, body], id, n]) => request('body', [400], c, c.path(id), { ...n, ...authorized(c) }, body)),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          route.chain((c) => fc.tuple(fc.constant(c), badAuthorization(secret, c.role))),
          goodId,
          noise,
        )
        .map(([[c, auth], id, n]) =>
          request('token', [auth.status], c, c.path(id), { ...n, authorization: auth.header }, c.validBody),
        ),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          route,
          goodId,
          noise,
          fc.oneof(
            fc.constantFrom('', ' ', 'a b', 'x'.repeat(256), 'key\t1', 'é'),
            printable(300).filter((s) => !/^[!-~]{1,255}$/.test(s.trim())),
          ),
        )
        .map(([c, id, n, key]) =>
          request(
            'idempotency key',
            [400],
            c,
            c.path(id),
            { ...n, ...authorized(c), 'idempotency-key': key },
            c.validBody,
          ),
        ),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          goodId,
          noise,
          fc.oneof(
            fc.constantFrom(
              '*',
              '3',
              'W/"3"',
              '"3", "4"',
              '"-1"',
              '"03"',
              '"1.5"',
              '"9999999999"',
              '""',
              '"abc"',
              "'3'",
            ),
            printable(40).filter((s) => !/^"(0|[1-9][0-9]{0,8})"$/.test(s.trim())),
          ),
        )
        .map(([id, n, ifMatch]) =>
          request(
            'if-match',
            [400],
            COMMANDS[0]!,
            COMMANDS[0]!.path(id),
            { ...n, ...authorized(COMMANDS[0]!), 'if-match': ifMatch },
            COMMANDS[0]!.validBody,
          ),
        ),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...withBody),
          goodId,
          noise,
          fc.oneof(
            fc.constantFrom(
              'text/plain',
              'application/x-www-form-urlencoded',
              'multipart/form-data; boundary=x',
              'application/xml',
              'application/jsonx',
              'json',
              '',
              'application/',
              '*/*',
              'text/json',
              'application/json; charset=utf-16',
              'application/json; charset=latin1',
            ),
            fc
              .tuple(printable(12), printable(12))
              .map(([a, b]) => `${a}/${b}`)
              .filter((t) => !/^\s*application\/json\s*(;.*)?$/i.test(t) && !/\+json/i.test(t)),
          ),
        )
        .map(([c, id, n, type]) =>
          request('content type', [415], c, c.path(id), { ...n, ...authorized(c), 'content-type': type }, c.validBody),
        ),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...withBody),
          goodId,
          noise,
          fc.oneof(
            fc.constantFrom('gzip', 'deflate', 'br', 'zstd', 'gzip, identity', 'compress'),
            fc.stringMatching(/^[a-z0-9-]{1,12}$/).filter((c) => c !== 'identity'),
          ),
        )
        .map(([c, id, n, coding]) =>
          request(
            'content encoding',
            [415],
            c,
            c.path(id),
            { ...n, ...authorized(c), 'content-encoding': coding },
            c.validBody,
          ),
        ),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...COMMANDS.filter((c) => c.name !== 'batch')),
          fc.oneof(encodedId, brokenSegment),
          noise,
        )
        .map(([c, id, n]) => request('movie id', [400, 414], c, c.path(id), { ...n, ...authorized(c) }, c.validBody)),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...withBody), goodId, fc.integer({ min: 1024 * 1024 + 1, max: 1024 * 1024 + 64 * 1024 }))
        .map(([c, id, size]) =>
          request('too large', [413], c, c.path(id), authorized(c), `{"description":"${'x'.repeat(size)}"}`),
        ),
    },
    { weight: 1, arbitrary: unknownRoutes('command') },
  );
}

/** Routes neither API has: other methods on known paths, unknown paths, the docs' files escaped. */
function unknownRoutes(api: Api): fc.Arbitrary<HostileRequest> {
  const known =
    api === 'command'
      ? ['/v1/movies/m1/metadata', '/v1/movies/m1/ratings', '/v1/ratings/batch']
      : ['/v1/movies', '/v1/movies/m1', '/v1/movies/m1/rating', '/v1/commands/status'];
  const path = fc.oneof(
    fc.constantFrom(...known),
    fc.constantFrom(
      '/',
      '/v2/movies',
      '/v1',
      '/v1/',
      '/v1/movies/m1/metadata/x',
      '/admin',
      '/.env',
      '/docs/static/../../../../etc/passwd',
      '/docs/static/%2e%2e%2f%2e%2e%2fpackage.json',
      '/docs/static/..%2f..%2f..%2fetc%2fpasswd',
      '/docs/static/.hidden',
      '/docs/static/nothing.js',
      '/metrics/x',
      '/health/ready/x',
    ),
    fc
      .array(fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/), { minLength: 1, maxLength: 4 })
      .map((segments) => `/v1/${segments.join('/')}`)
      .filter(
        (p) =>
          !/^\/v1\/movies(\/[^/]+(\/(rating|ratings|metadata))?)?$/.test(p) &&
          !/^\/v1\/commands\/[^/]+$/.test(p) &&
          p !== '/v1/ratings/batch',
      ),
  );
  const method = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE');
  return fc
    .tuple(method, path)
    .filter(([m, p]) => !knownRoute(api, m, p))
    .map(([m, p]) => ({
      family: `${api} unknown route`,
      api,
      refusedWith: [400, 403, 404, 405],
      wire: { kind: 'http', method: m, path: p, headers: {} },
    }));
}

function knownRoute(api: Api, method: string, path: string): boolean {
  if (api === 'command') {
    return (
      (method === 'POST' && /^\/v1\/movies\/[^/]+\/(metadata|ratings)$/.test(path)) ||
      (method === 'DELETE' && /^\/v1\/movies\/[^/]+\/ratings$/.test(path)) ||
      (method === 'POST' && path === '/v1/ratings/batch')
    );
  }
  return (
    (method === 'GET' && /^\/v1\/(movies(\/[^/]+(\/rating)?)?|commands\/[^/]+)$/.test(path)) ||
    (method === 'POST' && path === '/v1/commands/status')
  );
}

/** Query requests to refuse; `topic` is one of the system's, for consistency tokens that name it. */
export function queryRequests(topic: string): fc.Arbitrary<HostileRequest> {
  const get = (
    family: string,
    refusedWith: readonly number[],
    path: string,
    headers: Record<string, string> = {},
  ): HostileRequest => ({
    family: `query ${family}`,
    api: 'query',
    refusedWith,
    wire: { kind: 'http', method: 'GET', path, headers },
  });
  const listParam = fc.oneof(
    fc
      .oneof(
        fc.constantFrom('0', '101', '-1', '1.5', '1e2', 'abc', '', ' 5', '0x10', '1000', '99999999999999999999', '５'),
        printable(8).filter((s) => !/^[0-9]{1,3}$/.test(s) || Number(s) < 1 || Number(s) > 100),
      )
      .map((v) => `limit=${encodeURIComponent(v)}`),
    fc
      .oneof(
        fc.constantFrom(
          '',
          '=',
          'eyJ9',
          'e30',
          'bnVsbA',
          'x'.repeat(401),
          'eyJhIjoiLi4vIn0',
          'eyJhIjoibTEiLCJkIjoiYW5vdGhlciJ9',
        ),
        printable(60),
      )
      .map((v) => `cursor=${encodeURIComponent(v)}`),
    fc.constantFrom(
      'director=',
      `director=${'d'.repeat(201)}`,
      'limit=1&limit=2',
      'director=a&director=b',
      'cursor=a&cursor=b',
    ),
    fc
      .tuple(
        fc.stringMatching(/^[a-z_]{1,10}$/).filter((k) => !['director', 'cursor', 'limit'].includes(k)),
        printable(10),
      )
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`),
    fc.constantFrom('%', '%zz=1', 'limit=%ff', 'director=%c3%28'),
  );
  const token = encodeConsistencyToken([{ topic, partition: 0, offset: 0 }]);
  // Near misses of the token's shape (position lines of topic, partition and offset), and noise.
  const nearMisses = [
    `${topic}:0:x`,
    `${topic}:-1:0`,
    `${topic}:0:1.5`,
    `${topic}:0`,
    `${topic}:0:0\n`,
    `${topic}:1234567:0`,
    `${topic}:0:0000000000000000000`,
    `:0:0`,
  ].map(b64);
  const badToken = fc.oneof(
    fc.constantFrom('', 'x', 'e30', 'W10', 'bnVsbA', 'x'.repeat(5000), ...nearMisses),
    printable(80),
  );
  const status = (
    family: string,
    refusedWith: readonly number[],
    body: string,
    contentType = 'application/json',
  ): HostileRequest => ({
    family: `query ${family}`,
    api: 'query',
    refusedWith,
    wire: { kind: 'http', method: 'POST', path: '/v1/commands/status', headers: { 'content-type': contentType }, body },
  });
  const uuid = fc.uuid({ version: 4 });
  const badEventId = fc.oneof(
    fc.constantFrom(
      '',
      'x',
      '00000000-0000-0000-0000-00000000000',
      'g0000000-0000-4000-8000-000000000000',
      '00000000-0000-4000-7000-000000000000',
      '{00000000-0000-4000-8000-000000000000}',
    ),
    fc.string({ maxLength: 40 }),
  );
  return fc.oneof(
    fc
      .tuple(fc.oneof(encodedId, brokenSegment), fc.constantFrom('', '/rating'), noise)
      .map(([id, tail, n]) => get('movie id', [400, 404, 414], `/v1/movies/${id}${tail}`, n)),
    fc
      .tuple(
        fc.oneof(
          encodedId,
          brokenSegment,
          badEventId.filter((s) => s.isWellFormed() && s !== '').map(encodeURIComponent),
        ),
        noise,
      )
      .map(([id, n]) => get('event id', [400, 404, 414], `/v1/commands/${id}`, n)),
    fc.tuple(uuid, noise).map(([id, n]) => get('unknown event id', [404], `/v1/commands/${id}`, n)),
    fc
      .tuple(fc.array(listParam, { minLength: 1, maxLength: 3 }), noise)
      .map(([params, n]) => get('list query', [400], `/v1/movies?${params.join('&')}`, n)),
    fc
      .tuple(
        badToken,
        fc.constantFrom(
          '/v1/movies',
          '/v1/movies/m1',
          '/v1/movies/m1/rating',
          '/v1/commands/00000000-0000-4000-8000-000000000000',
        ),
      )
      .map(([t, path]) => get('consistency token', [400], path, { 'x-consistency-token': t })),
    fc
      .oneof(
        fc.constantFrom('-1', '5001', '1.5', 'abc', '', '99999', '1e3', '0x10'),
        printable(8).filter((s) => !/^[0-9]{1,4}$/.test(s.trim()) || Number(s) > 5000),
      )
      .map((w) =>
        get('consistency wait', [400], '/v1/movies', { 'x-consistency-token': token, 'x-consistency-wait': w }),
      ),
    fc
      .oneof(
        fc.constantFrom(
          '{}',
          '{"eventIds":[]}',
          '{"eventIds":"x"}',
          '{"eventIds":[5]}',
          '[]',
          '{"eventIds":["00000000-0000-4000-8000-000000000000"],"x":1}',
          `{"eventIds":[${Array(1001).fill('"00000000-0000-4000-8000-000000000000"').join(',')}]}`,
        ),
        fc.tuple(fc.array(uuid, { maxLength: 5 }), badEventId, fc.nat()).map(([ids, bad, at]) =>
          JSON.stringify({
            eventIds: [...ids.slice(0, at % (ids.length + 1)), bad, ...ids.slice(at % (ids.length + 1))],
          }),
        ),
        randomJson((v) => isObject(v) && Array.isArray(v.eventIds)),
        malformedJson('{"eventIds":["00000000-0000-4000-8000-000000000000"]}'),
      )
      .map((body) => status('status body', [400], body)),
    fc
      .constantFrom('text/plain', 'application/xml', 'application/x-www-form-urlencoded', '')
      .map((type) =>
        status('status content type', [415], '{"eventIds":["00000000-0000-4000-8000-000000000000"]}', type),
      ),
    unknownRoutes('query'),
  );
}

/**
 * Bytes no HTTP client sends, for either API: broken request lines, headers and framing, bytes
 * outside ASCII in the headers a command reads, headers too large, and noise.
 */
export function rawRequests(secret: string): fc.Arbitrary<HostileRequest> {
  const user = mintToken(secret, { sub: 'fuzz-user', roles: ['user'] }, 3600);
  /** A request head of `lines` (text in latin1, bytes as they are), its blank line, then `body`. */
  const request = (lines: Array<string | Buffer>, body = '') =>
    Buffer.concat([
      ...lines.flatMap((l) => [typeof l === 'string' ? Buffer.from(l, 'latin1') : l, Buffer.from('\r\n')]),
      Buffer.from(`\r\n${body}`, 'latin1'),
    ]);
  const rating = (extra: Array<string | Buffer>, contentLength = 11) =>
    request(
      [
        'POST /v1/movies/m1/ratings HTTP/1.1',
        'Host: fuzz',
        'Content-Type: application/json',
        `Content-Length: ${contentLength}`,
        'Connection: close',
        ...extra,
      ],
      '{"value":3}',
    );
  const api = fc.constantFrom<Api>('command', 'query');
  const nonAscii = fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 20 })
    .filter((s) => [...s].some((c) => c.charCodeAt(0) > 0x7f) && !/[\r\n]/.test(s) && !s.includes('\u0000'))
    .map((s) => Buffer.from(s, 'utf8'));
  const raw = (family: string, refusedWith: readonly number[], only?: Api) => (bytes: fc.Arbitrary<Buffer>) =>
    fc.tuple(only ? fc.constant(only) : api, bytes).map(([target, b]): HostileRequest => ({
      family: `raw ${family}`,
      api: target,
      refusedWith,
      wire: { kind: 'raw', bytes: b },
    }));
  return fc.oneof(
    raw(
      'request line',
      [400],
    )(
      fc.oneof(
        fc
          .constantFrom('GET', 'G ET', 'FOO', 'get', 'PRI', 'GET\t', '')
          .chain((m) =>
            fc.constantFrom(
              `${m} / HTTP/1.1`,
              `${m} /v1/movies HTTP/9.9`,
              `${m} /v1/movies HTTP/1.1 x`,
              `${m} /v1/movies\u0000 HTTP/1.1`,
              `${m}`,
              `${m} /v1/movies HTTP/1.`,
            ),
          )
          .filter((l) => l !== 'GET / HTTP/1.1')
          .map((l) => request([l, 'Host: fuzz', 'Connection: close'])),
        fc.constant(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')),
      ),
    ),
    raw(
      'connect',
      [405],
    )(
      fc
        .constantFrom('localhost:443', 'example.com:80', '127.0.0.1:5432', '/')
        .map((target) => request([`CONNECT ${target} HTTP/1.1`, `Host: ${target}`, 'Connection: close'])),
    ),
    raw(
      'missing host',
      [400],
    )(
      fc
        .constantFrom('/v1/movies', '/v1/movies/m1', '/health/live')
        .map((p) => request([`GET ${p} HTTP/1.1`, 'Connection: close'])),
    ),
    raw(
      'header syntax',
      [400],
    )(
      fc
        .constantFrom(
          'Bad Name: x',
          ': empty',
          'X-A: a\u0000b',
          'X-A: a\rb',
          ' folded: x',
          'X-A',
          'Content-Length: -1',
          'Content-Length: 1, 2',
          'Content-Length: abc',
          'Transfer-Encoding: chunked\r\nContent-Length: 5',
          'Transfer-Encoding: gzip',
        )
        .map((h) => request(['GET /v1/movies HTTP/1.1', 'Host: fuzz', h, 'Connection: close'])),
    ),
    raw(
      'chunked framing',
      [400],
    )(
      fc
        .constantFrom('zz\r\n', '-1\r\n', '5\r\n{"val\r\n0', 'ffffffffffffffffff\r\n', '3;\u0000\r\nabc\r\n0\r\n\r\n')
        .map((chunk) =>
          request(
            [
              'POST /v1/movies/m1/ratings HTTP/1.1',
              'Host: fuzz',
              `Authorization: Bearer ${user}`,
              'Content-Type: application/json',
              'Transfer-Encoding: chunked',
              'Connection: close',
            ],
            `${chunk}\r\n\r\n`,
          ),
        ),
    ),
    raw(
      'headers too large',
      [431],
    )(
      fc
        .integer({ min: 17_000, max: 80_000 })
        .map((size) =>
          request(['GET /v1/movies HTTP/1.1', 'Host: fuzz', `X-Big: ${'a'.repeat(size)}`, 'Connection: close']),
        ),
    ),
    // The body runs past its Content-Length: what the length covers is not JSON.
    raw(
      'body past its length',
      [400],
      'command',
    )(fc.integer({ min: 1, max: 10 }).map((length) => rating([`Authorization: Bearer ${user}`], length))),
    raw(
      'utf-8 in a token',
      [401],
      'command',
    )(nonAscii.map((v) => rating([Buffer.concat([Buffer.from('Authorization: Bearer '), v])]))),
    raw(
      'utf-8 in a key',
      [400],
      'command',
    )(
      nonAscii.map((v) =>
        rating([`Authorization: Bearer ${user}`, Buffer.concat([Buffer.from('Idempotency-Key: '), v])]),
      ),
    ),
    // Node joins a repeated header into one value; two keys are no key a client can mean.
    raw(
      'two keys',
      [400],
      'command',
    )(
      fc
        .constantFrom(['a', 'b'], ['a', 'a'], ['k1', ''])
        .map(([x, y]) => rating([`Authorization: Bearer ${user}`, `Idempotency-Key: ${x}`, `Idempotency-Key: ${y}`])),
    ),
    raw(
      'noise',
      [400],
    )(
      fc
        .uint8Array({ minLength: 1, maxLength: 200 })
        .filter((b) => b[0] !== 0x0d && b[0] !== 0x0a && !/^[A-Z]+ /.test(Buffer.from(b).toString('latin1')))
        .map((b) => Buffer.concat([Buffer.from(b), Buffer.from('\r\n\r\n')])),
    ),
  );
}
