import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { mintToken } from '../../command-api/mint-token.ts';
import { seededRandom } from '../../harness/rating-stream.ts';
import type { Instance } from './processes.ts';
import { JWT_SECRET } from './processes.ts';

export type CommandKind = 'rating' | 'delete' | 'metadata' | 'metadata-if-match' | 'bulk' | 'refused';

/** What one attempt got: an HTTP status, or nothing (refused connection, reset, client timeout). */
export type Answer = number | 'no answer';

export interface CommandRecord {
  kind: CommandKind;
  /** When its first attempt was sent (ms since the epoch). */
  sentAt: number;
  idempotencyKey?: string;
  answers: Answer[];
  /** When each answer came (ms since the epoch). */
  answeredAt: number[];
  /** The event ids of the first 202. */
  eventIds: string[];
}

/** A 202, a 4xx or 503 as the final answer, or none at all. */
export const finalAnswer = (c: CommandRecord): Answer => c.answers.at(-1)!;

/** An attempt that may have reached the log without a 202 telling so. */
export const mayBeWrittenUnanswered = (a: Answer) => a === 'no answer' || a >= 500;

const MOVIES = Array.from({ length: 60 }, (_, i) => `m${String(i + 1).padStart(3, '0')}`);
const USERS = Array.from({ length: 40 }, (_, i) => `user-${i + 1}@example.com`);
const ADMINS = ['admin|1', 'admin|2', 'admin|3'];
const DIRECTORS = ['Agnès Varda', 'Akira Kurosawa', 'Chantal Akerman', 'Wong Kar-wai'];
const RETRIES = 6;
const CLIENT_TIMEOUT_MS = 15_000;

interface Request {
  method: 'POST' | 'DELETE';
  path: string;
  token: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * A steady mixed load of commands from many principals, as clients send them: ratings, deletes,
 * metadata with and without If-Match, bulk imports, a few refused commands, a third of them with
 * an Idempotency-Key. A keyed command that gets a 503 or no answer is retried with its key on
 * the other instance, as the API invites; a keyed 202 is sometimes replayed, and the replay must
 * answer the same event ids. Every attempt's answer is recorded for the checks.
 */
export function startLoad(options: { commandApis: Instance[]; queryApi: Instance; rate: number; seed: number }) {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const tokens = new Map<string, string>();
  const token = (sub: string, role: string) => {
    let t = tokens.get(sub);
    if (!t) tokens.set(sub, (t = mintToken(JWT_SECRET, { sub, roles: [role] }, 24 * 3600)));
    return t;
  };
  const records: CommandRecord[] = [];
  const replayMismatches: string[] = [];
  let turn = 0;
  let running = true;

  async function send(
    request: Request,
    instance: Instance,
  ): Promise<{ answer: Answer; body?: Record<string, unknown>; replayed: boolean }> {
    try {
      const response = await fetch(`${instance.url}${request.path}`, {
        method: request.method,
        headers: {
          authorization: `Bearer ${request.token}`,
          ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...request.headers,
        },
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
      });
      const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
      return { answer: response.status, body, replayed: response.headers.get('idempotent-replayed') === 'true' };
    } catch {
      return { answer: 'no answer', replayed: false };
    }
  }

  const eventIdsOf = (body: Record<string, unknown> | undefined): string[] =>
    (body?.eventIds as string[] | undefined) ?? (body?.eventId ? [body.eventId as string] : []);

  /** The movie's version as the query API shows it ("0": no such movie yet); undefined when it cannot tell. */
  async function currentVersion(movieId: string): Promise<string | undefined> {
    try {
      const response = await fetch(`${options.queryApi.url}/v1/movies/${movieId}`, {
        signal: AbortSignal.timeout(2000),
      });
      if (response.status === 404) return '0';
      if (!response.ok) return undefined;
      return String(((await response.json()) as { version: number }).version);
    } catch {
      return undefined;
    }
  }

  async function nextCommand(): Promise<{ kind: CommandKind; request: Request }> {
    const roll = random();
    const movieId = pick(MOVIES);
    const metadata = () => ({
      title: `Title ${randomUUID().slice(0, 8)}`,
      description: 'A film.',
      director: pick(DIRECTORS),
      year: 1950 + Math.floor(random() * 75),
      actors: ['A. Actor'],
    });
    const admin = token(pick(ADMINS), 'admin');
    if (roll < 0.5)
      return {
        kind: 'rating',
        request: {
          method: 'POST',
          path: `/v1/movies/${movieId}/ratings`,
          token: token(pick(USERS), 'user'),
          body: { value: 1 + Math.floor(random() * 5) },
        },
      };
    if (roll < 0.6)
      return {
        kind: 'delete',
        request: { method: 'DELETE', path: `/v1/movies/${movieId}/ratings`, token: token(pick(USERS), 'user') },
      };
    if (roll < 0.72)
      return {
        kind: 'metadata',
        request: { method: 'POST', path: `/v1/movies/${movieId}/metadata`, token: admin, body: metadata() },
      };
    if (roll < 0.84) {
      // A quarter of the writers hold an outdated copy: 412 at once, or rejected by the projector.
      const seen = await currentVersion(movieId);
      const version = seen !== undefined && seen !== '0' && random() < 0.25 ? String(Number(seen) - 1) : seen;
      const headers: Record<string, string> = version === undefined ? {} : { 'if-match': `"${version}"` };
      return {
        kind: 'metadata-if-match',
        request: { method: 'POST', path: `/v1/movies/${movieId}/metadata`, token: admin, body: metadata(), headers },
      };
    }
    if (roll < 0.94) {
      const ratings = Array.from({ length: 2 + Math.floor(random() * 8) }, () => ({
        movieId: pick(MOVIES),
        userId: `provider-user-${Math.floor(random() * 200)}`,
        value: 1 + Math.floor(random() * 5),
      }));
      return {
        kind: 'bulk',
        request: {
          method: 'POST',
          path: '/v1/ratings/batch',
          token: token('provider|imdb', 'provider'),
          body: { providerId: 'imdb', ratings },
        },
      };
    }
    // Refused: a value out of range, or a user writing metadata.
    return random() < 0.5
      ? {
          kind: 'refused',
          request: {
            method: 'POST',
            path: `/v1/movies/${movieId}/ratings`,
            token: token(pick(USERS), 'user'),
            body: { value: 9 },
          },
        }
      : {
          kind: 'refused',
          request: {
            method: 'POST',
            path: `/v1/movies/${movieId}/metadata`,
            token: token(pick(USERS), 'user'),
            body: metadata(),
          },
        };
  }

  async function run(kind: CommandKind, request: Request): Promise<void> {
    const keyed = kind !== 'refused' && random() < 0.35;
    const record: CommandRecord = { kind, sentAt: Date.now(), answers: [], answeredAt: [], eventIds: [] };
    if (keyed) {
      record.idempotencyKey = `chaos-${randomUUID()}`;
      request.headers = { ...request.headers, 'idempotency-key': record.idempotencyKey };
    }
    records.push(record);
    let instance = options.commandApis[turn++ % options.commandApis.length]!;
    for (let attempt = 0; ; attempt++) {
      const { answer, body } = await send(request, instance);
      record.answers.push(answer);
      record.answeredAt.push(Date.now());
      if (answer === 202) record.eventIds = eventIdsOf(body);
      if (!keyed || !mayBeWrittenUnanswered(answer) || attempt + 1 >= RETRIES) break;
      instance = options.commandApis[turn++ % options.commandApis.length]!;
      await sleep(1000);
    }
    if (keyed && finalAnswer(record) === 202 && random() < 0.2) {
      const replay = await send(request, options.commandApis[turn++ % options.commandApis.length]!);
      const ids = eventIdsOf(replay.body);
      // A replay in an outage may fail like any request; when it answers, it answers the first 202.
      const wrong =
        replay.answer === 202
          ? !replay.replayed || ids.join() !== record.eventIds.join()
          : !mayBeWrittenUnanswered(replay.answer);
      if (wrong) {
        replayMismatches.push(
          `${request.path} key ${record.idempotencyKey}: replay answered ${replay.answer} ${ids.join(',')} (replayed: ${replay.replayed}), first ${record.eventIds.join(',')}`,
        );
      }
    }
  }

  const workers = 8;
  const interval = (workers * 1000) / options.rate;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const started = Date.now();
      const { kind, request } = await nextCommand();
      await run(kind, request);
      await sleep(Math.max(0, interval - (Date.now() - started)));
    }
  });

  return {
    records,
    replayMismatches,
    /** Stops sending and waits for the commands in flight, retries included. */
    async stop(): Promise<void> {
      running = false;
      await Promise.all(loops);
    },
  };
}

export type Load = ReturnType<typeof startLoad>;
