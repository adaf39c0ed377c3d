import type { KafkaConnection } from '../../shared/kafka/client.ts';
import { createKafka } from '../../shared/kafka/client.ts';
import { ensureTopics } from '../../shared/kafka/topics.ts';
import type { Logger } from '../../shared/logger.ts';
import { grantsFor, type ClusterTopics } from './access.ts';
import type { DatabaseAccess } from './database.ts';
import { grantAccess, untilServing } from './kafka-cluster.ts';

/**
 * What the production shape needs once its Kafka nodes and its primary answer, wherever they run
 * (the launcher's processes or docker-compose.yml's containers): the cluster serving groups, the
 * topics, each user's ACLs, then the database's roles, migrations and grants. Safe to run again.
 */
export async function provisionCluster(
  admin: KafkaConnection,
  database: DatabaseAccess,
  topics: ClusterTopics & { partitions: number },
  logger: Logger,
): Promise<void> {
  await untilServing(admin);
  const kafka = createKafka('infra', admin, logger);
  await ensureTopics(kafka, [...topics.sources, ...topics.deadLetters], topics.partitions);
  await grantAccess(kafka, grantsFor(topics));
  await database.prepare(logger);
}
