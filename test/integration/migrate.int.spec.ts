import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { migrate } from '../../shared/db/migrate.ts';
import { createTestDatabase, quietLogger } from '../../harness/services.ts';

describe('database migrations', () => {
  // Found by the chaos run: a projector restarted while another migrated exited at startup.
  it('run from several processes at once: each waits its turn, none fails', async (t) => {
    const db = await createTestDatabase('migrate', { migrated: false });
    t.after(() => db.drop());
    await Promise.all(Array.from({ length: 4 }, () => migrate(db.url, quietLogger())));
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname IN ('movie_details', 'ratings', 'commands')",
      );
      assert.deepEqual(rows, [{ n: 3 }]);
    } finally {
      await client.end();
    }
  });
});
