import kafkajs from 'kafkajs';
import { RegistryUnavailableError } from '../../shared/events/errors.ts';

/**
 * Whether Postgres refused a statement because of the values it was given: SQLSTATE class 22
 * (data exception: NUL, out of range, bad encoding) or 23 (integrity constraint), except a
 * unique violation, which here only ever means two writers raced and a retry will pass. Such an
 * error follows an event wherever it goes; every other failure is presumed transient.
 */
export function isDataRefusal(err: unknown): boolean {
  const code = sqlState(err);
  return code !== undefined && (code.startsWith('22') || (code.startsWith('23') && code !== '23505'));
}

/**
 * A bounded label for a transient failure, for metrics and logs. `deployment` (SQLSTATE 42:
 * a missing table or column) is retried like the rest, since the fix is to the deployment, not
 * the event, but it is worth an alert of its own.
 */
export function transientKind(err: unknown): 'database' | 'deployment' | 'registry' | 'kafka' | 'unexpected' {
  if (err instanceof RegistryUnavailableError) return 'registry';
  // kafkajs is CommonJS: its error classes come through the default export.
  if (err instanceof kafkajs.KafkaJSError) return 'kafka';
  const code = sqlState(err);
  if (code?.startsWith('42')) return 'deployment';
  if (code !== undefined || isConnectionError(err)) return 'database';
  return 'unexpected';
}

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}

/** Text Postgres will store: error messages can quote the NUL characters that made the event poison. */
export const storable = (text: string) => text.replaceAll('\u0000', '\\u0000');
