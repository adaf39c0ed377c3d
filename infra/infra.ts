import { z } from 'zod';
import {
  checkConnections,
  commonEnv,
  databaseEnv,
  deadLetterTopicsFrom,
  kafkaConnectionFrom,
  kafkaEnv,
  loadConfig,
  partitionsEnv,
  registryConnectionFrom,
  registryEnv,
} from '../shared/config.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { ensureTopics } from '../shared/kafka/topics.ts';
import { createLogger } from '../shared/logger.ts';
import { registryRequest, type RegistryConnection } from '../shared/registry.ts';
import { ensureArtifacts, type Artifacts } from './artifacts.ts';
import { ADMIN_USER, SERVICE_USERS } from './cluster/access.ts';
import { kafkaCluster } from './cluster/kafka-cluster.ts';
import { provisionCluster } from './cluster/provision.ts';
import { clusterDatabase } from './cluster/database.ts';
import { clusterTlsFiles, ensureClusterTls } from './cluster/tls.ts';
import { DEFAULTS } from '../shared/defaults.ts';
import { dataPath } from './paths.ts';
import { kafkaService } from './kafka.ts';
import { postgresService } from './postgres.ts';
import { registryService } from './registry.ts';
import type { InfraService } from './service.ts';

const schema = z
  .object({
    ...kafkaEnv,
    ...registryEnv,
    TOPIC_MOVIE_METADATA: commonEnv.TOPIC_MOVIE_METADATA,
    TOPIC_MOVIE_RATINGS: commonEnv.TOPIC_MOVIE_RATINGS,
    TOPIC_MOVIE_METADATA_DLQ: commonEnv.TOPIC_MOVIE_METADATA_DLQ,
    TOPIC_MOVIE_RATINGS_DLQ: commonEnv.TOPIC_MOVIE_RATINGS_DLQ,
    ...databaseEnv,
    ...partitionsEnv,
    PROJECTOR_GROUP_ID: z.string().min(1).default(DEFAULTS.PROJECTOR_GROUP_ID),
  })
  .superRefine(checkConnections);

export type Say = (line: string) => void;

/** The secured cluster's first node takes client connections on this port, the others on the next ones. */
export const CLUSTER_BASE_PORT = 9192;

export type LauncherConfig = z.infer<typeof schema>;

/** The launcher's settings, from the environment. */
export const launcherConfig = (env: NodeJS.ProcessEnv) => loadConfig(schema, env);

/** The registry's default compatibility, set by infraUp (docker-compose.yml sets the same). */
export const REGISTRY_COMPATIBILITY = 'BACKWARD_TRANSITIVE';

/**
 * The topics infraUp creates (with TOPIC_PARTITIONS partitions, kept forever): the source topics
 * and their dead-letter topics. A dead letter is kept as long as the event it stands for, so it
 * too can be replayed.
 */
export function launcherTopics(config: LauncherConfig): { sources: string[]; deadLetters: string[] } {
  return {
    sources: [config.TOPIC_MOVIE_METADATA, config.TOPIC_MOVIE_RATINGS],
    deadLetters: [...deadLetterTopicsFrom(config).values()],
  };
}

/** Which Kafka the launcher runs: one plaintext node (the default), or the secured three-node cluster. */
export interface Shape {
  cluster: boolean;
}

const CLUSTER_TLS_DIR = dataPath('cluster', 'tls');

/** Where the launcher's secured Kafka cluster lives and listens. */
export const launcherCluster = (fetchArtifacts: () => Artifacts, partitions: number) =>
  kafkaCluster(
    { name: 'kafka-cluster', dir: dataPath('cluster'), basePort: CLUSTER_BASE_PORT },
    fetchArtifacts,
    () => ensureClusterTls(CLUSTER_TLS_DIR),
    partitions,
  );

export const CLUSTER_DATABASE_PORTS = { primary: 54339, standby: 54349 } as const;

/** The production shape's Postgres: a TLS-only primary and its hot standby. */
export const launcherDatabase = () =>
  clusterDatabase(dataPath('cluster', 'postgres'), CLUSTER_DATABASE_PORTS, clusterTlsFiles(CLUSTER_TLS_DIR));

/** In the production shape, instance n of a service listens 100 n above its usual port: the first ones on 8181-8183, the second on 8281-8283. */
export const clusterInstancePorts = (port: number) => [port + 100, port + 200];

/**
 * The local infrastructure as the environment describes it. Postgres is embedded only when
 * DATABASE_URL is not given; a given one is the user's to run.
 */
export function describeInfra(say: Say, env: NodeJS.ProcessEnv = process.env, shape: Shape = { cluster: false }) {
  const config = launcherConfig(env);
  let artifacts: Artifacts | undefined;
  const fetchOnce = () => (artifacts ??= ensureArtifacts(say));
  if (shape.cluster) {
    const cluster = launcherCluster(fetchOnce, config.TOPIC_PARTITIONS);
    const database = launcherDatabase();
    // The standby comes last: it starts from a copy of the primary once the primary is prepared.
    const services = [
      database.primary,
      ...cluster.nodes,
      registryService(config.SCHEMA_REGISTRY_URL, fetchOnce),
      database.standby,
    ];
    return { config, services, cluster: { kafka: cluster, database }, fetchArtifacts: fetchOnce };
  }
  const services: InfraService[] = [
    kafkaService(config.KAFKA_BROKERS[0]!, fetchOnce, config.TOPIC_PARTITIONS),
    registryService(config.SCHEMA_REGISTRY_URL, fetchOnce),
  ];
  if (env.DATABASE_URL === undefined) services.unshift(postgresService(config.DATABASE_URL));
  return { config, services, cluster: undefined, fetchArtifacts: fetchOnce };
}

/** Brings up what is not answering yet; returns the services this call started. */
export async function infraUp(
  say: Say,
  env: NodeJS.ProcessEnv = process.env,
  shape: Shape = { cluster: false },
): Promise<InfraService[]> {
  const { config, services, cluster, fetchArtifacts } = describeInfra(say, env, shape);
  const down: InfraService[] = [];
  for (const service of services) {
    if (await service.isUp()) say(`${service.name}: already running at ${service.address}`);
    else down.push(service);
  }
  if (down.some((s) => !s.name.startsWith('postgres'))) fetchArtifacts();
  if (cluster) ensureClusterTls(CLUSTER_TLS_DIR);
  const startAll = async (group: InfraService[]) => {
    const results = await Promise.allSettled(
      group.map(async (service) => {
        const started = Date.now();
        await service.start();
        say(`${service.name}: started at ${service.address} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
      }),
    );
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) {
      // Leave the machine as it was: stop whatever this call did start.
      await infraDown(say, down, env, shape);
      throw failure.reason;
    }
  };
  const standby = cluster?.database.standby;
  await startAll(down.filter((s) => s !== standby));
  const { sources, deadLetters } = launcherTopics(config);
  if (cluster) {
    const topics = {
      sources,
      deadLetters,
      projectorGroup: config.PROJECTOR_GROUP_ID,
      partitions: config.TOPIC_PARTITIONS,
    };
    await provisionCluster(
      cluster.kafka.connectionFor(ADMIN_USER),
      cluster.database,
      topics,
      createLogger('infra', 'warn'),
    );
    say(
      `cluster ${cluster.kafka.brokers.join(',')}: SASL_SSL (SCRAM-SHA-512), replication factor 3, min.insync.replicas 2; a user and ACLs for each of ${SERVICE_USERS.join(', ')}`,
    );
    await startAll(down.filter((s) => s === standby));
    say(`postgres: TLS only (verify-full), a role for each service, the query APIs reading the standby`);
  } else {
    await ensureTopics(
      createKafka('infra', kafkaConnectionFrom(config), createLogger('infra', 'error')),
      [...sources, ...deadLetters],
      config.TOPIC_PARTITIONS,
    );
  }
  await requireBackwardTransitive(registryConnectionFrom(config));
  say(
    `topics ${sources.join(', ')}, dead-letter topics ${deadLetters.join(', ')}: ready (${config.TOPIC_PARTITIONS} partitions when created)`,
  );
  return down;
}

/** Stops the given services, or all of them, in reverse order of dependency. */
export async function infraDown(
  say: Say,
  only?: InfraService[],
  env: NodeJS.ProcessEnv = process.env,
  shape: Shape = { cluster: false },
): Promise<void> {
  const services = only ?? describeInfra(say, env, shape).services;
  for (const service of [...services].reverse()) {
    say(`${service.name}: ${(await service.stop()) ? 'stopped' : 'not running from this folder'}`);
  }
}

export async function infraStatus(
  say: Say,
  env: NodeJS.ProcessEnv = process.env,
  shape: Shape = { cluster: false },
): Promise<void> {
  for (const service of describeInfra(say, env, shape).services) {
    say(`${service.name}: ${(await service.isUp()) ? 'up' : 'down'} at ${service.address}`);
  }
}

/** Every schema change must keep every older version readable: set as the registry's default. */
export async function requireBackwardTransitive(registry: RegistryConnection): Promise<void> {
  const response = await registryRequest(registry, '/config', {
    method: 'PUT',
    body: { compatibility: REGISTRY_COMPATIBILITY },
    timeoutMs: 10_000,
  });
  if (response.status !== 200)
    throw new Error(`Registry refused the compatibility setting: ${response.status} ${response.body}`);
}
