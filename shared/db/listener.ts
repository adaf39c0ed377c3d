import pg from 'pg';
import type { Logger } from '../logger.ts';
import { pgConnection } from './connection.ts';

export interface Listener {
  /** Whether a notification sent now reaches this listener. */
  readonly listening: boolean;
  close(): Promise<void>;
}

export interface ListenOptions {
  connectTimeoutMs: number;
  /** The longest wait between two attempts to connect again. */
  maxBackoffMs: number;
}

const FIRST_BACKOFF_MS = 50;

/**
 * LISTENs on a Postgres channel over a connection of its own (a pooled one would be handed to
 * other work), connecting again with capped, jittered backoff when it is lost. `onChange` runs
 * with the payload of every notification, and with none whenever `listening` changes: what was
 * sent while nobody listened is gone, so the caller must catch up itself, both when listening
 * stops and when it starts again.
 */
export function listen(
  databaseUrl: string,
  channel: string,
  onChange: (payload?: string) => void,
  logger: Logger,
  options: ListenOptions,
): Listener {
  let current: pg.Client | undefined;
  let listening = false;
  let closed = false;
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;

  function lost(client: pg.Client, err?: unknown): void {
    if (current !== client) return;
    current = undefined;
    client.end().catch(() => undefined);
    if (closed) return;
    if (listening) {
      logger.warn({ err, channel }, 'notification listener lost its connection; reconnecting');
      listening = false;
      onChange();
    }
    const backoff = Math.min(options.maxBackoffMs, FIRST_BACKOFF_MS * 2 ** failures++);
    retry = setTimeout(connect, backoff / 2 + Math.random() * (backoff / 2));
  }

  function connect(): void {
    const client = new pg.Client({
      ...pgConnection(databaseUrl),
      connectionTimeoutMillis: options.connectTimeoutMs,
      keepAlive: true,
    });
    current = client;
    client.on('notification', (message) => onChange(message.payload ?? ''));
    client.on('error', (err) => lost(client, err));
    client.on('end', () => lost(client));
    client
      .connect()
      .then(() => client.query(`LISTEN ${pg.escapeIdentifier(channel)}`))
      .then(
        () => {
          if (current !== client) return;
          listening = true;
          failures = 0;
          onChange();
        },
        (err: unknown) => lost(client, err),
      );
  }

  connect();
  return {
    get listening() {
      return listening;
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      listening = false;
      const client = current;
      current = undefined;
      await client?.end().catch(() => undefined);
    },
  };
}
