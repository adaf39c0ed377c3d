import type pg from 'pg';
import type { Aggregate, ExpectedFold } from './rating-stream.ts';

/** How many mismatches of each kind to name before only counting them. */
const SHOWN = 5;

interface AggregateRow {
  record_id: string;
  count: number;
  sum: string;
  count_1: number;
  count_2: number;
  count_3: number;
  count_4: number;
  count_5: number;
}

/**
 * Compares the ratings read model with the independent fold, exactly, and checks that every one
 * of the `events` events has an 'applied' outcome. Returns the problems found; none means PASS.
 */
export async function verifyRatings(client: pg.ClientBase, expected: ExpectedFold, events: number): Promise<string[]> {
  return [...(await verifyRatingModel(client, expected)), ...(await checkOutcomes(client, events))];
}

/** The ratings and aggregates only, for a log that holds more than a stream of applied ratings. */
export async function verifyRatingModel(client: pg.ClientBase, expected: ExpectedFold): Promise<string[]> {
  return [...(await checkRatings(client, expected)), ...(await checkAggregates(client, expected))];
}

async function checkRatings(client: pg.ClientBase, expected: ExpectedFold): Promise<string[]> {
  const { rows } = await client.query<{ record_type: string; record_id: string; user_id: string; value: number }>(
    'SELECT record_type, record_id, user_id, value FROM ratings.ratings',
  );
  const problems: string[] = [];
  let wrong = 0;
  for (const row of rows) {
    const want = row.record_type === 'movie' ? expected.ratings.get(`${row.record_id} ${row.user_id}`) : undefined;
    if (want === row.value) continue;
    wrong += 1;
    if (wrong <= SHOWN)
      problems.push(
        `rating ${row.record_type}/${row.record_id}/${row.user_id} is ${row.value}, expected ${want ?? 'none'}`,
      );
  }
  if (wrong > SHOWN) problems.push(`... ${wrong} ratings differ in all`);
  // Every row matched a distinct expected pair, so equal sizes mean none is missing.
  if (rows.length !== expected.ratings.size)
    problems.push(`ratings holds ${rows.length} rows, expected ${expected.ratings.size}`);
  return problems;
}

async function checkAggregates(client: pg.ClientBase, expected: ExpectedFold): Promise<string[]> {
  const { rows } = await client.query<AggregateRow>(
    `SELECT record_id, count, sum::text AS sum, count_1, count_2, count_3, count_4, count_5
     FROM ratings.rating_aggregates WHERE record_type = 'movie'`,
  );
  const want = expected.aggregates();
  const problems: string[] = [];
  let wrong = 0;
  let compared = 0;
  for (const row of rows) {
    const actual: Aggregate = {
      count: row.count,
      sum: Number(row.sum),
      distribution: [row.count_1, row.count_2, row.count_3, row.count_4, row.count_5],
    };
    const expectedRow = want.get(row.record_id);
    // Every rating of the movie was deleted: the delta leaves a row of zeros behind, which is right.
    if (!expectedRow && isEmpty(actual)) continue;
    compared += 1;
    if (expectedRow && sameAggregate(actual, expectedRow)) continue;
    wrong += 1;
    if (wrong <= SHOWN)
      problems.push(
        `aggregate ${row.record_id} is ${describe(actual)}, expected ${expectedRow ? describe(expectedRow) : 'none'}`,
      );
  }
  if (wrong > SHOWN) problems.push(`... ${wrong} aggregates differ in all`);
  if (compared !== want.size)
    problems.push(`rating_aggregates holds ${compared} non-empty rows, expected ${want.size}`);
  return problems;
}

async function checkOutcomes(client: pg.ClientBase, events: number): Promise<string[]> {
  const { rows } = await client.query<{ total: number; applied: number }>(
    "SELECT count(*)::int AS total, count(*) FILTER (WHERE status = 'applied')::int AS applied FROM ratings.event_outcomes",
  );
  const { total, applied } = rows[0]!;
  if (total === events && applied === events) return [];
  return [`event_outcomes holds ${total} rows, ${applied} of them applied; expected ${events} applied`];
}

const isEmpty = (a: Aggregate) => a.count === 0 && a.sum === 0 && a.distribution.every((n) => n === 0);

const sameAggregate = (a: Aggregate, b: Aggregate) =>
  a.count === b.count && a.sum === b.sum && a.distribution.every((n, i) => n === b.distribution[i]);

const describe = (a: Aggregate) => `count ${a.count}, sum ${a.sum}, [${a.distribution.join(' ')}]`;
