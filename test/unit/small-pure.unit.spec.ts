import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { createBatchedLookup } from '../../query-api/batched-lookup.ts';
import { ratingSummary } from '../../query-api/movies/rating-summary.ts';
import { createReader } from '../../query-api/read-model.ts';
import { UnavailableError } from '../../shared/errors.ts';
import type { Kafka } from 'kafkajs';
import { createKafka, plaintext } from '../../shared/kafka/client.ts';
import { createLogger } from '../../shared/logger.ts';
import { ConfigError, commonEnv, deadLetterTopicsFrom, loadConfig } from '../../shared/config.ts';
import { newEventId } from '../../shared/events/event-id.ts';
import { decodeConsistencyToken, encodeConsistencyToken } from '../../shared/events/position.ts';
import { parseProgressAnnouncement } from '../../shared/read-models.ts';
import { isEventId } from '../../shared/events/validation.ts';
import { loadCommandApiConfig } from '../../command-api/config.ts';
import { offsetsPartitionOf, probeGroupIds } from '../../infra/kafka-ready.ts';

describe('ratingSummary', () => {
  it('is null without ratings', () => {
    assert.equal(ratingSummary(null, null), null);
    assert.equal(ratingSummary(0, 0), null);
  });
  it('is the mean to two decimals', () => {
    assert.deepEqual(ratingSummary(3, 10), { average: 3.33, count: 3 });
    assert.deepEqual(ratingSummary(2, 6), { average: 3, count: 2 });
  });
});

describe('createReader', () => {
  const read = createReader(createLogger('test', 'silent'));
  /** A query failing with each of `codes` in turn, then answering 'rows'; counts its tries. */
  function query(...codes: string[]) {
    const tried = { count: 0 };
    const run = () => {
      const code = codes[tried.count++];
      return code === undefined
        ? Promise.resolve('rows')
        : Promise.reject(Object.assign(new Error(`failed with ${code}`), { code }));
    };
    return { run, tried };
  }

  it('answers a read that ran out of time once with its second try', async () => {
    for (const code of ['57014', '55P03']) {
      const { run, tried } = query(code);
      assert.equal(await read(run), 'rows', code);
      assert.equal(tried.count, 2);
    }
  });
  it('is unavailable when the second try runs out of time too', async () => {
    const { run, tried } = query('57014', '57014');
    await assert.rejects(read(run), UnavailableError);
    assert.equal(tried.count, 2);
  });
  it('does not try again a read that failed otherwise', async () => {
    for (const code of ['42P01', 'ECONNREFUSED']) {
      const { run, tried } = query(code);
      await assert.rejects(read(run), UnavailableError);
      assert.equal(tried.count, 1, code);
    }
  });
});

describe('createBatchedLookup', () => {
  /** A lookup over `known` that records the keys of each call. */
  function lookup(known: Record<string, number>, maxKeys = 10, fail?: Error) {
    const calls: string[][] = [];
    const batched = createBatchedLookup((keys) => {
      calls.push(keys);
      return fail
        ? Promise.reject(fail)
        : Promise.resolve(new Map(keys.filter((k) => k in known).map((k) => [k, known[k]!])));
    }, maxKeys);
    return { calls, batched };
  }

  it('asks once for the keys of one turn, each key once, and answers each read its own value', async () => {
    const { calls, batched } = lookup({ a: 1, b: 2 });
    assert.deepEqual(await Promise.all([batched.get('a'), batched.get('b'), batched.get('a'), batched.get('nobody')]), [
      1,
      2,
      1,
      undefined,
    ]);
    assert.deepEqual(calls, [['a', 'b', 'nobody']]);
    assert.equal(await batched.get('b'), 2);
    assert.deepEqual(calls.at(-1), ['b'], 'a later turn asks again');
  });

  it('splits a bunch over the largest query', async () => {
    const { calls, batched } = lookup({ a: 1, b: 2, c: 3 }, 2);
    assert.deepEqual(await Promise.all(['a', 'b', 'c'].map((k) => batched.get(k))), [1, 2, 3]);
    assert.deepEqual(calls, [['a', 'b'], ['c']]);
  });

  it('fails every read of a query that failed', async () => {
    const { batched } = lookup({ a: 1 }, 10, new Error('down'));
    const results = await Promise.allSettled([batched.get('a'), batched.get('b')]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
  });
});

describe('consistency token', () => {
  it('round-trips a position', () => {
    const position = { topic: 'movie-ratings', partition: 5, offset: 1234567 };
    assert.deepEqual(decodeConsistencyToken(encodeConsistencyToken([position])), [position]);
  });
  it('keeps the highest offset of each partition a bulk command wrote', () => {
    const at = (partition: number, offset: number) => ({ topic: 'movie-ratings', partition, offset });
    assert.deepEqual(decodeConsistencyToken(encodeConsistencyToken([at(1, 7), at(2, 3), at(1, 9), at(1, 8)])), [
      at(1, 9),
      at(2, 3),
    ]);
  });
  it('rejects what it did not issue', () => {
    assert.equal(decodeConsistencyToken('not-a-token'), undefined);
    assert.equal(decodeConsistencyToken(Buffer.from('t:x:1').toString('base64url')), undefined);
  });
});

describe('progress announcement', () => {
  const valid = {
    schema: 'ratings',
    table: '16384',
    topic: 'movie-ratings',
    offsets: [
      [0, 12],
      [3, 0],
    ],
  };
  it('reads what a projector sends', () => {
    assert.deepEqual(parseProgressAnnouncement(JSON.stringify(valid)), valid);
  });
  it('reads nothing from an empty payload or one of another shape, so that the reader reads the offsets itself', () => {
    for (const payload of [
      '',
      'not json',
      'null',
      '[]',
      JSON.stringify({ ...valid, table: undefined }),
      JSON.stringify({ ...valid, schema: 7 }),
      JSON.stringify({ ...valid, offsets: {} }),
      JSON.stringify({ ...valid, offsets: [[0]] }),
      JSON.stringify({ ...valid, offsets: [[0, -1]] }),
      JSON.stringify({ ...valid, offsets: [[0, 1.5]] }),
      JSON.stringify({ ...valid, offsets: [[0, '12']] }),
    ]) {
      assert.equal(parseProgressAnnouncement(payload), undefined, payload);
    }
  });
});

describe('configuration', () => {
  it('applies defaults', () => {
    const config = loadConfig(z.object(commonEnv), {});
    assert.deepEqual(config.KAFKA_BROKERS, ['localhost:9092']);
    assert.equal(config.TOPIC_MOVIE_RATINGS, 'movie-ratings');
  });

  it('names a dead-letter topic set empty after its source topic, as when unset', () => {
    const config = loadConfig(z.object(commonEnv), {
      TOPIC_MOVIE_RATINGS: 'catalogue-ratings',
      TOPIC_MOVIE_RATINGS_DLQ: '',
    });
    assert.deepEqual([...deadLetterTopicsFrom(config).values()], ['movie-metadata.dlq', 'catalogue-ratings.dlq']);
    assert.throws(() => loadConfig(z.object(commonEnv), { TOPIC_MOVIE_RATINGS_DLQ: 'not a topic' }), ConfigError);
  });

  it('names every bad setting', () => {
    assert.throws(
      () => loadCommandApiConfig({ KAFKA_BROKERS: 'nohost', COMMAND_API_PORT: '99999', JWT_SECRET: 'short' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /KAFKA_BROKERS: must be host:port/.test(err.message) &&
        /COMMAND_API_PORT/.test(err.message) &&
        /JWT_SECRET: must be at least 32 characters/.test(err.message),
    );
  });

  it('refuses a request timeout that would cut a command off before its own deadlines', () => {
    const secret = 'x'.repeat(32);
    assert.throws(
      () => loadCommandApiConfig({ JWT_SECRET: secret, EVENT_ID_SECRET: secret, REQUEST_TIMEOUT_MS: '3500' }),
      /REQUEST_TIMEOUT_MS: must be longer than KAFKA_ACK_TIMEOUT_MS plus COMMAND_DB_TIMEOUT_MS/,
    );
    assert.equal(
      loadCommandApiConfig({
        JWT_SECRET: secret,
        EVENT_ID_SECRET: secret,
        REQUEST_TIMEOUT_MS: '3500',
        KAFKA_ACK_TIMEOUT_MS: '2000',
      }).requestTimeoutMs,
      3500,
    );
  });

  it('requires a token key and the event id secret for the command API, naming both', () => {
    assert.throws(
      () => loadCommandApiConfig({}),
      (err: unknown) =>
        err instanceof ConfigError &&
        /JWT_SECRET: exactly one of JWT_SECRET \(HS256\), JWT_PUBLIC_KEY \(PEM\) or JWT_JWKS_URL is required/.test(
          err.message,
        ) &&
        /EVENT_ID_SECRET: is required/.test(err.message),
    );
  });
});

describe('newEventId', () => {
  it('mints lowercase UUIDs of version 7 that carry their time and sort by it', () => {
    const at = Date.UTC(2026, 11, 1, 12, 0, 0, 345);
    const [first, second, later] = [newEventId(at), newEventId(at), newEventId(at + 1)];
    for (const id of [first, second, later]) {
      assert.ok(isEventId(id), id);
      assert.equal(id[14], '7');
      assert.ok('89ab'.includes(id[19]!), id);
      assert.equal(parseInt(id.replaceAll('-', '').slice(0, 12), 16), id === later ? at + 1 : at);
    }
    assert.notEqual(first, second);
    assert.ok(first < later && second < later);
  });
});

describe('offsetsPartitionOf', () => {
  it("places a group as Kafka does, by Java's String.hashCode", () => {
    // Java: "hello".hashCode() is 99162322; "polygenelubricants".hashCode() is Integer.MIN_VALUE.
    assert.equal(offsetsPartitionOf('hello', 6), 99162322 % 6);
    assert.equal(offsetsPartitionOf('polygenelubricants', 6), 0);
    assert.equal(offsetsPartitionOf('', 50), 0);
  });
  it('probe ids cover every partition once', () => {
    const ids = probeGroupIds(6);
    assert.deepEqual(ids.map((id) => offsetsPartitionOf(id, 6)).sort(), [0, 1, 2, 3, 4, 5]);
  });
});

describe("kafkajs's logs", () => {
  /** What a kafkajs client built by createKafka writes for `log`, as pino's levels. */
  function levelsWritten(log: (kafka: Kafka) => void): number[] {
    const lines: string[] = [];
    const kafka = createKafka(
      'test',
      plaintext(['localhost:1']),
      createLogger('test', 'debug', { write: (line: string) => lines.push(line) }),
    );
    log(kafka);
    return lines.map((line) => (JSON.parse(line) as { level: number }).level);
  }

  it('logs a broker answer kafkajs retries (a rebalance, a loading coordinator, a moved leader) at debug, not as an error', () => {
    const answers = [
      'The group is rebalancing, so a rejoin is needed',
      "The coordinator is loading and hence can't process requests for this group",
      'This server is not the leader for that topic-partition',
    ];
    const levels = levelsWritten((kafka) => {
      for (const error of answers)
        kafka.logger().error('Response Heartbeat(key: 12, version: 3)', { broker: 'localhost:9194', error });
    });
    assert.deepEqual(levels, [20, 20, 20]);
  });

  it('keeps every other error an error', () => {
    const levels = levelsWritten((kafka) => {
      kafka.logger().error('Response SaslAuthenticate(key: 36, version: 1)', {
        error:
          'Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512',
      });
      kafka
        .logger()
        .error('Crash: KafkaJSNumberOfRetriesExceeded', { error: 'The group is rebalancing, so a rejoin is needed' });
    });
    assert.deepEqual(levels, [50, 50]);
  });
});
