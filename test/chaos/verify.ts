import pg from 'pg';
import { EventDecoder } from '../../shared/kafka/decoder.ts';
import type { CatalogueEvent, MovieMetadataSet } from '../../shared/events/types.ts';
import { ExpectedFold } from '../../harness/rating-stream.ts';
import { endOffsets, readRecords, type LoggedRecord } from '../support/topic-log.ts';
import { verifyRatingModel } from '../../harness/verify-ratings.ts';
import { outageFigures } from './availability.ts';
import type { FaultLog } from './faults.ts';
import { finalAnswer, mayBeWrittenUnanswered, type Load } from './load.ts';
import type { Services } from './processes.ts';
import type { World } from './world.ts';

/** One line of the report: a check, what was found, and whether it holds. */
export interface Check {
  check: string;
  found: string;
  ok: boolean;
}

const SHOWN = 5;
const fact = (check: string, found: string): Check => ({ check, found, ok: true });
const expect = (check: string, problems: string[], found: string): Check => ({
  check,
  found: problems.length === 0 ? found : `${problems.length} wrong: ${problems.slice(0, SHOWN).join('; ')}`,
  ok: problems.length === 0,
});

interface LoggedEvent {
  record: LoggedRecord;
  event: CatalogueEvent;
}

/** A movie as the independent fold has it. */
interface ExpectedMovie {
  title: string;
  description: string;
  director: string;
  year: number | null;
  actors: string[];
  version: number;
}

/**
 * The read models computed the obvious way, one event at a time in log order, with none of the
 * projectors' code: the first event of each id counts, later copies are skipped; a metadata
 * event expecting another version than the movie's is rejected.
 */
function foldLog(events: readonly LoggedEvent[]) {
  const seen = new Set<string>();
  const movies = new Map<string, ExpectedMovie>();
  const ratings = new ExpectedFold();
  const rejected = new Set<string>();
  for (const { event } of events) {
    if (seen.has(event.envelope.eventId)) continue;
    seen.add(event.envelope.eventId);
    if (event.type === 'MovieMetadataSet') {
      const version = movies.get(event.movieId)?.version ?? 0;
      if (event.expectedVersion !== null && event.expectedVersion !== version) rejected.add(event.envelope.eventId);
      else movies.set(event.movieId, metadataOf(event, version + 1));
    } else {
      ratings.applyEvent(event);
    }
  }
  return { eventIds: seen, movies, ratings, rejected };
}

const metadataOf = (e: MovieMetadataSet, version: number): ExpectedMovie => ({
  title: e.title,
  description: e.description,
  director: e.director,
  year: e.year,
  actors: e.actors,
  version,
});

/** Waits until both projections have read every partition of their topic to its end. */
async function awaitQuiet(world: World, pool: pg.Pool, timeoutMs: number): Promise<void> {
  const ends = await endOffsets(world.kafka, [world.topics.movieMetadata, world.topics.movieRatings]);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query<{ topic: string; partition: number; next: string }>(
      `SELECT topic, partition, next_offset AS next FROM movie_details.projection_offsets
       UNION ALL SELECT topic, partition, next_offset FROM ratings.projection_offsets`,
    );
    const stored = new Map(rows.map((r) => [`${r.topic}/${r.partition}`, Number(r.next)]));
    const behind = [...ends].filter(([at, end]) => (stored.get(at) ?? 0) < end);
    if (behind.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(
        `the projections did not catch up within ${timeoutMs / 1000} s: ${behind.map(([at, end]) => `${at} at ${stored.get(at) ?? 0} of ${end}`).join(', ')}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function readLog(world: World) {
  const decoder = new EventDecoder(world.registry);
  const events: LoggedEvent[] = [];
  const undecodable: LoggedRecord[] = [];
  for (const topic of [world.topics.movieMetadata, world.topics.movieRatings]) {
    for (const record of await readRecords(world.kafka, topic)) {
      const decoded = await decoder.decode({ value: record.value, headers: record.headers });
      if (decoded.ok) events.push({ record, event: decoded.event });
      else undecodable.push(record);
    }
  }
  return { events, undecodable };
}

const at = (r: { topic: string; partition: number; offset: number | string }) =>
  `${r.topic}/${r.partition}@${r.offset}`;

/** Runs `task` over `items`, `width` at a time. */
async function inParallel<T>(items: readonly T[], width: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

/**
 * Every check of the run, once the load has stopped and the projections have caught up: what
 * the commands got, the log against the answers, the read models against the fold of the log,
 * the dead letters against the poison written, and each accepted command's status.
 */
export async function verify(world: World, system: Services, load: Load, faults: FaultLog): Promise<Check[]> {
  const pool = new pg.Pool({ connectionString: world.databaseUrl, max: 4 });
  try {
    await awaitQuiet(world, pool, 180_000);
    const checks: Check[] = [];
    const records = load.records;
    const answered = (test: (a: ReturnType<typeof finalAnswer>) => boolean) =>
      records.filter((r) => test(finalAnswer(r))).length;
    checks.push(
      fact('commands sent (attempts)', `${records.length} (${records.reduce((n, r) => n + r.answers.length, 0)})`),
    );
    checks.push(
      fact(
        'final answer 202 / 4xx / 503 / none',
        `${answered((a) => a === 202)} / ${answered((a) => a !== 'no answer' && a >= 400 && a < 500)} / ${answered((a) => a === 503)} / ${answered((a) => a === 'no answer')}`,
      ),
    );
    checks.push(
      expect(
        'no answer 5xx but 503',
        records
          .filter((r) => r.answers.some((a) => a !== 'no answer' && a >= 500 && a !== 503))
          .map((r) => `${r.kind}: ${r.answers.join(',')}`),
        'none',
      ),
    );
    const clientErrors = new Map<number, number>();
    for (const r of records) {
      const a = finalAnswer(r);
      if (a !== 'no answer' && a >= 400 && a < 500) clientErrors.set(a, (clientErrors.get(a) ?? 0) + 1);
    }
    checks.push(
      fact(
        '4xx by status',
        [...clientErrors]
          .sort(([a], [b]) => a - b)
          .map(([status, n]) => `${status} x${n}`)
          .join(', '),
      ),
    );
    // A refused command's instance may have been down (no answer); any answer it got must be 400 or 403.
    const wronglyAnswered = records.filter(
      (r) => r.kind === 'refused' && r.answers.some((a) => a !== 'no answer' && a !== 400 && a !== 403),
    );
    checks.push(
      expect(
        'refused commands answered 400 or 403',
        wronglyAnswered.map((r) => r.answers.join(',')),
        'all',
      ),
    );
    checks.push(expect('Idempotency-Key replays answer the first 202', load.replayMismatches, 'all'));

    const { events, undecodable } = await readLog(world);
    const copies = new Map<string, number>();
    for (const { event } of events) copies.set(event.envelope.eventId, (copies.get(event.envelope.eventId) ?? 0) + 1);
    const accepted = records.filter((r) => finalAnswer(r) === 202);
    const acceptedIds = accepted.flatMap((r) => r.eventIds);
    checks.push(
      expect(
        'every 202 event in the log',
        acceptedIds.filter((id) => !copies.has(id)),
        `${acceptedIds.length} events`,
      ),
    );
    // A retry after a 503 or a lost answer may write an event again: same id, skipped by the projections.
    const rewritten = accepted.filter((r) => r.answers.slice(0, -1).some(mayBeWrittenUnanswered));
    const rewrittenIds = new Set(rewritten.flatMap((r) => r.eventIds));
    const doubled = acceptedIds.filter((id) => (copies.get(id) ?? 0) > 1);
    // Each unexplained copy with what its command was answered and where each copy lies, to trace it.
    const explain = (id: string) => {
      const answers = accepted.find((r) => r.eventIds.includes(id))?.answers.join(',');
      const where = events
        .filter(({ event }) => event.envelope.eventId === id)
        .map(({ record }) => `${record.topic}/${record.partition}@${record.offset}`);
      return `${id} (answers ${answers}; copies ${where.join(', ')})`;
    };
    checks.push(
      expect(
        '...exactly once (unless retried after a 503 or lost answer)',
        doubled.filter((id) => !rewrittenIds.has(id)).map(explain),
        `${doubled.length} written twice by a retry`,
      ),
    );
    const acceptedSet = new Set(acceptedIds);
    const unanswered = [...copies.keys()].filter((id) => !acceptedSet.has(id)).length;
    checks.push(fact('events in the log whose 202 never arrived', String(unanswered)));

    const fold = foldLog(events);
    checks.push(
      expect(
        'movie details equal the fold of the log',
        await compareMovies(pool, fold.movies),
        `${fold.movies.size} movies`,
      ),
    );
    const client = await pool.connect();
    try {
      checks.push(
        expect(
          'ratings and aggregates equal the fold of the log',
          await verifyRatingModel(client, fold.ratings),
          `${fold.ratings.ratings.size} ratings`,
        ),
      );
    } finally {
      client.release();
    }
    checks.push(
      expect(
        'each event applied once, or rejected as the fold says',
        await compareOutcomes(pool, fold.eventIds, fold.rejected),
        `${fold.eventIds.size} events, ${fold.rejected.size} rejected`,
      ),
    );

    const poison = new Set(faults.poison.map(at));
    checks.push(
      expect(
        'every undecodable record in the log is injected poison',
        undecodable.filter((r) => !poison.has(at(r))).map(at),
        `${undecodable.length} records`,
      ),
    );
    const { rows: dead } = await pool.query<{ topic: string; partition: number; offset: string; error_code: string }>(
      `SELECT topic, partition, "offset", error_code FROM movie_details.dead_letters UNION ALL SELECT topic, partition, "offset", error_code FROM ratings.dead_letters`,
    );
    checks.push(
      expect(
        'dead letters: only the poison (0 transient errors)',
        dead.filter((d) => !poison.has(at(d))).map((d) => `${at(d)} ${d.error_code}`),
        `${dead.length} dead letters`,
      ),
    );
    const deadAt = new Set(dead.map(at));
    checks.push(
      expect(
        'every poison record dead-lettered',
        [...poison].filter((p) => !deadAt.has(p)),
        `${poison.size} poison records`,
      ),
    );
    const inTopic = new Set<string>();
    for (const topic of world.deadLetters.values()) {
      for (const r of await readRecords(world.kafka, topic))
        inTopic.add(
          `${r.headers['__connect.errors.topic']}/${r.headers['__connect.errors.partition']}@${r.headers['__connect.errors.offset']}`,
        );
    }
    checks.push(
      expect(
        'every poison record in the dead-letter topic',
        [...poison].filter((p) => !inTopic.has(p)),
        `${inTopic.size} distinct records there`,
      ),
    );

    const unavailable = { count: 0 };
    checks.push(
      expect(
        'every 202 event final through GET /v1/commands/{eventId}',
        await commandStatuses(system, acceptedIds, fold.rejected, unavailable),
        `${acceptedIds.length} events`,
      ),
    );
    checks.push(
      expect(
        'GET /v1/movies/{id} shows each movie of the fold',
        await queryMovies(system, fold.movies, fold.ratings, unavailable),
        `${fold.movies.size} movies`,
      ),
    );
    checks.push(fact('...of those reads, answered 503 and tried again', String(unavailable.count)));
    for (const window of faults.windows) {
      const { unavailable, longestWithout202Ms, acceptedBelowMinIsr } = outageFigures(records, window);
      checks.push(
        fact(
          `${window.fault}: 503s, longest time without a 202`,
          `${unavailable}, ${(longestWithout202Ms / 1000).toFixed(1)} s`,
        ),
      );
      if (window.belowMinIsr)
        checks.push(
          expect(
            `${window.fault}: no 202 while below min.insync.replicas`,
            acceptedBelowMinIsr > 0 ? [`${acceptedBelowMinIsr} answered 202`] : [],
            'none',
          ),
        );
    }
    // A dependency's failure must not end a service: it waits, answers 503 and recovers.
    const exits = system.all().flatMap((i) => i.selfExits.map((exit) => `${i.name}: ${exit}, see ${i.log}`));
    checks.push(expect('no process exited on its own', exits, 'none'));
    return checks;
  } finally {
    await pool.end();
  }
}

async function compareMovies(pool: pg.Pool, expected: Map<string, ExpectedMovie>): Promise<string[]> {
  const { rows } = await pool.query<ExpectedMovie & { movie_id: string }>(
    'SELECT movie_id, title, description, director, year, actors, version FROM movie_details.movies',
  );
  const problems = rows.flatMap((row) => {
    const { movie_id: id, ...actual } = row;
    const want = expected.get(id);
    return want && JSON.stringify(actual) === JSON.stringify(want)
      ? []
      : [`${id}: ${JSON.stringify(actual)} vs ${JSON.stringify(want)}`];
  });
  if (rows.length !== expected.size) problems.push(`${rows.length} movies, expected ${expected.size}`);
  return problems;
}

async function compareOutcomes(pool: pg.Pool, eventIds: Set<string>, rejected: Set<string>): Promise<string[]> {
  const { rows } = await pool.query<{ event_id: string; status: string }>(
    'SELECT event_id::text, status FROM movie_details.event_outcomes UNION ALL SELECT event_id::text, status FROM ratings.event_outcomes',
  );
  const problems = rows.flatMap((r) => {
    const want = !eventIds.has(r.event_id) ? 'none' : rejected.has(r.event_id) ? 'rejected' : 'applied';
    return r.status === want ? [] : [`${r.event_id} is ${r.status}, expected ${want}`];
  });
  if (rows.length !== eventIds.size) problems.push(`${rows.length} outcomes for ${eventIds.size} events`);
  return problems;
}

/** A GET as a well-behaved client sends it: a 503 is tried again after its Retry-After, a few times. */
async function getPolitely(url: string, unavailable: { count: number }): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const response = await fetch(url);
    if (response.status !== 503 || attempt === 3) return response;
    unavailable.count += 1;
    await response.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, Number(response.headers.get('retry-after') ?? 1) * 1000));
  }
}

async function commandStatuses(
  system: Services,
  eventIds: string[],
  rejected: Set<string>,
  unavailable: { count: number },
): Promise<string[]> {
  const problems: string[] = [];
  await inParallel(eventIds, 16, async (id) => {
    const response = await getPolitely(`${system.queryApi.url}/v1/commands/${id}`, unavailable);
    const body = (await response.json()) as { status?: string };
    const want = rejected.has(id) ? 'rejected' : 'applied';
    if (response.status !== 200 || body.status !== want)
      problems.push(`${id}: ${response.status} ${body.status}, expected ${want}`);
  });
  return problems;
}

async function queryMovies(
  system: Services,
  movies: Map<string, ExpectedMovie>,
  ratings: ExpectedFold,
  unavailable: { count: number },
): Promise<string[]> {
  const counts = ratings.aggregates();
  const problems: string[] = [];
  await inParallel([...movies], 8, async ([id, want]) => {
    const response = await getPolitely(`${system.queryApi.url}/v1/movies/${id}`, unavailable);
    const body = (await response.json()) as { title?: string; version?: number; rating: { count: number } | null };
    const count = counts.get(id)?.count ?? 0;
    if (
      response.status !== 200 ||
      body.title !== want.title ||
      body.version !== want.version ||
      (body.rating?.count ?? 0) !== count
    ) {
      problems.push(
        `${id}: ${response.status} ${body.title} v${body.version} ${body.rating?.count ?? 0} ratings, expected ${want.title} v${want.version} ${count}`,
      );
    }
  });
  return problems;
}
