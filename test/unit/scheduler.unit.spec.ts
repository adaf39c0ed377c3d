import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Scheduler, type Effect, type SchedulerLimits } from '../../projectors/consumer/scheduler.ts';
import type { BatchReport, FetchedBatch, GroupResult } from '../../projectors/pipeline/batch.ts';
import { PositionError } from '../../shared/failures.ts';

const LIMITS: SchedulerLimits = {
  concurrentGroups: 2,
  mergedBatchRecords: 100,
  concurrentGroupRecords: 10,
  backoffMs: (attempt) => attempt * 1000,
};

/** A fetch of `count` records of `partition` from `offset` on, topic `t`. */
function fetch(partition: number, offset: number, count: number, topic = 't'): FetchedBatch {
  const records = Array.from({ length: count }, (_, i) => ({
    topic,
    partition,
    offset: offset + i,
    key: null,
    value: null,
    headers: {},
    timestamp: '0',
  }));
  return { topic, partition, fetchedOffset: offset, nextOffset: offset + count, records };
}

const REPORT: BatchReport = { counts: [], deadLetters: [], parked: [] };
const applied: GroupResult = { ok: true, report: REPORT };
const failed = (message = 'connection reset'): GroupResult => ({ ok: false, error: new Error(message) });

const applies = (effects: Effect[]) => effects.filter((e) => e.kind === 'apply');
const others = (effects: Effect[]) => effects.filter((e) => e.kind !== 'apply' && e.kind !== 'gather');
/** Each group started: its id and its batches as partition:fetchedOffset-nextOffset. */
const groupsIn = (effects: Effect[]) =>
  applies(effects).map((e) => ({
    group: e.group,
    batches: e.batches.map((b) => `${b.partition}:${b.fetchedOffset}-${b.nextOffset}`),
  }));

/** Partitions 0 and 1 in one group being applied, while partition 0 holds two more batches, paused. */
function groupWithBacklog() {
  const s = new Scheduler({ ...LIMITS, concurrentGroups: 1 });
  s.fetched(fetch(0, 0, 20));
  s.fetched(fetch(1, 0, 20));
  const [group] = applies(s.gathered());
  s.fetched(fetch(0, 20, 20));
  s.fetched(fetch(0, 50, 20));
  return { s, group };
}

describe('the projector scheduler', () => {
  it('asks to gather a fetch once, then applies the waiting batches of every partition as one group', () => {
    const s = new Scheduler(LIMITS);
    assert.deepEqual(s.fetched(fetch(1, 0, 20)), [{ kind: 'gather' }]);
    assert.deepEqual(s.fetched(fetch(0, 5, 20)), [], 'one gather covers the whole fetch');
    assert.deepEqual(groupsIn(s.gathered()), [{ group: 1, batches: ['0:5-25', '1:0-20'] }]);
  });

  it('stores the offsets of an applied group and gives the next batch the offset it continues from', () => {
    const s = new Scheduler(LIMITS);
    s.fetched(fetch(0, 0, 20));
    const [first] = applies(s.gathered());
    assert.equal(first!.batches[0]!.continuesFrom, undefined);
    const done = s.settled(first!.group, [applied]);
    assert.deepEqual(done.settled[0]!.step, { kind: 'applied', report: REPORT, recovered: false });
    assert.deepEqual(others(done.effects), [{ kind: 'stored', topic: 't', partition: 0, nextOffset: 20 }]);
    s.fetched(fetch(0, 20, 20));
    const [second] = applies(s.gathered());
    assert.equal(second!.batches[0]!.continuesFrom, 20);
  });

  it('merges contiguous fetches while a partition waits, and pauses it while it holds more than one batch', () => {
    const s = new Scheduler({ ...LIMITS, concurrentGroups: 1 });
    s.fetched(fetch(0, 0, 20));
    const [busy] = applies(s.gathered());
    s.fetched(fetch(0, 20, 30));
    assert.deepEqual(s.fetched(fetch(0, 50, 30)), [], 'merged: one batch waits, nothing to pause');
    assert.deepEqual(s.fetched(fetch(0, 90, 5)), [{ kind: 'pause', topic: 't', partition: 0 }], 'a gap: not merged');
    s.settled(busy!.group, [applied]);
    const next = s.gathered();
    assert.deepEqual(groupsIn(next), [{ group: 2, batches: ['0:20-80'] }]);
    assert.deepEqual(others(next), [{ kind: 'resume', topic: 't', partition: 0 }]);
  });

  it('never merges past the cap, and keeps a partition paused while a full batch waits', () => {
    const s = new Scheduler({ ...LIMITS, concurrentGroups: 1 });
    s.fetched(fetch(0, 0, 20));
    const [busy] = applies(s.gathered());
    s.fetched(fetch(0, 20, 60));
    assert.deepEqual(s.fetched(fetch(0, 80, 100)), [{ kind: 'pause', topic: 't', partition: 0 }], 'over the cap');
    s.settled(busy!.group, [applied]);
    const started = s.gathered();
    assert.deepEqual(groupsIn(started), [{ group: 2, batches: ['0:20-80'] }]);
    assert.deepEqual(others(started), [], 'the batch left is full: the partition stays paused');
    s.settled(2, [applied]);
    const last = s.gathered();
    assert.deepEqual(groupsIn(last), [{ group: 3, batches: ['0:80-180'] }]);
    assert.deepEqual(others(last), [{ kind: 'resume', topic: 't', partition: 0 }]);
  });

  it("groups partitions' head batches up to the cap, in (topic, partition) order, each partition once", () => {
    const s = new Scheduler(LIMITS);
    s.fetched(fetch(2, 0, 30, 'b'));
    s.fetched(fetch(1, 0, 30, 'a'));
    s.fetched(fetch(0, 0, 30, 'b'));
    s.fetched(fetch(3, 0, 30, 'a'));
    const groups = applies(s.gathered()).map((e) => e.batches.map((b) => `${b.topic}${b.partition}`));
    assert.deepEqual(groups, [['a1', 'b0', 'b2'], ['a3']]);
  });

  it('starts no more groups than it may at once', () => {
    const s = new Scheduler({ ...LIMITS, mergedBatchRecords: 20 });
    for (const p of [0, 1, 2]) s.fetched(fetch(p, 0, 20));
    assert.equal(applies(s.gathered()).length, 2);
    s.settled(1, [applied]);
    assert.deepEqual(groupsIn(s.gathered()), [{ group: 3, batches: ['2:0-20'] }]);
  });

  it('holds a small group back once while another is applied, and starts it beside one once a group ends', () => {
    const s = new Scheduler({ ...LIMITS, mergedBatchRecords: 20, concurrentGroups: 3 });
    s.fetched(fetch(0, 0, 20));
    const [big] = applies(s.gathered());
    s.fetched(fetch(1, 0, 3));
    assert.deepEqual(groupsIn(s.gathered()), [], 'a handful of records waits for the group being applied');
    s.fetched(fetch(2, 0, 20));
    assert.deepEqual(groupsIn(s.gathered()), [{ group: 2, batches: ['2:0-20'] }], 'a large group starts beside');
    s.settled(big!.group, [applied]);
    assert.deepEqual(groupsIn(s.gathered()), [{ group: 3, batches: ['1:0-3'] }], 'waited once: now it goes beside');
  });

  it('holds a small group back again once its lane has emptied, also for a lane that went along in a group', () => {
    const s = new Scheduler({ ...LIMITS, concurrentGroups: 3 });
    s.fetched(fetch(0, 0, 20));
    s.gathered();
    s.fetched(fetch(1, 0, 3));
    s.fetched(fetch(2, 0, 3));
    assert.deepEqual(groupsIn(s.gathered()), [], 'both lanes hold back');
    s.settled(1, [applied]);
    assert.deepEqual(groupsIn(s.gathered()), [{ group: 2, batches: ['1:0-3', '2:0-3'] }]);
    s.settled(2, [applied, applied]);
    s.fetched(fetch(0, 20, 20));
    assert.deepEqual(groupsIn(s.gathered()), [{ group: 3, batches: ['0:20-40'] }]);
    s.fetched(fetch(2, 3, 3));
    assert.deepEqual(groupsIn(s.gathered()), [], 'partition 2 waited before, but its lane emptied since');
  });

  it('starts a small group at once when nothing else is applied', () => {
    const s = new Scheduler(LIMITS);
    s.fetched(fetch(0, 0, 1));
    assert.equal(applies(s.gathered()).length, 1);
  });

  it('pauses a failed partition, drops what waits behind it, seeks back to the batch and retries it alone after the backoff', () => {
    const { s, group } = groupWithBacklog();
    const done = s.settled(group!.group, [failed(), applied]);
    const step = done.settled[0]!.step;
    assert.deepEqual(step.kind === 'retrying' && [step.error.message, step.cause, step.attempt, step.delayMs], [
      'connection reset',
      'unexpected',
      1,
      1000,
    ]);
    assert.deepEqual(others(done.effects), [
      { kind: 'retry-timer', topic: 't', partition: 0, delayMs: 1000 },
      { kind: 'pause', topic: 't', partition: 0 },
      { kind: 'seek', topic: 't', partition: 0, offset: 0 },
      { kind: 'stored', topic: 't', partition: 1, nextOffset: 20 },
    ]);
    assert.deepEqual(groupsIn(s.gathered()), [], 'the batches fetched after the failed one are dropped');
    assert.equal(s.accepts('t', 0), false, 'a batch fetched before the pause is not taken');
    assert.deepEqual(s.fetched(fetch(0, 20, 5)), []);
    assert.equal(s.retrying(), 't/0: connection reset');

    assert.deepEqual(s.retryDue('t', 0), [{ kind: 'resume', topic: 't', partition: 0 }]);
    s.fetched(fetch(0, 0, 20));
    s.fetched(fetch(1, 20, 20));
    assert.deepEqual(groupsIn(s.gathered()), [{ group: 2, batches: ['0:0-20'] }], 'a retrying partition goes alone');
    const again = s.settled(2, [failed('still down')]);
    assert.equal(again.settled[0]!.step.kind === 'retrying' && again.settled[0]!.step.attempt, 2);
    assert.ok(again.effects.some((e) => e.kind === 'retry-timer' && e.delayMs === 2000));
    s.retryDue('t', 0);
    const [other] = applies(s.gathered());
    assert.deepEqual(
      other!.batches.map((b) => b.partition),
      [1],
    );
    s.settled(other!.group, [applied]);
    s.fetched(fetch(0, 0, 20));
    const [retry] = applies(s.gathered());
    const recovered = s.settled(retry!.group, [applied]);
    assert.deepEqual(recovered.settled[0]!.step, { kind: 'applied', report: REPORT, recovered: true });
    assert.equal(s.retrying(), undefined);
  });

  it('retries a value Postgres refused that the sink could not pin on a record as a database failure', () => {
    const s = new Scheduler(LIMITS);
    s.fetched(fetch(0, 0, 1));
    const [group] = applies(s.gathered());
    const refused = Object.assign(new Error('value too long'), { code: '22001' });
    const step = s.settled(group!.group, [{ ok: false, error: refused }]).settled[0]!.step;
    assert.equal(step.kind === 'retrying' && step.cause, 'database');
  });

  it('seeks to the stored offset when a batch starts elsewhere, and reads on without claiming to continue', () => {
    const s = new Scheduler(LIMITS);
    s.fetched(fetch(0, 0, 20));
    s.settled(applies(s.gathered())[0]!.group, [applied]);
    s.fetched(fetch(0, 500, 20));
    const [misplaced] = applies(s.gathered());
    s.fetched(fetch(0, 520, 20));
    const done = s.settled(misplaced!.group, [{ ok: false, error: new PositionError(20, 500) }]);
    assert.deepEqual(done.settled[0]!.step, { kind: 'repositioned', expected: 20 });
    assert.deepEqual(others(done.effects), [
      { kind: 'resume', topic: 't', partition: 0 },
      { kind: 'seek', topic: 't', partition: 0, offset: 20 },
    ]);
    assert.deepEqual(groupsIn(s.gathered()), [], 'what was fetched from the wrong place is dropped');
    s.fetched(fetch(0, 20, 20));
    assert.equal(applies(s.gathered())[0]!.batches[0]!.continuesFrom, undefined);
  });

  it('on a new assignment drops every lane with its pauses and retry timer, and leaves a group that ends later to its new owner', () => {
    const s = new Scheduler({ ...LIMITS, mergedBatchRecords: 20 });
    s.fetched(fetch(0, 0, 20));
    s.fetched(fetch(1, 0, 20));
    const [first, second] = applies(s.gathered());
    s.fetched(fetch(0, 20, 20));
    s.fetched(fetch(0, 40, 20));
    s.settled(second!.group, [failed()]);
    const before = s.assignment();
    assert.deepEqual(s.assigned(), [
      { kind: 'resume', topic: 't', partition: 0 },
      { kind: 'cancel-retry-timer', topic: 't', partition: 1 },
      { kind: 'resume', topic: 't', partition: 1 },
    ]);
    assert.equal(s.assignment(), before + 1);
    assert.equal(s.hasLane('t', 0), false);
    assert.equal(s.retrying(), undefined, "the old lane's failure is not this assignment's");
    assert.equal(s.accepts('t', 1), true);

    s.fetched(fetch(0, 20, 20));
    assert.deepEqual(groupsIn(s.gathered()), [{ group: 3, batches: ['0:20-40'] }]);
    const late = s.settled(first!.group, [applied]);
    assert.equal(late.settled[0]!.current, false);
    assert.deepEqual(others(late.effects), [], 'no offset copy, pause or seek for a partition that moved');
    const lateFailure = s.settled(3, [failed()]);
    assert.equal(lateFailure.settled[0]!.current, true);
  });

  it('does not seek or pause for a group that fails after its partition moved away', () => {
    const s = new Scheduler(LIMITS);
    s.fetched(fetch(0, 0, 20));
    const [group] = applies(s.gathered());
    s.assigned();
    const done = s.settled(group!.group, [failed()]);
    assert.equal(done.settled[0]!.current, false);
    assert.deepEqual(others(done.effects), []);
    assert.equal(s.retrying(), undefined);
  });

  it('once stopping, drops what waits, resumes and cancels, takes nothing more, and lets the groups being applied end', () => {
    const { s, group } = groupWithBacklog();
    assert.deepEqual(s.stop(), [{ kind: 'resume', topic: 't', partition: 0 }]);
    assert.equal(s.accepts('t', 2), false);
    assert.deepEqual(s.fetched(fetch(2, 0, 20)), []);
    const done = s.settled(group!.group, [applied, failed()]);
    assert.deepEqual(others(done.effects), [{ kind: 'stored', topic: 't', partition: 0, nextOffset: 20 }]);
    assert.deepEqual(s.gathered(), []);
  });
});
