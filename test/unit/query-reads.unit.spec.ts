import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBatchedLookup } from '../../query-api/batched-lookup.ts';
import { ratingSummary } from '../../query-api/movies/rating-summary.ts';
import { createReader } from '../../query-api/read-model.ts';
import { UnavailableError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/logger.ts';

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
