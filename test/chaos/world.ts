import { mkdirSync, rmSync } from 'node:fs';
import { ensureArtifacts } from '../../infra/artifacts.ts';
import { kafkaService } from '../../infra/kafka.ts';
import type { Kafka } from 'kafkajs';
import { ADMIN_USER, grantsFor, type ServiceUser } from '../../infra/cluster/access.ts';
import { grantAccess, kafkaCluster, type KafkaCluster } from '../../infra/cluster/kafka-cluster.ts';
import { ensureClusterTls } from '../../infra/cluster/tls.ts';
import { dataPath, logPath, pidPath } from '../../infra/paths.ts';
import type { InfraService } from '../../infra/service.ts';
import { freeBasePort } from '../../harness/secured-cluster.ts';
import { relocatedHome } from '../../infra/postgres-home.ts';
import { postgresService } from '../../infra/postgres.ts';
import { deadLetterTopicsFrom, type DeadLetterTopics, type Topics } from '../../shared/config.ts';
import { createKafka, plaintext } from '../../shared/kafka/client.ts';
import { ensureTopics } from '../../shared/kafka/topics.ts';
import { createLogger } from '../../shared/logger.ts';
import { deleteSubjects, freePort, freePortPair, services } from '../../harness/services.ts';

export const PARTITIONS = 6;

/** Each service's Kafka settings: the broker's address, or on the cluster its own user. */
type KafkaEnv = (user: ServiceUser) => Record<string, string>;

/**
 * The infrastructure of one fault run, made by the launcher's own service definitions: Kafka (one
 * plaintext broker, or the secured three-node cluster) and a Postgres cluster of its own, so that
 * stopping them disturbs nothing else, under `.data/chaos/<run>`; the schema registry is the
 * shared one (it is never a fault here).
 */
export async function startWorld(runId: string, say: (line: string) => void, { cluster = false } = {}) {
  const dir = dataPath('chaos', runId);
  mkdirSync(dir, { recursive: true });
  const databaseUrl = `postgres://moviecat:moviecat@127.0.0.1:${await freePort()}/moviecat`;
  const artifacts = ensureArtifacts(say);
  const postgresDir = `${dir}/postgres`;
  const postgres = postgresService(databaseUrl, postgresDir);
  const topics: Topics = { movieMetadata: `chaos-${runId}-metadata`, movieRatings: `chaos-${runId}-ratings` };
  const deadLetters: DeadLetterTopics = deadLetterTopicsFrom({
    TOPIC_MOVIE_METADATA: topics.movieMetadata,
    TOPIC_MOVIE_RATINGS: topics.movieRatings,
  });
  const projectorGroup = `chaos-projectors-${runId}`;
  const logger = createLogger('chaos', 'error');

  let brokers: InfraService[];
  let client: Kafka;
  let kafkaEnv: KafkaEnv;
  let secured: KafkaCluster | undefined;
  if (cluster) {
    secured = kafkaCluster(
      { name: `kafka-chaos-${runId}`, dir: `${dir}/kafka`, basePort: await freeBasePort() },
      () => artifacts,
      () => ensureClusterTls(`${dir}/tls`),
      PARTITIONS,
    );
    await Promise.all([...secured.nodes.map((node) => node.start()), postgres.start()]);
    await secured.ready();
    brokers = secured.nodes;
    client = createKafka('chaos', secured.connectionFor(ADMIN_USER), logger);
    const users = secured;
    kafkaEnv = (user) => users.envFor(user);
  } else {
    const broker = `127.0.0.1:${await freePortPair()}`;
    const single = kafkaService(broker, () => artifacts, PARTITIONS, {
      name: `kafka-chaos-${runId}`,
      dir: `${dir}/kafka`,
    });
    await Promise.all([single.start(), postgres.start()]);
    brokers = [single];
    client = createKafka('chaos', plaintext([broker]), logger);
    kafkaEnv = () => ({ KAFKA_BROKERS: broker });
  }
  const sources = [topics.movieMetadata, topics.movieRatings];
  await ensureTopics(client, [...sources, ...deadLetters.values()], PARTITIONS);
  if (secured)
    await grantAccess(client, grantsFor({ sources, deadLetters: [...deadLetters.values()], projectorGroup }));

  return {
    dir,
    /** The secured cluster, when the run has one. */
    cluster: secured,
    kafkaEnv,
    projectorGroup,
    registryUrl: services.registryUrl,
    registry: services.registry,
    databaseUrl,
    topics,
    deadLetters,
    kafka: client,
    /** The brokers, to stop and start again as faults: one, or the cluster's three nodes. */
    brokers,
    postgres,
    /** Stops and deletes everything; `keepLogs` leaves the services' logs in `dir` for a failed run. */
    async stop({ keepLogs = false } = {}): Promise<void> {
      await Promise.allSettled([...brokers.map((broker) => broker.stop()), postgres.stop()]);
      // The registry is shared and outlives the run.
      await deleteSubjects((s) => s.startsWith(`${topics.movieMetadata}-`) || s.startsWith(`${topics.movieRatings}-`));
      rmSync(relocatedHome(postgresDir), { recursive: true, force: true });
      for (const broker of brokers)
        for (const file of [logPath(broker.name), pidPath(broker.name)]) if (!keepLogs) rmSync(file, { force: true });
      for (const data of keepLogs ? [`${dir}/kafka`, postgresDir] : [dir])
        rmSync(data, { recursive: true, force: true });
    },
  };
}

export type World = Awaited<ReturnType<typeof startWorld>>;
