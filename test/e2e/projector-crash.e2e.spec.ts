import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { relocatedHome } from '../../infra/postgres-home.ts';
import { postgresService } from '../../infra/postgres.ts';
import { createPool, type Pool } from '../../shared/db/pool.ts';
import { EventCodec } from '../../shared/kafka/codec.ts';
import { createKafka } from '../../shared/kafka/client.ts';
import { eventually } from '../../harness/eventually.ts';
import { startProjectorProcess, type ProjectorProcess } from '../../harness/projector-process.ts';
import { ExpectedFold, produceStream, ratingEvents, takeEvents } from '../../harness/rating-stream.ts';
import { verifyRatings } from '../../harness/verify-ratings.ts';
import {
  createTestDatabase,
  createTestTopics,
  freePort,
  quietLogger,
  services,
  uniqueName,
} from '../../harness/services.ts';
import { registryClient } from '../../shared/registry.ts';

/**
 * Real projector processes killed, replaced and starved of their database while a stream of
 * ratings, re-ratings and deletes flows: afterwards the read model equals the fold of the log,
 * computed here independently, every event applied once and nothing dead-lettered.
 */

const EVENTS = Number(process.env.CRASH_EVENTS ?? 6000);
const KILLS = Number(process.env.CRASH_KILLS ?? 10);
const OUTAGE_MS = Number(process.env.CRASH_PG_OUTAGE_MS ?? 30_000);

async function setup(t: TestContext, databaseUrl?: string) {
  const topics = await createTestTopics();
  const kafka = createKafka('test', services.kafka, quietLogger());
  const codec = await EventCodec.forWriting(registryClient(services.registry), topics);
  const producer = kafka.producer();
  await producer.connect();
  let url = databaseUrl;
  if (!url) {
    const db = await createTestDatabase();
    url = db.url;
    t.after(() => db.drop());
  }
  const pool = createPool(url, 2, quietLogger());
  const processes: ProjectorProcess[] = [];
  t.after(async () => {
    await Promise.all(processes.map((p) => p.kill('SIGKILL')));
    await pool.end();
    await producer.disconnect();
    await topics.remove();
  });
  const groupId = uniqueName('group');
  const expected = new ExpectedFold();
  // Few movies and users, so that batches are dense with re-ratings and deletes of one key.
  const events = takeEvents(ratingEvents(Date.now(), { movies: 40, users: 30 }), EVENTS, expected);
  return {
    topics,
    pool,
    events,
    expected,
    produce: (events: Parameters<typeof produceStream>[2]) => produceStream(producer, codec, events, 100, 150),
    start() {
      const p = startProjectorProcess({ databaseUrl: url, topics, groupId });
      processes.push(p);
      return p;
    },
  };
}

/** Events applied so far: the sum of the stored next offsets (the stream has no other records). */
async function progress(pool: Pool): Promise<number> {
  const { rows } = await pool
    .query<{ n: number }>('SELECT coalesce(sum(next_offset), 0)::int AS n FROM ratings.projection_offsets')
    .catch(() => ({ rows: [{ n: 0 }] })); // before the projector's migrations ran
  return rows[0]!.n;
}

async function assertFoldOfTheLog(s: Awaited<ReturnType<typeof setup>>) {
  await eventually(async () => assert.equal(await progress(s.pool), s.events.length), 120_000, 200);
  const client = await s.pool.connect();
  try {
    assert.deepEqual(
      await verifyRatings(client, s.expected, s.events.length),
      [],
      'the fold of the log, every event applied once',
    );
  } finally {
    client.release();
  }
  const { rows: dead } = await s.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ratings.dead_letters');
  assert.deepEqual(dead, [{ n: 0 }], `nothing dead-lettered on ${s.topics.deadLetters.get(s.topics.movieRatings)}`);
}

describe('projector processes under faults', () => {
  it(`survives ${KILLS} SIGKILLs at random points mid-stream`, async (t) => {
    const s = await setup(t);
    const slice = Math.ceil(s.events.length / KILLS);
    for (let kill = 0; kill < KILLS; kill++) {
      // Each round writes a slice of the stream and kills the projector while it applies it.
      const streaming = s.produce(s.events.slice(kill * slice, (kill + 1) * slice));
      const before = await progress(s.pool);
      const projector = s.start();
      await eventually(
        async () => assert.ok((await progress(s.pool)) > before, 'the projector applies something'),
        60_000,
        20,
      );
      await sleep(Math.random() * 300);
      await projector.kill('SIGKILL');
      await streaming;
    }
    s.start();
    await assertFoldOfTheLog(s);
  });

  it('keeps the result exact while three processes join and leave the group', async (t) => {
    const s = await setup(t);
    const streaming = s.produce(s.events);
    const grown = async (by: number) => {
      const before = await progress(s.pool);
      const target = Math.min(before + by, s.events.length);
      await eventually(
        async () => {
          const now = await progress(s.pool);
          assert.ok(now >= target, `applied ${now} events, waiting for ${target}`);
        },
        60_000,
        20,
      );
    };
    const a = s.start();
    await grown(300);
    const b = s.start();
    await grown(300);
    s.start();
    await grown(300);
    await b.kill('SIGTERM'); // leaves the group gracefully
    await grown(300);
    await a.kill('SIGKILL'); // vanishes; its partitions move when its session times out
    s.start();
    await streaming;
    await assertFoldOfTheLog(s);
  });

  it(`applies everything once Postgres is back after ${OUTAGE_MS / 1000} s away, dead-lettering nothing`, async (t) => {
    // A Postgres of its own: stopping the shared one would pull it from under other tests.
    const sandbox = mkdtempSync(path.join(os.tmpdir(), 'moviecat-outage-'));
    chmodSync(sandbox, 0o755);
    const dataDir = path.join(sandbox, 'data');
    const url = `postgres://moviecat:moviecat@127.0.0.1:${await freePort()}/moviecat`;
    const postgres = postgresService(url, dataDir);
    t.after(async () => {
      await postgres.stop();
      rmSync(sandbox, { recursive: true, force: true });
      rmSync(relocatedHome(dataDir), { recursive: true, force: true });
    });
    await postgres.start();
    const s = await setup(t, url);
    const projector = s.start();
    const streaming = s.produce(s.events);
    await eventually(async () => assert.ok((await progress(s.pool)) > 500), 60_000, 20);
    await postgres.stop();
    await sleep(OUTAGE_MS); // the outage itself: the fault being injected, not a wait for a result
    assert.equal(projector.child.exitCode, null, 'the projector outlives the outage');
    await postgres.start();
    await streaming;
    await assertFoldOfTheLog(s);
  });
});
