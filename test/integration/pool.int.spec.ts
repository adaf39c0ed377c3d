import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { createPool, inParallel, withTransaction } from '../../shared/db/pool.ts';
import { createTestDatabase, quietLogger, type TestDatabase } from '../../harness/services.ts';

describe('transactions on a pipelining pool', () => {
  let db: TestDatabase;
  let pool: pg.Pool;

  before(async () => {
    db = await createTestDatabase('pool', { migrated: false });
    pool = createPool(db.url, 2, quietLogger());
    await pool.query('CREATE TABLE notes (id int PRIMARY KEY)');
  });
  after(async () => {
    await pool.end();
    await db.drop();
  });

  const notes = async () =>
    (await pool.query<{ id: number }>('SELECT id FROM notes ORDER BY id')).rows.map((r) => r.id);

  it('commits what statements issued together behind an unanswered BEGIN wrote', async () => {
    await pool.query('TRUNCATE notes');
    await withTransaction(pool, (client) =>
      inParallel([client.query('INSERT INTO notes VALUES (1)'), client.query('INSERT INTO notes VALUES (2)')]),
    );
    assert.deepEqual(await notes(), [1, 2]);
  });

  it('rolls back a statement sent behind an unanswered BEGIN when a later one fails', async () => {
    await pool.query('TRUNCATE notes');
    await assert.rejects(
      withTransaction(pool, async (client) => {
        await client.query('INSERT INTO notes VALUES (1)');
        await client.query('SELECT 1 / 0');
      }),
      { code: '22012' },
    );
    assert.deepEqual(await notes(), []);
  });

  // A branch that works on after another has failed (as a projection folds between its load and
  // its write): with Promise.all the failure ended the work at once, the ROLLBACK went out, and
  // the branch's next statement ran after it, outside any transaction, and its row was committed.
  it('waits for every branch before rolling back, so that none writes outside the transaction', async () => {
    await pool.query('TRUNCATE notes');
    await assert.rejects(
      withTransaction(pool, (client) => {
        const failing = client.query('SELECT 1 / 0');
        const slowBranch = (async () => {
          await failing.catch(() => undefined);
          await new Promise(setImmediate);
          await client.query('INSERT INTO notes VALUES (3)');
        })();
        return inParallel([failing, slowBranch]);
      }),
      { code: '22012' },
    );
    assert.deepEqual(await notes(), []);
  });

  it('commits and rolls back on a pool that does not pipeline, which waits for BEGIN', async () => {
    const plain = createPool(db.url, 1, quietLogger(), { statementTimeoutMs: 5000, connectTimeoutMs: 5000 });
    try {
      await pool.query('TRUNCATE notes');
      await withTransaction(plain, (client) => client.query('INSERT INTO notes VALUES (4)'));
      await assert.rejects(
        withTransaction(plain, async (client) => {
          await client.query('INSERT INTO notes VALUES (5)');
          await client.query('SELECT 1 / 0');
        }),
        { code: '22012' },
      );
      assert.deepEqual(await notes(), [4]);
    } finally {
      await plain.end();
    }
  });

  it('fails with the first failure in the order issued, not with the aborted-transaction errors after it', async () => {
    await assert.rejects(
      withTransaction(pool, (client) =>
        inParallel([client.query('SELECT 1'), client.query("SELECT 'x'::int"), client.query('SELECT 1 / 0')]),
      ),
      { code: '22P02' },
    );
  });
});
