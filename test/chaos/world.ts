import { mkdirSync, rmSync } from 'node:fs';
import { ensureArtifacts } from '../../infra/artifacts.ts';
import { kafkaService } from '../../infra/kafka.ts';
import { dataPath } from '../../infra/paths.ts';
import { relocatedHome } from '../../infra/postgres-home.ts';
import { postgresService } from '../../infra/postgres.ts';
import { deadLetterTopicsFrom, type DeadLetterTopics, type Topics } from '../../shared/config.ts';
import { createKafka, plaintext } from '../../shared/kafka/client.ts';
import { ensureTopics } from '../../shared/kafka/topics.ts';
import { createLogger } from '../../shared/logger.ts';
import { deleteSubjects, freePort, freePortPair, services } from '../support/services.ts';

export const PARTITIONS = 6;

/**
 * The infrastructure of one fault run, made by the launcher's own service definitions: a Kafka
 * broker and a Postgres cluster of its own, so that stopping them disturbs nothing else, under
 * `.data/chaos/<run>`; the schema registry is the shared one (it is never a fault here).
 */
export async function startWorld(runId: string, say: (line: string) => void) {
  const dir = dataPath('chaos', runId);
  mkdirSync(dir, { recursive: true });
  const broker = `127.0.0.1:${await freePortPair()}`;
  const databaseUrl = `postgres://moviecat:moviecat@127.0.0.1:${await freePort()}/moviecat`;
  const artifacts = ensureArtifacts(say);
  const kafka = kafkaService(broker, () => artifacts, PARTITIONS, { name: `kafka-chaos-${runId}`, dir: `${dir}/kafka` });
  const postgresDir = `${dir}/postgres`;
  const postgres = postgresService(databaseUrl, postgresDir);
  await Promise.all([kafka.start(), postgres.start()]);

  const topics: Topics = { movieMetadata: `chaos-${runId}-metadata`, movieRatings: `chaos-${runId}-ratings` };
  const deadLetters: DeadLetterTopics = deadLetterTopicsFrom({ TOPIC_MOVIE_METADATA: topics.movieMetadata, TOPIC_MOVIE_RATINGS: topics.movieRatings });
  const client = createKafka('chaos', plaintext([broker]), createLogger('chaos', 'error'));
  await ensureTopics(client, [topics.movieMetadata, topics.movieRatings, ...deadLetters.values()], PARTITIONS);

  return {
    dir,
    brokers: [broker],
    registryUrl: services.registryUrl,
    registry: services.registry,
    databaseUrl,
    topics,
    deadLetters,
    kafka: client,
    /** The broker, to stop and start again as a fault. */
    broker: kafka,
    postgres,
    /** Stops and deletes everything; `keepLogs` leaves the services' logs in `dir` for a failed run. */
    async stop({ keepLogs = false } = {}): Promise<void> {
      await Promise.allSettled([kafka.stop(), postgres.stop()]);
      // The registry is shared and outlives the run.
      await deleteSubjects((s) => s.startsWith(`${topics.movieMetadata}-`) || s.startsWith(`${topics.movieRatings}-`));
      rmSync(relocatedHome(postgresDir), { recursive: true, force: true });
      for (const data of keepLogs ? [`${dir}/kafka`, postgresDir] : [dir]) rmSync(data, { recursive: true, force: true });
    },
  };
}

export type World = Awaited<ReturnType<typeof startWorld>>;
