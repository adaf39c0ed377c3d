import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { createAcceptor, type Decision } from '../../command-api/accept.ts';
import {
  IdempotencyConflictError,
  idempotencyKeyOf,
  requestFingerprint,
  stampForKey,
  type Claim,
  type IdempotencyStore,
} from '../../command-api/idempotency.ts';
import {
  checkExpectedVersion,
  expectedVersionOf,
  VersionMismatchError,
} from '../../command-api/movies/set-metadata.ts';
import { UnavailableError, ValidationError } from '../../shared/errors.ts';
import { derivedEventId } from '../../shared/events/event-id.ts';
import type { EventPublisher } from '../../shared/kafka/publisher.ts';
import type { CatalogueEvent, RatingSubmitted } from '../../shared/events/types.ts';
import { createLogger } from '../../shared/logger.ts';
import { createMetrics } from '../../shared/metrics.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const rating = (i: number, at = new Date(5000)): RatingSubmitted => ({
  type: 'RatingSubmitted',
  envelope: { eventId: `fresh-${i}`, occurredAt: at, principal: 'alice', correlationId: `corr-${i}` },
  recordType: 'movie',
  recordId: `m${i}`,
  userId: 'alice',
  value: 4,
  providerId: null,
});

describe('derived event ids', () => {
  it('are UUIDv7 carrying the acceptance time, equal for equal inputs and different otherwise', () => {
    const id = derivedEventId('alice\u0000k1', 1_764_600_000_000, 0);
    assert.match(id, UUID_V7);
    assert.equal(id.replaceAll('-', '').slice(0, 12), (1_764_600_000_000).toString(16).padStart(12, '0'));
    assert.equal(derivedEventId('alice\u0000k1', 1_764_600_000_000, 0), id);
    const others = [
      derivedEventId('alice\u0000k1', 1_764_600_000_000, 1),
      derivedEventId('alice\u0000k2', 1_764_600_000_000, 0),
      derivedEventId('bob\u0000k1', 1_764_600_000_000, 0),
      derivedEventId('alice\u0000k1', 1_764_600_000_001, 0),
    ];
    assert.equal(new Set([id, ...others]).size, 5);
    for (const other of others) assert.match(other, UUID_V7);
  });
});

describe('idempotency rules', () => {
  it('takes a key of 1 to 255 printable characters, refuses anything else, and none is fine', () => {
    assert.equal(idempotencyKeyOf(undefined), undefined);
    assert.equal(idempotencyKeyOf('order-7f3a|retry:1'), 'order-7f3a|retry:1');
    assert.equal(idempotencyKeyOf('k'.repeat(255)), 'k'.repeat(255));
    for (const bad of ['', 'has space', 'k'.repeat(256), 'tab\there', 'ünïcode', ['a', 'b']]) {
      assert.throws(() => idempotencyKeyOf(bad), ValidationError, JSON.stringify(bad));
    }
  });

  it('fingerprints method, path and body', () => {
    const base = requestFingerprint('POST', '/v1/movies/m1/ratings', { value: 4 });
    assert.equal(requestFingerprint('POST', '/v1/movies/m1/ratings', { value: 4 }), base);
    assert.notEqual(requestFingerprint('POST', '/v1/movies/m1/ratings', { value: 5 }), base);
    assert.notEqual(requestFingerprint('POST', '/v1/movies/m2/ratings', { value: 4 }), base);
    assert.notEqual(
      requestFingerprint('DELETE', '/v1/movies/m1/ratings', undefined),
      requestFingerprint('POST', '/v1/movies/m1/ratings', undefined),
    );
  });

  it('stamps events with derived ids and the first acceptance time, keeping everything else', () => {
    const acceptedAt = new Date(1_764_600_000_000);
    const stamped = stampForKey([rating(0), rating(1)], { principal: 'alice', key: 'k1' }, acceptedAt, (id) => id);
    assert.deepEqual(
      stamped.map((e) => e.envelope.eventId),
      [0, 1].map((i) => derivedEventId('alice\u0000k1', acceptedAt.getTime(), i)),
    );
    assert.deepEqual(stamped[1], {
      ...rating(1),
      envelope: { ...rating(1).envelope, eventId: stamped[1]!.envelope.eventId, occurredAt: acceptedAt },
    });
  });
});

describe('If-Match', () => {
  it('reads one quoted version and refuses anything it cannot read', () => {
    assert.equal(expectedVersionOf(undefined), null);
    assert.equal(expectedVersionOf('"0"'), 0);
    assert.equal(expectedVersionOf('"12"'), 12);
    for (const bad of ['12', 'W/"12"', '"-1"', '"1.5"', '"01"', '*', '"1", "2"', '"1234567890"', ['"1"', '"2"']]) {
      assert.throws(() => expectedVersionOf(bad), ValidationError, JSON.stringify(bad));
    }
  });

  it('passes the version the read model shows and refuses any other with 412', () => {
    checkExpectedVersion(null, 7);
    checkExpectedVersion(7, 7);
    assert.throws(
      () => checkExpectedVersion(6, 7),
      (err: unknown) =>
        err instanceof VersionMismatchError && err.status === 412 && /expected version 6.*version 7/.test(err.message),
    );
  });
});

/** A store with the claim semantics of the Postgres one, in memory; the real one is tested against Postgres. */
function memoryStore() {
  const rows = new Map<string, { fingerprint: string; acceptedAt: Date; answer: unknown }>();
  const calls: string[] = [];
  const store: IdempotencyStore = {
    claim(scope, fingerprint, acceptedAt): Promise<Claim> {
      calls.push('claim');
      const id = `${scope.principal}/${scope.key}`;
      const row = rows.get(id);
      if (!row) {
        rows.set(id, { fingerprint, acceptedAt, answer: null });
        return Promise.resolve({ kind: 'first', acceptedAt });
      }
      if (row.fingerprint !== fingerprint) return Promise.resolve({ kind: 'conflict' });
      return Promise.resolve({ kind: 'retry', acceptedAt: row.acceptedAt, answer: row.answer });
    },
    release(scope) {
      calls.push('release');
      rows.delete(`${scope.principal}/${scope.key}`);
      return Promise.resolve();
    },
    complete(scope, answer) {
      calls.push('complete');
      rows.get(`${scope.principal}/${scope.key}`)!.answer = answer;
      return Promise.resolve();
    },
  };
  return { store, rows, calls };
}

describe('accepting a command', () => {
  let written: CatalogueEvent[];
  let kafkaDown: boolean;
  let memory: ReturnType<typeof memoryStore>;
  const publisher: EventPublisher = {
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    publish(events) {
      if (kafkaDown) return Promise.reject(new UnavailableError('broker unavailable', 1, 'kafka'));
      written.push(...events);
      return Promise.resolve(
        events.map((_, i) => ({ topic: 't', partition: 0, offset: written.length - events.length + i })),
      );
    },
  };
  const accept = () =>
    createAcceptor({
      publisher,
      idempotency: memory.store,
      metrics: createMetrics('command-api'),
      logger: createLogger('test', 'silent'),
      sealId: (id) => id,
    });
  const decision = (events: CatalogueEvent[], precondition?: () => Promise<void>): Decision => ({
    events,
    ...(precondition ? { precondition } : {}),
    answer: (evs, positions) => ({ ids: evs.map((e) => e.envelope.eventId), offsets: positions.map((p) => p.offset) }),
  });
  const keyed = { key: 'k1', fingerprint: 'f1' };

  beforeEach(() => {
    written = [];
    kafkaDown = false;
    memory = memoryStore();
  });

  it('writes the events as decided when there is no key, and touches no store', async () => {
    const result = await accept()('alice', undefined, decision([rating(0)]));
    assert.deepEqual(result, { body: { ids: ['fresh-0'], offsets: [0] }, replayed: false });
    assert.deepEqual(memory.calls, []);
  });

  it('answers a retry of a completed key with the kept answer and writes nothing more', async () => {
    const first = await accept()('alice', keyed, decision([rating(0), rating(1)]));
    const retry = await accept()('alice', keyed, decision([rating(0, new Date(9000)), rating(1, new Date(9000))]));
    assert.deepEqual(retry, { body: first.body, replayed: true });
    assert.equal(written.length, 2);
    assert.deepEqual(
      (first.body as { ids: string[] }).ids,
      written.map((e) => e.envelope.eventId),
    );
    assert.ok(written.every((e) => e.envelope.occurredAt.getTime() === 5000));
  });

  it('writes the same events again for a retry whose first attempt got no answer', async () => {
    kafkaDown = true;
    await assert.rejects(
      accept()('alice', keyed, decision([rating(0)])),
      (err: unknown) => err instanceof UnavailableError && /same Idempotency-Key is safe/.test(err.message),
    );
    kafkaDown = false;
    const retry = await accept()('alice', keyed, decision([rating(0, new Date(9000))]));
    assert.equal(retry.replayed, true);
    assert.equal(written.length, 1);
    assert.equal(written[0]!.envelope.eventId, derivedEventId('alice\u0000k1', 5000, 0));
    assert.equal(written[0]!.envelope.occurredAt.getTime(), 5000, 'the time of the first attempt');
  });

  it('refuses the same key with another request with 409, writing nothing', async () => {
    await accept()('alice', keyed, decision([rating(0)]));
    await assert.rejects(
      accept()('alice', { key: 'k1', fingerprint: 'f2' }, decision([rating(0)])),
      IdempotencyConflictError,
    );
    assert.equal(written.length, 1);
  });

  it('keeps keys apart per principal', async () => {
    await accept()('alice', keyed, decision([rating(0)]));
    const bob = await accept()('bob', keyed, decision([rating(0)]));
    assert.equal(bob.replayed, false);
    assert.equal(written.length, 2);
    assert.notEqual(written[0]!.envelope.eventId, written[1]!.envelope.eventId);
  });

  it('gives the key back when the precondition refuses a first attempt, so a corrected retry can use it', async () => {
    const refuse = () => Promise.reject(new VersionMismatchError(1, 2));
    await assert.rejects(accept()('alice', keyed, decision([rating(0)], refuse)), VersionMismatchError);
    assert.deepEqual(memory.calls, ['claim', 'release']);
    assert.equal(written.length, 0);
    const again = await accept()(
      'alice',
      keyed,
      decision([rating(0)], () => Promise.resolve()),
    );
    assert.equal(again.replayed, false);
    assert.equal(written.length, 1);
  });

  it('skips the precondition on a retry: the first attempt may already have moved the version', async () => {
    kafkaDown = true;
    await assert.rejects(
      accept()(
        'alice',
        keyed,
        decision([rating(0)], () => Promise.resolve()),
      ),
    );
    kafkaDown = false;
    let checked = false;
    await accept()(
      'alice',
      keyed,
      decision([rating(0)], () => {
        checked = true;
        return Promise.reject(new VersionMismatchError(1, 2));
      }),
    );
    assert.equal(checked, false);
    assert.equal(written.length, 1);
  });

  it('answers 202 when the events are written but keeping the answer fails', async () => {
    memory.store.complete = () => Promise.reject(new UnavailableError('down', 1));
    const result = await accept()('alice', keyed, decision([rating(0)]));
    assert.equal(result.replayed, false);
    assert.equal(written.length, 1);
  });
});
