import type pg from 'pg';
import { LIVE } from '../read-models.ts';
import { newDataKey, type DataKey } from './sealed-field.ts';

/**
 * The subjects' data keys in Postgres (schema `privacy`), found by a keyed hash of the subject's
 * id. Forgetting a subject deletes its key: whatever was sealed under it stays unreadable, in the
 * log and in every backup taken afterwards.
 */
export interface KeyStore {
  /** The subject's data key, created at its first use; instances that race on it agree on one. */
  keyFor(subjectHash: string): Promise<DataKey>;
  /**
   * The keys with these ids that still exist, share-locked in `client`'s transaction: a forget of
   * one of their subjects waits until that transaction ends, so nothing it writes outlives the key.
   */
  keysInTransaction(client: pg.ClientBase, keyIds: readonly string[]): Promise<Map<string, Buffer>>;
  /**
   * Destroys the subject's key and records the erasure in `client`'s transaction, waiting for any
   * transaction that holds the key; answers when the subject was first forgotten.
   */
  forgetInTransaction(client: pg.ClientBase, subjectHash: string): Promise<Date>;
  /** When the subject was forgotten, if it was. */
  erasureOf(subjectHash: string): Promise<Date | undefined>;
}

export function createKeyStore(pool: pg.Pool): KeyStore {
  async function keyFor(subjectHash: string): Promise<DataKey> {
    const created = newDataKey();
    // Two statements, not one: a single statement's snapshot would not see the row a racing
    // instance committed while this insert waited on it.
    const { rows } = await pool.query<{ key_id: string; data_key: Buffer }>(
      `INSERT INTO ${LIVE.subjectKeys} (subject_hash, key_id, data_key) VALUES ($1, $2, $3)
         ON CONFLICT (subject_hash) DO NOTHING RETURNING key_id, data_key`,
      [subjectHash, created.keyId, created.key],
    );
    const row =
      rows[0] ??
      (
        await pool.query<{ key_id: string; data_key: Buffer }>(
          `SELECT key_id, data_key FROM ${LIVE.subjectKeys} WHERE subject_hash = $1`,
          [subjectHash],
        )
      ).rows[0];
    // Forgotten between the two statements: the next use creates a key afresh.
    if (!row) return keyFor(subjectHash);
    return { keyId: row.key_id, key: row.data_key };
  }

  return {
    keyFor,

    async keysInTransaction(client, keyIds) {
      if (keyIds.length === 0) return new Map();
      const { rows } = await client.query<{ key_id: string; data_key: Buffer }>(
        `SELECT key_id, data_key FROM ${LIVE.subjectKeys} WHERE key_id = ANY($1::uuid[]) FOR SHARE`,
        [keyIds],
      );
      return new Map(rows.map((r) => [r.key_id, r.data_key]));
    },

    async forgetInTransaction(client, subjectHash) {
      await client.query(`DELETE FROM ${LIVE.subjectKeys} WHERE subject_hash = $1`, [subjectHash]);
      const { rows } = await client.query<{ forgotten_at: Date }>(
        `INSERT INTO ${LIVE.erasures} (subject_hash, forgotten_at) VALUES ($1, clock_timestamp())
         ON CONFLICT (subject_hash) DO UPDATE SET forgotten_at = ${LIVE.erasures}.forgotten_at
         RETURNING forgotten_at`,
        [subjectHash],
      );
      return rows[0]!.forgotten_at;
    },

    async erasureOf(subjectHash) {
      const { rows } = await pool.query<{ forgotten_at: Date }>(
        `SELECT forgotten_at FROM ${LIVE.erasures} WHERE subject_hash = $1`,
        [subjectHash],
      );
      return rows[0]?.forgotten_at;
    },
  };
}
