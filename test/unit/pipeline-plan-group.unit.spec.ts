import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PartitionClaim, RegisteredRedrive } from '../../projectors/pipeline/bookkeeping.ts';
import type { LoadedBatch, LoadedGroup } from '../../projectors/pipeline/load.ts';
import { arrivalsOf, planGroup } from '../../projectors/pipeline/plan-group.ts';
import type { LogRecord } from '../../projectors/pipeline/plan.ts';
import { ok, rating, RATINGS_PROJECTION as ratings, uuid } from '../support/log-records.ts';

const REDRIVE = uuid(900);

/** A loaded batch of `partition` from `from` on, with a redrive's copies at the offsets in `copies`. */
function loaded(partition: number, from: number, records: LogRecord[], copies: number[] = []): LoadedBatch {
  const last = records.at(-1)?.offset ?? from - 1;
  const batch = { topic: 'movie-ratings', partition, fetchedOffset: from, nextOffset: last + 1, records: [] };
  return {
    batch: { ...batch, continuesFrom: undefined },
    refused: new Map(),
    fresh: [],
    records,
    copies: { redriveOf: new Map(copies.map((o) => [o, REDRIVE])), releasing: new Set(copies.slice(0, 1)) },
    redrives: new Map<string, RegisteredRedrive>(),
  };
}

function group(
  batches: LoadedBatch[],
  claimed: Array<[number, PartitionClaim]>,
): { group: LoadedGroup; claims: Map<number, PartitionClaim> } {
  const claims = new Map(claimed);
  return { group: { claims: new Map([[ratings, claims]]), batches }, claims };
}

describe('the plan of a group', () => {
  it('leaves out what the projection already applied, and records each event it handles with its position', () => {
    const { group: g, claims } = group(
      [loaded(0, 10, [ok(10, rating(1, 'm1')), ok(11, rating(2, 'm2')), ok(12, rating(3, 'm1'))])],
      [[0, { next: 11, parked: new Set() }]],
    );
    const arrivals = arrivalsOf(ratings, claims, g);
    assert.deepEqual(
      arrivals.records.get(0)!.map((r) => r.offset),
      [11, 12],
    );
    assert.deepEqual(arrivals.events, [
      { eventId: uuid(2), partition: 0, offset: 11 },
      { eventId: uuid(3), partition: 0, offset: 12 },
    ]);
    assert.deepEqual(arrivals.moves, [{ partition: 0, nextOffset: 13 }]);
    assert.deepEqual(arrivals.reopen, []);
  });

  it('counts an event met in an earlier batch of the group as seen in a later one, and one seen before as a duplicate', () => {
    const { group: g, claims } = group(
      [loaded(0, 0, [ok(0, rating(1, 'm1')), ok(1, rating(7, 'm1'))]), loaded(1, 0, [ok(0, rating(1, 'm3'))])],
      [
        [0, { next: 0, parked: new Set() }],
        [1, { next: 0, parked: new Set() }],
      ],
    );
    const arrivals = arrivalsOf(ratings, claims, g);
    const planned = planGroup(g, [arrivals], [new Set([uuid(7)])]);
    const actions = planned.map((b) => b.projections[0]!.plan.decisions.map((d) => d.action));
    assert.deepEqual(actions, [['apply', 'skip_duplicate'], ['skip_duplicate']]);
  });

  it('reopens the events a registered redrive copied, and lets its first copy release the parked key', () => {
    const copy = ok(5, rating(4, 'm9'));
    const batch = loaded(2, 5, [copy], [5]);
    const redrives = new Map([[REDRIVE, { projection: 'ratings', key: 'm9' }]]);
    const { group: g, claims } = group([{ ...batch, redrives }], [[2, { next: 5, parked: new Set(['m9']) }]]);
    const arrivals = arrivalsOf(ratings, claims, g);
    assert.deepEqual(arrivals.reopen, [uuid(4)]);
    const [planned] = planGroup(g, [arrivals], [new Set()]);
    const { plan } = planned!.projections[0]!;
    assert.deepEqual([...plan.releases], ['m9']);
    assert.deepEqual(
      plan.decisions.map((d) => d.action),
      ['apply'],
    );
  });

  it('does not reopen or release for a copy whose redrive is not registered for this projection and key', () => {
    const batch = loaded(2, 5, [ok(5, rating(4, 'm9'))], [5]);
    const redrives = new Map([[REDRIVE, { projection: 'movie-details', key: 'm9' }]]);
    const { group: g, claims } = group([{ ...batch, redrives }], [[2, { next: 5, parked: new Set(['m9']) }]]);
    const arrivals = arrivalsOf(ratings, claims, g);
    assert.deepEqual(arrivals.reopen, []);
    const [planned] = planGroup(g, [arrivals], [new Set()]);
    assert.deepEqual(
      planned!.projections[0]!.plan.decisions.map((d) => d.action),
      ['park'],
    );
  });
});
