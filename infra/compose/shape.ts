import path from 'node:path';
import { databaseEnv, type DatabaseUser } from '../cluster/database.ts';
import { NODE_IDS, clientEnv, type KafkaUser, type Listener } from '../cluster/kafka-cluster.ts';
import { clusterTlsFiles, LOCAL_NAMES } from '../cluster/tls.ts';
import { CLUSTER_BASE_PORT } from '../infra.ts';

/**
 * Where docker-compose.yml's production shape keeps and finds things. Its containers share a
 * `cluster` volume at /cluster, laid out as the launcher's `.data/cluster`: tls/, secrets/ (Kafka's
 * passwords), node-N/server.properties, postgres/ (pg_hba.conf, secrets/ with the roles' passwords
 * and URL files). test/unit/compose.unit.spec.ts checks docker-compose.yml against it.
 */
export const COMPOSE_DIR = '/cluster';
export const composeDatabaseDir = path.join(COMPOSE_DIR, 'postgres');
export const composeTls = clusterTlsFiles(path.join(COMPOSE_DIR, 'tls'));
/** What setup writes besides the launcher's files, and the nodes and servers read. */
export const COMPOSE_FILES = {
  nodeConfig: (id: number) => path.join(COMPOSE_DIR, `node-${id}`, 'server.properties'),
  /** StorageTool's options that create the SCRAM users, one per line. */
  formatOptions: path.join(COMPOSE_DIR, 'secrets', 'kafka-format-options'),
  /** A node's own client settings (mutual TLS), for its health check. */
  nodeClient: path.join(COMPOSE_DIR, 'node-client.properties'),
  hba: path.join(composeDatabaseDir, 'pg_hba.conf'),
  replicationPassfile: path.join(composeDatabaseDir, 'secrets', 'replication.pgpass'),
};

/** The registry's volume in setup's container, given to the account the registry runs as. */
export const REGISTRY_DIR = '/registry';

/** Where each node's image keeps its data: a volume of its own. */
export const KAFKA_DATA_DIR = '/var/lib/kafka/data';

export const kafkaHost = (id: number) => `kafka-${id}`;
/** Inside the network each node takes clients on 9092, its peers on 9093, the quorum on 9094. */
export const NODE_PORTS = { client: 9092, broker: 9093, controller: 9094 } as const;
export const POSTGRES = { primary: 'postgres:5432', standby: 'postgres-standby:5432' } as const;
/** The accounts the containers run as: the Kafka image's appuser, the Node image's node, postgres, and the registry's (set in docker-compose.yml). */
export const ACCOUNTS = { kafka: 1000, node: 1000, postgres: 999, registry: 1000 } as const;

/** What every certificate names: the host's names, and each container's as the others reach it. */
export const CERTIFICATE_NAMES = [...LOCAL_NAMES, ...NODE_IDS.map(kafkaHost), 'postgres', 'postgres-standby'];

/** Where the services reach the cluster from inside the network. */
export const composeBrokers = NODE_IDS.map((id) => `${kafkaHost(id)}:${NODE_PORTS.client}`);

/** Each node's client port on the host: the launcher's cluster ports (9192-9194). */
export const hostPort = (id: number) => CLUSTER_BASE_PORT + id - 1;

/**
 * Node `id`'s listeners: CLIENT for the other containers, HOST for clients on the host, BROKER
 * and CONTROLLER between the nodes.
 */
export function composeListeners(id: number): Listener[] {
  const host = kafkaHost(id);
  return [
    { name: 'CLIENT', bind: `0.0.0.0:${NODE_PORTS.client}`, advertised: `${host}:${NODE_PORTS.client}` },
    { name: 'HOST', bind: `0.0.0.0:${hostPort(id)}`, advertised: `localhost:${hostPort(id)}` },
    { name: 'BROKER', bind: `0.0.0.0:${NODE_PORTS.broker}`, advertised: `${host}:${NODE_PORTS.broker}` },
    { name: 'CONTROLLER', bind: `0.0.0.0:${NODE_PORTS.controller}`, advertised: `${host}:${NODE_PORTS.controller}` },
  ];
}

export const composeVoters = NODE_IDS.map((id) => `${id}@${kafkaHost(id)}:${NODE_PORTS.controller}`).join(',');

/** The settings a container reads to reach Kafka as `user`. */
export const composeKafkaEnv = (user: KafkaUser) =>
  clientEnv(user, { brokers: composeBrokers, dir: COMPOSE_DIR, ca: composeTls.ca });

/** The settings a service's container reads to reach Kafka and Postgres as `user`. */
export function composeServiceEnv(user: DatabaseUser): Record<string, string> {
  return { ...composeKafkaEnv(user), ...databaseEnv(composeDatabaseDir, user) };
}
