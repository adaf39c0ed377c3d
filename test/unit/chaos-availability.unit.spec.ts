import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calmAcceptance, outageFigures } from '../chaos/availability.ts';
import type { CommandKind, CommandRecord, Answer } from '../chaos/load.ts';

const record = (sentAt: number, answers: Answer[], kind: CommandKind = 'rating'): CommandRecord => ({
  kind,
  sentAt,
  answers,
  answeredAt: answers.map(() => sentAt),
  eventIds: [],
});
const calm = [
  [0, 100],
  [500, 600],
] as const;

describe("the chaos run's calm-phase acceptance", () => {
  it('fails a run in which every command got 503, whatever else it checked', () => {
    const run = Array.from({ length: 50 }, (_, i) => record(i * 2, [503, 503]));
    assert.deepEqual(calmAcceptance(run, calm), {
      check: 'valid commands sent in calm phases that got 202 (at least 90%)',
      found: '0 of 50 (0.0%)',
      ok: false,
    });
  });

  it('counts only valid commands sent in calm phases, and a stale If-Match refused is no failure', () => {
    const run = [
      ...Array.from({ length: 9 }, (_, i) => record(10 + i, [503, 202])),
      record(20, [503]),
      record(30, [400], 'refused'),
      record(40, [412], 'metadata-if-match'),
      // During the faults: not counted.
      ...Array.from({ length: 30 }, (_, i) => record(200 + i, [503])),
      record(550, ['no answer', 202]),
    ];
    assert.deepEqual(calmAcceptance(run, calm), {
      check: 'valid commands sent in calm phases that got 202 (at least 90%)',
      found: '10 of 11 (90.9%)',
      ok: true,
    });
    assert.equal(calmAcceptance([...run, record(560, ['no answer'])], calm).ok, false);
  });

  it('fails a run with no calm command at all', () => {
    assert.equal(calmAcceptance([record(300, [202])], calm).ok, false);
  });
});

describe('what the load saw of an outage', () => {
  const answered = (at: number, answer: Answer): CommandRecord => ({
    kind: 'rating',
    sentAt: at - 5,
    answers: [answer],
    answeredAt: [at],
    eventIds: [],
  });
  const load = [
    answered(900, 202),
    answered(1500, 503),
    answered(3000, 202),
    answered(9000, 503),
    answered(12_000, 202),
    answered(12_500, 202),
  ];

  it('counts the 503s and the longest time without a 202, until the first 202 after the brokers came back', () => {
    assert.deepEqual(outageFigures(load, { fault: 'leader killed', from: 1000, to: 10_000, belowMinIsr: false }), {
      unavailable: 2,
      longestWithout202Ms: 9000,
      acceptedBelowMinIsr: 0,
    });
  });

  it('counts the 202s answered while fewer than min.insync.replicas brokers were up, after the first second', () => {
    assert.equal(
      outageFigures(load, { fault: 'two nodes killed', from: 1000, to: 10_000, belowMinIsr: true }).acceptedBelowMinIsr,
      1,
    );
    assert.equal(
      outageFigures(load, { fault: 'two nodes killed', from: 2500, to: 10_000, belowMinIsr: true }).acceptedBelowMinIsr,
      0,
    );
  });
});
