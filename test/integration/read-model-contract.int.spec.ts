import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { OUTCOME_STATUSES, SCHEMAS, TABLES } from '../../shared/read-models.ts';
import { createTestDatabase, type TestDatabase } from '../../harness/services.ts';

/** shared/read-models.ts names what the migrations make: checked against a migrated database. */
describe('the read-model contract against the migrations', () => {
  let database: TestDatabase;
  let client: pg.Client;
  before(async () => {
    database = await createTestDatabase('contract');
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
  });
  after(async () => {
    await client?.end();
    await database?.drop();
  });

  const tablesOf = async (schema: string) =>
    (
      await client.query<{ name: string }>(
        'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1',
        [schema],
      )
    ).rows
      .map((r) => r.name)
      .sort();

  it('finds every table it names in the schema it names', async () => {
    const bookkeeping = [TABLES.offsets, TABLES.outcomes, TABLES.parkedKeys, TABLES.deadLetters];
    const expected: Record<string, string[]> = {
      [SCHEMAS.movieDetails]: [...bookkeeping, TABLES.movies],
      [SCHEMAS.ratings]: [...bookkeeping, TABLES.ratings, TABLES.ratingAggregates],
      [SCHEMAS.commands]: [TABLES.idempotencyKeys],
      [SCHEMAS.operations]: [TABLES.redrives],
      [SCHEMAS.privacy]: [TABLES.subjectKeys, TABLES.erasures],
    };
    for (const [schema, tables] of Object.entries(expected)) {
      const found = await tablesOf(schema);
      for (const table of tables)
        assert.ok(
          found.includes(table),
          `${schema}.${table} is not made by the migrations (found ${found.join(', ')})`,
        );
    }
  });

  it('allows exactly the outcome statuses it lists', async () => {
    for (const schema of [SCHEMAS.movieDetails, SCHEMAS.ratings]) {
      const { rows } = await client.query<{ definition: string }>(
        `SELECT pg_get_constraintdef(c.oid) AS definition FROM pg_constraint c
           JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
          WHERE n.nspname = $1 AND t.relname = $2 AND c.contype = 'c' AND pg_get_constraintdef(c.oid) LIKE '%status%'`,
        [schema, TABLES.outcomes],
      );
      assert.equal(rows.length, 1, `${schema}.${TABLES.outcomes} has one CHECK on status`);
      const allowed = [...rows[0]!.definition.matchAll(/'([a-z_]+)'::text/g)].map((m) => m[1]).sort();
      assert.deepEqual(allowed, [...OUTCOME_STATUSES].sort(), schema);
    }
  });
});
