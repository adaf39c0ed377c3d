import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { createPool, withTransaction } from '../../shared/db/pool.ts';
import { createKeyStore, type KeyStore } from '../../shared/privacy/key-store.ts';
import { subjectHash } from '../../shared/privacy/sealed-field.ts';
import { LIVE } from '../../shared/read-models.ts';
import { eventually } from '../../harness/eventually.ts';
import { createTestDatabase, quietLogger, type TestDatabase } from '../../harness/services.ts';

const SECRET = 'key-store-test-secret-that-is-long-enough';

describe('the key store', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let store: KeyStore;
  let n = 0;
  const subject = () => subjectHash(SECRET, `user-${process.pid}-${n++}`);

  before(async () => {
    db = await createTestDatabase('keys');
    pool = createPool(db.url, 6, quietLogger());
    store = createKeyStore(pool);
  });
  after(async () => {
    await pool.end();
    await db.drop();
  });

  it("creates a subject's key once, and instances racing on it agree on one", async () => {
    const alice = subject();
    const raced = await Promise.all([store.keyFor(alice), store.keyFor(alice), store.keyFor(alice)]);
    for (const key of raced) assert.deepEqual(key, raced[0]);
    assert.deepEqual(await store.keyFor(alice), raced[0]);
    assert.equal(raced[0].key.length, 32);
    assert.notEqual((await store.keyFor(subject())).keyId, raced[0].keyId);
  });

  it('forgets: the key is gone, the erasure is recorded once, and a second forget changes nothing', async () => {
    const bob = subject();
    const key = await store.keyFor(bob);
    assert.equal(await store.erasureOf(bob), undefined);
    const first = await withTransaction(pool, (client) => store.forgetInTransaction(client, bob));
    const found = await withTransaction(pool, (client) => store.keysInTransaction(client, [key.keyId]));
    assert.equal(found.size, 0);
    const again = await withTransaction(pool, (client) => store.forgetInTransaction(client, bob));
    assert.equal(again.getTime(), first.getTime());
    assert.equal((await store.erasureOf(bob))?.getTime(), first.getTime());
    // A subject who comes back after being forgotten gets a new key; the old one stays destroyed.
    assert.notEqual((await store.keyFor(bob)).keyId, key.keyId);
  });

  it("makes a forget wait for a transaction that holds the subject's key", async () => {
    const carol = subject();
    const key = await store.keyFor(carol);
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      const held = await store.keysInTransaction(holder, [key.keyId]);
      assert.deepEqual(held.get(key.keyId), key.key);
      let forgotten = false;
      const forget = withTransaction(pool, (client) => store.forgetInTransaction(client, carol)).then(() => {
        forgotten = true;
      });
      // Blocked on the holder's lock, as Postgres itself reports, not merely slow.
      await eventually(async () => {
        const { rows } = await pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM %'`,
        );
        assert.equal(rows[0]!.n, 1);
      });
      assert.equal(forgotten, false);
      await holder.query('COMMIT');
      await forget;
      const { rows } = await pool.query(`SELECT 1 FROM ${LIVE.subjectKeys} WHERE key_id = $1`, [key.keyId]);
      assert.equal(rows.length, 0);
    } finally {
      // Destroyed rather than returned, in case a failure left its transaction open.
      holder.release(true);
    }
  });
});
