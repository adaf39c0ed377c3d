import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import { Pool as HttpPool } from 'undici';
import { commandRequests, queryRequests, rawRequests, type HostileRequest } from '../support/hostile-requests.ts';
import { rawExchange, type RawAnswer } from '../support/raw-http.ts';
import { JWT_SECRET, startSystem, type TestSystem } from '../support/system.ts';
import { recordCount } from '../support/topic-log.ts';

/**
 * Bad input at scale (issue 9): thousands of malformed and hostile requests to both APIs, each
 * refused with a problem of its own status, none answered 5xx, and not one event appended nor
 * one idempotency key kept (the HTTP requests share pooled connections, so a stray second answer
 * would show as the next request's; the raw ones check that nothing follows their answer).
 * `FUZZ_SEED=<n>` replays a failed run; `FUZZ_RUNS=<n>` scales it.
 */
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const SCALE = Number(process.env.FUZZ_RUNS ?? 12_000) / 12_000;
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

/** What is wrong with an answer to a request a correct API refuses; nothing when it is right. */
function refusalFaults(request: HostileRequest, answer: RawAnswer): string[] {
  if (answer.status === 0) return ['no answer'];
  const faults = request.refusedWith.includes(answer.status)
    ? []
    : [`status ${answer.status}, not one of ${request.refusedWith.join(', ')}`];
  if (!/^application\/problem\+json(;|$)/.test(answer.headers['content-type'] ?? ''))
    faults.push(`content type ${answer.headers['content-type']}`);
  let problem: { type?: unknown; title?: unknown; status?: unknown };
  try {
    problem = JSON.parse(answer.body) as typeof problem;
  } catch {
    return [...faults, `body not JSON: ${answer.body.slice(0, 200)}`];
  }
  if (answer.after !== '') faults.push(`more after the answer: ${answer.after.slice(0, 200)}`);
  if (problem.status !== answer.status) faults.push(`problem status ${String(problem.status)} on a ${answer.status}`);
  if (typeof problem.title !== 'string') faults.push('problem without a title');
  if (typeof problem.type !== 'string' || !problem.type.startsWith('urn:movie-catalogue:problem:'))
    faults.push(`problem type ${String(problem.type)}`);
  return faults;
}

const shown = (request: HostileRequest) => {
  const wire =
    request.wire.kind === 'raw'
      ? request.wire.bytes.toString('latin1')
      : `${request.wire.method} ${request.wire.path} ${JSON.stringify(request.wire.headers)} ${request.wire.body ?? ''}`;
  return `${request.family}: ${wire.length > 600 ? `${wire.slice(0, 600)}… (${wire.length} characters)` : wire}`;
};

describe('both APIs under hostile requests', () => {
  let system: TestSystem;
  let clients: Record<HostileRequest['api'], { url: string; http: HttpPool }>;
  before(async () => {
    system = await startSystem();
    clients = {
      command: { url: system.commandUrl, http: new HttpPool(system.commandUrl, { connections: 4 }) },
      query: { url: system.queryUrl, http: new HttpPool(system.queryUrl, { connections: 4 }) },
    };
  });
  after(async () => {
    await Promise.all(Object.values(clients ?? {}).map((c) => c.http.close()));
    await system?.stop();
  });

  async function send(request: HostileRequest): Promise<RawAnswer> {
    const { url, http } = clients[request.api];
    if (request.wire.kind === 'raw') return rawExchange(url, request.wire.bytes);
    const { method, path, headers, body } = request.wire;
    const answer = await http.request({ method, path, headers, ...(body === undefined ? {} : { body }) });
    const text = await answer.body.text();
    const flat = Object.fromEntries(
      Object.entries(answer.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]),
    );
    return { status: answer.statusCode, headers: flat, body: text, after: '' };
  }

  /** Sends `runs` requests of `requests`, each of which must be refused, and checks nothing was written. */
  async function refuseAll(t: TestContext, requests: fc.Arbitrary<HostileRequest>, numRuns: number) {
    const tally = new Map<string, Map<number, number>>();
    const topics = [system.topics.movieMetadata, system.topics.movieRatings];
    const written = async () => ({
      events: await recordCount(system.kafka, topics),
      keys: (await system.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM commands.idempotency_keys'))
        .rows[0]!.n,
    });
    const before = await written();
    await fc.assert(
      fc.asyncProperty(requests, async (request) => {
        const answer = await send(request);
        const statuses = tally.get(request.family) ?? new Map<number, number>();
        tally.set(request.family, statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1));
        assert.deepEqual(refusalFaults(request, answer), [], shown(request));
      }),
      { seed: SEED, numRuns },
    );
    t.diagnostic(`${numRuns} requests, seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
    for (const [family, statuses] of [...tally].sort(([a], [b]) => a.localeCompare(b))) {
      const count = [...statuses.values()].reduce((a, b) => a + b, 0);
      t.diagnostic(
        `${family}: ${count} answered ${[...statuses]
          .sort(([a], [b]) => a - b)
          .map(([s, n]) => `${s}×${n}`)
          .join(' ')}`,
      );
    }
    assert.deepEqual(await written(), before, 'no event appended, no idempotency key kept');
    // The counts can see a write: one good command with a key moves each by one.
    const good = await clients.command.http.request({
      method: 'POST',
      path: '/v1/movies/control/ratings',
      headers: {
        authorization: `Bearer ${system.token(`control-${randomUUID()}`, ['user'])}`,
        'content-type': 'application/json',
        'idempotency-key': 'control',
      },
      body: '{"value":4}',
    });
    assert.equal(good.statusCode, 202, await good.body.text());
    assert.deepEqual(await written(), { events: before.events + 1, keys: before.keys + 1 });
  }

  it('refuses hostile commands (bodies, tokens, keys, preconditions, media types, ids, sizes, routes)', async (t) => {
    await refuseAll(t, commandRequests(JWT_SECRET), runs(6000));
  });

  it('refuses hostile reads (ids, queries, cursors, consistency tokens, status bodies, routes)', async (t) => {
    await refuseAll(t, queryRequests(system.topics.movieRatings), runs(4500));
  });

  it('answers malformed HTTP on a raw socket with a problem', async (t) => {
    await refuseAll(t, rawRequests(JWT_SECRET), runs(1500));
  });
});
