import kafkajs from 'kafkajs';
import { CatalogueError, UnavailableError } from './errors.ts';

/** The SQLSTATE codes the system decides on, by Postgres's names for them. */
export const SQLSTATE = {
  uniqueViolation: '23505',
  undefinedTable: '42P01',
  /** statement_timeout. */
  queryCanceled: '57014',
  /** lock_timeout. */
  lockNotAvailable: '55P03',
} as const;

/** SQLSTATE classes: the first two characters. */
const DATA_EXCEPTION = '22';
const INTEGRITY_CONSTRAINT_VIOLATION = '23';
const SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION = '42';

/** The consumer is not where the read model needs it: seek to `expected` and read from there. */
export class PositionError extends CatalogueError {
  constructor(
    readonly expected: number,
    readonly fetched: number,
  ) {
    super(`Batch fetched from offset ${fetched}, but the read model goes on from ${expected}`);
  }
}

/** What a transient failure waits on, a bounded label for metrics and logs. */
export type TransientKind = 'database' | 'deployment' | 'registry' | 'kafka' | 'unexpected';

/**
 * What to do about a failure:
 * - permanent: the record's values are at fault and will be wherever it goes (dead-letter it);
 * - reposition: the consumer must read the partition again from `expected`;
 * - transient: the world's fault for now (try again later); `outOfTime` when a statement or lock
 *   timeout cancelled it.
 */
export type Failure =
  | { kind: 'permanent'; sqlState: string }
  | { kind: 'reposition'; expected: number }
  | { kind: 'transient'; cause: TransientKind; outOfTime: boolean };

/**
 * Postgres refusing the values it was given (class 22, data exception: NUL, out of range, bad
 * encoding; class 23, integrity, but a unique violation, which only ever means two writers raced)
 * is permanent. A missing table or column (class 42) is transient of its own kind: the fix is to
 * the deployment, not the event, but it is worth an alert. Everything else is presumed transient.
 */
export function classify(err: unknown): Failure {
  if (err instanceof PositionError) return { kind: 'reposition', expected: err.expected };
  const code = sqlState(err);
  const outOfTime = code === SQLSTATE.queryCanceled || code === SQLSTATE.lockNotAvailable;
  if (
    code?.startsWith(DATA_EXCEPTION) ||
    (code?.startsWith(INTEGRITY_CONSTRAINT_VIOLATION) && code !== SQLSTATE.uniqueViolation)
  ) {
    return { kind: 'permanent', sqlState: code };
  }
  return { kind: 'transient', cause: transientCause(err, code), outOfTime };
}

function transientCause(err: unknown, code: string | undefined): TransientKind {
  if (err instanceof UnavailableError && err.dependency === 'registry') return 'registry';
  // kafkajs is CommonJS: its error classes come through the default export.
  if (err instanceof kafkajs.KafkaJSError || (err instanceof UnavailableError && err.dependency === 'kafka'))
    return 'kafka';
  if (code?.startsWith(SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION)) return 'deployment';
  if (
    code !== undefined ||
    isConnectionError(err) ||
    (err instanceof UnavailableError && err.dependency === 'database')
  )
    return 'database';
  return 'unexpected';
}

export const isUniqueViolation = (err: unknown) => sqlState(err) === SQLSTATE.uniqueViolation;

/** The error's SQLSTATE, when Postgres sent one. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** A socket that failed (ECONNREFUSED, ECONNRESET...): node's codes, not Postgres's. */
function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}
