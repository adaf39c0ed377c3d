import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deadLetterMessage, DLQ_HEADERS } from '../../projectors/pipeline/dead-letters.ts';
import { planBatch, type LogRecord, type PlanInput } from '../../projectors/pipeline/plan.ts';
import type { RatingSubmitted } from '../../shared/events/types.ts';
import { ok, rating, uuid } from '../support/log-records.ts';

const bad = (offset: number, key: string | null): LogRecord => ({
  offset,
  key,
  result: { ok: false, poison: { code: 'not_avro', message: 'garbage' } },
});

const input = (records: LogRecord[], more: Partial<PlanInput> = {}): PlanInput => ({
  handles: ['RatingSubmitted', 'RatingDeleted'],
  topicHandles: new Set(['RatingSubmitted', 'RatingDeleted']),
  records,
  parkedKeys: new Set(),
  seenEventIds: new Set(),
  refused: new Map(),
  ...more,
});

const actions = (records: LogRecord[], more?: Partial<PlanInput>) =>
  planBatch(input(records, more)).decisions.map((d) => `${d.offset}:${d.action}`);

describe('planBatch', () => {
  it('applies healthy events in order', () => {
    assert.deepEqual(actions([ok(0, rating(1, 'a')), ok(1, rating(2, 'b'))]), ['0:apply', '1:apply']);
  });

  it('dead-letters a poison record, parks the later events of its key, and lets other keys flow', () => {
    const plan = planBatch(input([ok(0, rating(1, 'a')), bad(1, 'a'), ok(2, rating(2, 'a')), ok(3, rating(3, 'b'))]));
    assert.deepEqual(
      plan.decisions.map((d) => `${d.offset}:${d.action}`),
      ['0:apply', '1:dead_letter', '2:park', '3:apply'],
    );
    assert.deepEqual(plan.parks, new Map([['a', { offset: 1, reason: 'not_avro: garbage' }]]));
  });

  it('parks events of a key parked before the batch, without parking it again', () => {
    const plan = planBatch(input([ok(5, rating(1, 'a')), bad(6, 'a')], { parkedKeys: new Set(['a']) }));
    assert.deepEqual(
      plan.decisions.map((d) => d.action),
      ['park', 'dead_letter'],
    );
    assert.equal(plan.parks.size, 0);
  });

  it('skips an event id seen before or earlier in the batch, even on a parked key', () => {
    const event = rating(1, 'a');
    assert.deepEqual(actions([ok(0, event), ok(1, event)]), ['0:apply', '1:skip_duplicate']);
    assert.deepEqual(actions([ok(4, event)], { seenEventIds: new Set([uuid(1)]), parkedKeys: new Set(['a']) }), [
      '4:skip_duplicate',
    ]);
  });

  it('dead-letters an event no projection of the topic handles, and ignores one for a sibling projection', () => {
    const metadata = { ...rating(1, 'a'), type: 'MovieMetadataSet' } as unknown as RatingSubmitted;
    const [unhandled] = planBatch(input([ok(0, metadata)])).decisions;
    assert.deepEqual(unhandled, {
      action: 'dead_letter',
      offset: 0,
      key: 'a',
      code: 'unhandled_event',
      message: 'no projection of this topic handles MovieMetadataSet',
      eventId: uuid(1),
    });
    assert.deepEqual(actions([ok(0, rating(2, 'a'))], { handles: ['RatingDeleted'] }), ['0:ignore']);
  });

  it('dead-letters a record Postgres refused, and parks its key', () => {
    const plan = planBatch(
      input([ok(7, rating(1, 'a')), ok(8, rating(2, 'a'))], { refused: new Map([[7, 'invalid byte sequence']]) }),
    );
    assert.deepEqual(
      plan.decisions.map((d) => d.action),
      ['dead_letter', 'park'],
    );
    assert.equal(plan.decisions[0]?.action === 'dead_letter' && plan.decisions[0].code, 'database_refused');
  });

  it("releases a parked key at a redrive's copy: the copy and the key's later events apply in order", () => {
    const copy = (r: LogRecord): LogRecord => ({ ...r, releasesKey: true });
    const plan = planBatch(
      input(
        [
          ok(5, rating(1, 'a')),
          copy(ok(6, rating(2, 'a'))),
          ok(7, rating(3, 'a')),
          ok(8, rating(4, 'a')),
          ok(9, rating(5, 'b')),
        ],
        { parkedKeys: new Set(['a', 'b']) },
      ),
    );
    // Written between the dead letter and the redrive: still parked, for a later redrive.
    assert.deepEqual(
      plan.decisions.map((d) => `${d.offset}:${d.action}`),
      ['5:park', '6:apply', '7:apply', '8:apply', '9:park'],
    );
    assert.deepEqual(plan.releases, new Set(['a']));
    assert.deepEqual(plan.parks, new Map());
  });

  it("parks the key again when a redrive's copy fails again", () => {
    const plan = planBatch(
      input([{ ...bad(6, 'a'), releasesKey: true }, ok(7, rating(3, 'a'))], { parkedKeys: new Set(['a']) }),
    );
    assert.deepEqual(
      plan.decisions.map((d) => `${d.offset}:${d.action}`),
      ['6:dead_letter', '7:park'],
    );
    assert.deepEqual(plan.releases, new Set(['a']));
    assert.deepEqual(plan.parks, new Map([['a', { offset: 6, reason: 'not_avro: garbage' }]]));
  });

  it('cannot park a record without a key: it is dead-lettered alone', () => {
    const plan = planBatch(input([bad(0, null), ok(1, rating(1, 'a'))]));
    assert.deepEqual(
      plan.decisions.map((d) => d.action),
      ['dead_letter', 'apply'],
    );
    assert.equal(plan.parks.size, 0);
  });
});

describe('deadLetterMessage', () => {
  const source = {
    topic: 'movie-ratings',
    partition: 2,
    offset: 41,
    key: Buffer.from('tt1'),
    value: Buffer.from([1, 2, 3]),
    headers: { 'event-type': Buffer.from('RatingSubmitted') },
    timestamp: '1763900000000',
  };
  const context = { consumerGroup: 'projectors', now: new Date('2026-11-23T10:00:00Z') };

  it('keeps key, value and headers, and names origin, error, projection, attempt and time', () => {
    const message = deadLetterMessage(
      { source, projection: 'ratings', code: 'not_avro', message: 'value is not in the Confluent wire format' },
      context,
    );
    assert.deepEqual(message, {
      key: source.key,
      value: source.value,
      headers: {
        'event-type': source.headers['event-type'],
        '__connect.errors.topic': 'movie-ratings',
        '__connect.errors.partition': '2',
        '__connect.errors.offset': '41',
        '__connect.errors.exception.class.name': 'not_avro',
        '__connect.errors.exception.message': 'value is not in the Confluent wire format',
        '__connect.errors.connector.name': 'ratings',
        'dlq.original.key': source.key,
        'dlq.original.timestamp': '1763900000000',
        'dlq.attempt': '1',
        'dlq.failed-at': '2026-11-23T10:00:00.000Z',
        'dlq.consumer-group': 'projectors',
      },
    });
  });

  it('counts attempts up when a re-driven record fails again', () => {
    const again = { ...source, headers: { ...source.headers, [DLQ_HEADERS.attempt]: Buffer.from('2') } };
    const message = deadLetterMessage(
      { source: again, projection: 'ratings', code: 'invalid_event', message: 'bad' },
      context,
    );
    assert.equal(message.headers?.[DLQ_HEADERS.attempt], '3');
  });
});
