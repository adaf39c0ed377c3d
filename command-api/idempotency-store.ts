import type { Pool } from '../shared/db/pool.ts';
import { UnavailableError } from '../shared/errors.ts';
import { isUniqueViolation } from '../shared/failures.ts';
import type { Logger } from '../shared/logger.ts';
import type { Claim, IdempotencyScope, IdempotencyStore } from './idempotency.ts';
import { LIVE } from '../shared/read-models.ts';

interface KeyRow {
  fingerprint: string;
  accepted_at: Date;
  answer: unknown;
  expired: boolean;
}

export interface PostgresIdempotencyStore extends IdempotencyStore {
  /** Deletes expired keys, a bounded number per call; returns how many. */
  sweep(limit?: number): Promise<number>;
}

/**
 * Idempotency keys in Postgres, kept for `ttlSeconds` after their first use. A claim inserts
 * first and reads only when the key exists (SQLSTATE 23505): the common case, a new key, costs
 * one statement, and two instances claiming one key at once are ordered by the primary key.
 */
export function createIdempotencyStore(pool: Pool, ttlSeconds: number, logger: Logger): PostgresIdempotencyStore {
  const log = logger.child({ component: 'idempotency' });

  /** Postgres trouble means the command cannot be made safe now: 503, retry later. */
  async function guarded<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      log.warn({ err }, 'idempotency store unavailable');
      throw new UnavailableError(
        'The command store is unavailable; nothing was written. Retry with the same Idempotency-Key.',
        1,
        'database',
      );
    }
  }

  async function insert(scope: IdempotencyScope, fingerprint: string, acceptedAt: Date): Promise<boolean> {
    try {
      await pool.query(
        `INSERT INTO ${LIVE.idempotencyKeys} (principal, idempotency_key, fingerprint, accepted_at, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
        [scope.principal, scope.key, fingerprint, acceptedAt, ttlSeconds],
      );
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  /** Takes over an expired key: it counts as never used. False when someone else renewed it first. */
  async function renew(scope: IdempotencyScope, fingerprint: string, acceptedAt: Date): Promise<boolean> {
    const { rowCount } = await pool.query(
      `UPDATE ${LIVE.idempotencyKeys}
          SET fingerprint = $3, accepted_at = $4, expires_at = now() + make_interval(secs => $5), answer = NULL
        WHERE principal = $1 AND idempotency_key = $2 AND expires_at <= now()`,
      [scope.principal, scope.key, fingerprint, acceptedAt, ttlSeconds],
    );
    return rowCount === 1;
  }

  async function find(scope: IdempotencyScope): Promise<KeyRow | undefined> {
    const { rows } = await pool.query<KeyRow>(
      `SELECT fingerprint, accepted_at, answer, expires_at <= now() AS expired
         FROM ${LIVE.idempotencyKeys} WHERE principal = $1 AND idempotency_key = $2`,
      [scope.principal, scope.key],
    );
    return rows[0];
  }

  return {
    claim: (scope, fingerprint, acceptedAt) =>
      guarded(async (): Promise<Claim> => {
        // A few rounds at most: each lost one means another request changed the row meanwhile.
        for (let round = 0; round < 3; round++) {
          if (await insert(scope, fingerprint, acceptedAt)) return { kind: 'first', acceptedAt };
          const row = await find(scope);
          if (!row) continue; // swept between the two statements
          if (row.expired) {
            if (await renew(scope, fingerprint, acceptedAt)) return { kind: 'first', acceptedAt };
            continue;
          }
          if (row.fingerprint !== fingerprint) return { kind: 'conflict' };
          return { kind: 'retry', acceptedAt: row.accepted_at, answer: row.answer };
        }
        throw new Error(`Idempotency key of ${scope.principal} kept changing under the claim`);
      }),
    release: (scope) =>
      guarded(async () => {
        await pool.query(
          `DELETE FROM ${LIVE.idempotencyKeys} WHERE principal = $1 AND idempotency_key = $2 AND answer IS NULL`,
          [scope.principal, scope.key],
        );
      }),
    complete: (scope, answer) =>
      guarded(async () => {
        await pool.query(
          `UPDATE ${LIVE.idempotencyKeys} SET answer = $3 WHERE principal = $1 AND idempotency_key = $2`,
          [scope.principal, scope.key, JSON.stringify(answer)],
        );
      }),
    async sweep(limit = 10_000) {
      const { rowCount } = await pool.query(
        `DELETE FROM ${LIVE.idempotencyKeys} WHERE (principal, idempotency_key) IN (
           SELECT principal, idempotency_key FROM ${LIVE.idempotencyKeys} WHERE expires_at <= now() LIMIT $1)`,
        [limit],
      );
      return rowCount ?? 0;
    },
  };
}
