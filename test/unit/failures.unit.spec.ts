import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { CatalogueError, UnavailableError } from '../../shared/errors.ts';
import { classify, isUniqueViolation, PositionError, SQLSTATE } from '../../shared/failures.ts';

/** An error as node-postgres raises it for a server's refusal. */
const postgres = (code: string) => Object.assign(new Error(`refused (${code})`), { code });

describe('classify', () => {
  it("calls Postgres's refusal of the values permanent: data exceptions and integrity, but a unique violation", () => {
    for (const code of ['22021', '22P02', '23502', '23503', '23514'])
      assert.deepEqual(classify(postgres(code)), { kind: 'permanent', sqlState: code }, code);
    assert.deepEqual(classify(postgres(SQLSTATE.uniqueViolation)), {
      kind: 'transient',
      cause: 'database',
      outOfTime: false,
    });
  });

  it('says what a transient failure waits on', () => {
    const cases: Array<[unknown, string]> = [
      [postgres(SQLSTATE.undefinedTable), 'deployment'],
      [postgres('42703'), 'deployment'],
      [postgres('08006'), 'database'],
      [postgres('40001'), 'database'],
      [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'database'],
      [new UnavailableError('read model down', 1, 'database'), 'database'],
      [new UnavailableError('registry down', 1, 'registry'), 'registry'],
      [new UnavailableError('no ack', 1, 'kafka'), 'kafka'],
      [new kafkajs.KafkaJSError('broker gone'), 'kafka'],
      [new Error('something else'), 'unexpected'],
      ['not even an error', 'unexpected'],
    ];
    for (const [err, cause] of cases)
      assert.deepEqual(classify(err), { kind: 'transient', cause, outOfTime: false }, String(cause));
  });

  it('marks a statement or lock timeout as out of time', () => {
    for (const code of [SQLSTATE.queryCanceled, SQLSTATE.lockNotAvailable])
      assert.deepEqual(classify(postgres(code)), { kind: 'transient', cause: 'database', outOfTime: true });
  });

  it('tells the consumer where to read again from', () => {
    assert.deepEqual(classify(new PositionError(3, 5)), { kind: 'reposition', expected: 3 });
  });
});

describe('the errors the system throws', () => {
  it('share one base and are named after their class', () => {
    const errors = [new PositionError(3, 5), new UnavailableError('down', 1, 'kafka')];
    for (const err of errors) assert.ok(err instanceof CatalogueError);
    assert.deepEqual(
      errors.map((e) => e.name),
      ['PositionError', 'UnavailableError'],
    );
  });

  it('find a unique violation by its SQLSTATE', () => {
    assert.equal(isUniqueViolation(postgres('23505')), true);
    assert.equal(isUniqueViolation(postgres('23503')), false);
    assert.equal(isUniqueViolation(new Error('23505')), false);
  });
});
