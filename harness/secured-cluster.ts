import { rmSync } from 'node:fs';
import { ensureArtifacts } from '../infra/artifacts.ts';
import { ADMIN_USER, grantsFor, type ClusterTopics } from '../infra/cluster/access.ts';
import { grantAccess, kafkaCluster, type KafkaCluster } from '../infra/cluster/kafka-cluster.ts';
import { ensureClusterTls } from '../infra/cluster/tls.ts';
import { canConnect } from '../infra/daemon.ts';
import { dataPath, logPath, pidPath } from '../infra/paths.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { ensureTopics } from '../shared/kafka/topics.ts';
import { quietLogger, uniqueName } from './services.ts';

export interface SecuredCluster extends KafkaCluster {
  topics: ClusterTopics;
  /** Stops the nodes and removes everything the cluster wrote. */
  remove(): Promise<void>;
}

/**
 * A base port whose nine ports (three per node) nobody listens on, below Linux's range of
 * ephemeral ports (32768 and up): a node started again must find its ports free, and one in that
 * range may meanwhile be the local end of some client's connection.
 */
export async function freeBasePort(): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const ports = [0, 1, 2].flatMap((i) => [base + i, base + 100 + i, base + 200 + i]);
    const taken = await Promise.all(ports.map((port) => canConnect('127.0.0.1', port, 200)));
    if (!taken.some(Boolean)) return base;
  }
}

/**
 * The launcher's secured three-node cluster, started afresh in a data folder and on ports of its
 * own, with the launcher's source and dead-letter topics and ACLs under fresh names.
 */
export async function startSecuredCluster(partitions = 3): Promise<SecuredCluster> {
  const name = uniqueName('cluster');
  const dir = dataPath('test', name);
  const artifacts = ensureArtifacts(() => undefined);
  const cluster = kafkaCluster(
    { name, dir, basePort: await freeBasePort() },
    () => artifacts,
    () => ensureClusterTls(`${dir}/tls`),
    partitions,
  );
  const remove = async () => {
    await Promise.all(cluster.nodes.map((node) => node.stop()));
    for (const node of cluster.nodes)
      for (const file of [logPath(node.name), pidPath(node.name)]) rmSync(file, { force: true });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(cluster.nodes.map((node) => node.start()));
    await cluster.ready();
    const topics: ClusterTopics = {
      sources: [uniqueName('metadata'), uniqueName('ratings')],
      deadLetters: [],
      projectorGroup: uniqueName('projectors'),
    };
    topics.deadLetters = topics.sources.map((topic) => `${topic}.dlq`);
    const admin = createKafka('test-admin', cluster.connectionFor(ADMIN_USER), quietLogger());
    await ensureTopics(admin, [...topics.sources, ...topics.deadLetters], partitions);
    await grantAccess(admin, grantsFor(topics));
    return { ...cluster, topics, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
