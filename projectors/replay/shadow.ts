import type { Pool, PoolClient } from '../../shared/db/pool.ts';
import { PROGRESS_CHANNEL, table, TABLES, UNSPECIFIED_PROGRESS } from '../../shared/read-models.ts';

/**
 * The Postgres side of a rebuild. A projection owns one schema (its read model and its
 * bookkeeping); a rebuild fills a shadow schema of the same shape and swaps it in by renaming
 * both schemas in one transaction. Prepared statements name tables by schema, and Postgres
 * re-resolves them after a schema is renamed, so every reader and writer moves to the rebuilt
 * tables with its next statement.
 */

export const shadowSchemaOf = (live: string) => `${live}__rebuild`;
/** Old schemas carry the time of their swap, so that several can wait for their drop. */
export const oldSchemaOf = (live: string, swappedAt: Date) =>
  `${live}__old_${swappedAt
    .toISOString()
    .replaceAll(/[^0-9]/g, '')
    .slice(0, 14)}`;
/** A LIKE pattern for them, with the underscores taken literally. */
const OLD_PATTERN = (live: string) => `${live.replaceAll('_', '\\_')}\\_\\_old\\_%`;

const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;

export async function schemaExists(pool: Pool | PoolClient, schema: string): Promise<boolean> {
  const { rows } = await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  return rows.length > 0;
}

/**
 * Creates `shadow` with every table of `live`: columns, defaults, constraints, indexes and
 * storage parameters (fillfactor), all empty. Done in one transaction: a crash leaves either no
 * shadow or a whole one.
 */
export async function createShadow(pool: Pool, live: string, shadow: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`CREATE SCHEMA ${quoted(shadow)}`);
    const { rows } = await client.query<{ name: string; options: string[] | null }>(
      `SELECT c.relname AS name, c.reloptions AS options FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname`,
      [live],
    );
    for (const { name, options } of rows) {
      await client.query(
        `CREATE TABLE ${table(shadow, quoted(name))} (LIKE ${table(live, quoted(name))} INCLUDING ALL)`,
      );
      if (options && options.length > 0)
        await client.query(`ALTER TABLE ${table(shadow, quoted(name))} SET (${options.join(', ')})`);
    }
    for (const grant of await grantsOf(client, live, shadow)) await client.query(grant);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** The next offset of each partition of `topic` a schema's projection has stored; absent: 0. */
/**
 * The GRANTs that give the shadow's schema and tables the privileges other roles hold on the
 * live ones, so that a service connecting as its own role keeps reading or writing them after
 * the swap (CREATE TABLE ... LIKE copies no privileges).
 */
async function grantsOf(client: PoolClient, live: string, shadow: string): Promise<string[]> {
  const { rows } = await client.query<{ grant: string }>(
    `SELECT format('GRANT %s ON SCHEMA %I TO %I', a.privilege_type, $2::text, r.rolname) AS grant
       FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a JOIN pg_roles r ON r.oid = a.grantee
      WHERE n.nspname = $1 AND a.grantee <> n.nspowner
     UNION ALL
     SELECT format('GRANT %s ON %I.%I TO %I', a.privilege_type, $2::text, c.relname, r.rolname)
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN LATERAL aclexplode(c.relacl) a JOIN pg_roles r ON r.oid = a.grantee
      WHERE n.nspname = $1 AND c.relkind = 'r' AND a.grantee <> c.relowner`,
    [live, shadow],
  );
  return rows.map((r) => r.grant);
}

export async function offsetsIn(
  db: Pool | PoolClient,
  schema: string,
  topic: string,
  lock = false,
): Promise<Map<number, number>> {
  const { rows } = await db.query<{ partition: number; next_offset: number }>(
    `SELECT partition, next_offset FROM ${table(schema, TABLES.offsets)} WHERE topic = $1 ORDER BY partition${lock ? ' FOR UPDATE' : ''}`,
    [topic],
  );
  return new Map(rows.map((r) => [r.partition, r.next_offset]));
}

/** Partitions where `ahead` has not reached `behind` yet, and by how many records. */
export function shortfall(
  ahead: ReadonlyMap<number, number>,
  behind: ReadonlyMap<number, number>,
): Map<number, number> {
  const short = new Map<number, number>();
  for (const [partition, offset] of behind) {
    const gap = offset - (ahead.get(partition) ?? 0);
    if (gap > 0) short.set(partition, gap);
  }
  return short;
}

/**
 * Inside the swap's transaction: the live schema becomes `old`, the shadow becomes live. Readers
 * hear of it as they hear of any projection's progress: another read model now stands behind
 * the same names.
 */
export async function swapSchemas(client: PoolClient, live: string, shadow: string, old: string): Promise<void> {
  await client.query(`ALTER SCHEMA ${quoted(live)} RENAME TO ${quoted(old)}`);
  await client.query(`ALTER SCHEMA ${quoted(shadow)} RENAME TO ${quoted(live)}`);
  await client.query(`SELECT pg_notify($1, $2)`, [PROGRESS_CHANNEL, UNSPECIFIED_PROGRESS]);
}

/** Schemas earlier swaps left behind for `live`, oldest first. */
export async function oldSchemas(pool: Pool, live: string): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE $1 ORDER BY nspname`,
    [OLD_PATTERN(live)],
  );
  return rows.map((r) => r.name);
}

export async function dropSchema(pool: Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${quoted(schema)} CASCADE`);
}
