import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import type { KafkaConnection } from '../../shared/kafka/client.ts';
import type { Artifacts } from '../artifacts.ts';
import { StartupError, canConnect, stopDaemon, waitUntil } from '../daemon.ts';
import { coordinatorsReady } from '../kafka-ready.ts';
import { formatStorage, newClusterId, startBroker } from '../kafka.ts';
import type { InfraService } from '../service.ts';
import { ADMIN_USER, SERVICE_USERS, aclEntries, type Grant, type ServiceUser } from './access.ts';
import type { ClusterTls } from './tls.ts';

const HEAP = ['-Xms128m', '-Xmx512m', '-XX:+UseG1GC', '-Djava.awt.headless=true'];
const OFFSETS_PARTITIONS = 6;
/** The name the brokers' certificate carries, mapped to the principal they know each other by. */
const NODE_PRINCIPAL = 'kafka-node';

/**
 * Kafka's settings for a replicated cluster that keeps what it acknowledged: three copies of
 * every topic, internal ones too; a write is acknowledged once two hold it; a replica that fell
 * behind never becomes leader.
 */
export const CLUSTER_SETTINGS: Readonly<Record<string, string>> = {
  'process.roles': 'broker,controller',
  'auto.create.topics.enable': 'false',
  'default.replication.factor': '3',
  'min.insync.replicas': '2',
  'unclean.leader.election.enable': 'false',
  'offsets.topic.replication.factor': '3',
  'offsets.topic.num.partitions': String(OFFSETS_PARTITIONS),
  'transaction.state.log.replication.factor': '3',
  'transaction.state.log.min.isr': '2',
  'share.coordinator.state.topic.replication.factor': '3',
  'share.coordinator.state.topic.min.isr': '2',
  'group.initial.rebalance.delay.ms': '0',
  'num.network.threads': '2',
  'num.io.threads': '4',
};

/**
 * Clients authenticate with SCRAM-SHA-512 over TLS on each of `clientListeners`; the nodes reach
 * each other (replication and the controller quorum) over mutual TLS as `kafka-node`. Every
 * request is checked against the ACLs, and one that no ACL allows is refused.
 */
export function securitySettings(clientListeners: readonly string[]): Record<string, string> {
  const perClientListener = clientListeners.flatMap((listener): Array<[string, string]> => {
    const prefix = `listener.name.${listener.toLowerCase()}`;
    return [
      [`${prefix}.ssl.client.auth`, 'none'],
      [`${prefix}.sasl.enabled.mechanisms`, 'SCRAM-SHA-512'],
      [`${prefix}.scram-sha-512.sasl.jaas.config`, 'org.apache.kafka.common.security.scram.ScramLoginModule required;'],
    ];
  });
  return {
    'listener.security.protocol.map': [
      ...clientListeners.map((listener) => `${listener}:SASL_SSL`),
      'BROKER:SSL',
      'CONTROLLER:SSL',
    ].join(','),
    'inter.broker.listener.name': 'BROKER',
    'controller.listener.names': 'CONTROLLER',
    'ssl.keystore.type': 'PEM',
    'ssl.truststore.type': 'PEM',
    'ssl.endpoint.identification.algorithm': 'https',
    'ssl.principal.mapping.rules': 'RULE:^CN=([^,]+)$/$1/,DEFAULT',
    'listener.name.broker.ssl.client.auth': 'required',
    'listener.name.controller.ssl.client.auth': 'required',
    'sasl.enabled.mechanisms': 'SCRAM-SHA-512',
    ...Object.fromEntries(perClientListener),
    'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'allow.everyone.if.no.acl.found': 'false',
    'super.users': `User:${NODE_PRINCIPAL};User:${ADMIN_USER}`,
  };
}

/** Where a listener binds, and the address it tells clients (`host:port` each). */
export interface Listener {
  name: string;
  bind: string;
  advertised: string;
}

/** One node of the cluster: its client listeners, then BROKER and CONTROLLER, and its files. */
export interface NodePlan {
  id: number;
  listeners: Listener[];
  /** Every node's controller, as `id@host:port`. */
  voters: string;
  logDir: string;
  /** The brokers' PEM keystore and the CA, as ClusterTls names them. */
  keystore: string;
  ca: string;
  partitions: number;
}

/** A node's server.properties, wherever it runs: the launcher's nodes and docker-compose.yml's. */
export function nodeProperties(node: NodePlan): Record<string, string> {
  const clientListeners = node.listeners
    .map((l) => l.name)
    .filter((name) => name !== 'BROKER' && name !== 'CONTROLLER');
  return {
    'node.id': String(node.id),
    'controller.quorum.voters': node.voters,
    listeners: node.listeners.map((l) => `${l.name}://${l.bind}`).join(','),
    'advertised.listeners': node.listeners.map((l) => `${l.name}://${l.advertised}`).join(','),
    'log.dirs': node.logDir,
    'num.partitions': String(node.partitions),
    'ssl.keystore.location': node.keystore,
    'ssl.truststore.location': node.ca,
    ...CLUSTER_SETTINGS,
    ...securitySettings(clientListeners),
  };
}

export const propertiesText = (settings: Record<string, string>) =>
  `${Object.entries(settings)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n')}\n`;

export const NODE_IDS = [1, 2, 3] as const;
/** Everyone with a SCRAM password: the launcher's super user, then each service's user. */
export type KafkaUser = ServiceUser | typeof ADMIN_USER;
const KAFKA_USERS: KafkaUser[] = [ADMIN_USER, ...SERVICE_USERS];

/** Where the cluster's id and its users' passwords are kept, under the cluster's folder. */
export const identityFiles = (dir: string) => ({
  clusterId: path.join(dir, 'cluster-id'),
  password: (user: string) => path.join(dir, 'secrets', `kafka-${user}.password`),
});

/**
 * The cluster id and every user's password, made once in `dir` (mode 600): storage formatted
 * with them must keep meeting them. `formatted` says whether some node's storage already is.
 */
export function clusterIdentity(
  dir: string,
  formatted: boolean,
): { clusterId: string; passwords: Map<KafkaUser, string> } {
  const files = identityFiles(dir);
  if (!existsSync(files.clusterId) || KAFKA_USERS.some((user) => !existsSync(files.password(user)))) {
    if (formatted)
      throw new StartupError(
        `The cluster's storage outlived its id or passwords in ${dir}; delete the cluster's data to start it afresh.`,
      );
    mkdirSync(path.join(dir, 'secrets'), { recursive: true, mode: 0o700 });
    writeFileSync(files.clusterId, newClusterId());
    for (const user of KAFKA_USERS)
      writeFileSync(files.password(user), randomBytes(24).toString('hex'), { mode: 0o600 });
  }
  const passwords = new Map(KAFKA_USERS.map((user) => [user, readFileSync(files.password(user), 'utf8').trim()]));
  return { clusterId: readFileSync(files.clusterId, 'utf8').trim(), passwords };
}

/** StorageTool's options that create every user's SCRAM credential when a node's storage is formatted. */
export const scramOptions = (passwords: ReadonlyMap<string, string>) =>
  [...passwords].flatMap(([user, password]) => ['--add-scram', `SCRAM-SHA-512=[name=${user},password=${password}]`]);

/** The settings a service reads to reach the cluster as `user`: SASL_SSL, its password from a file. */
export function clientEnv(
  user: KafkaUser,
  cluster: { brokers: readonly string[]; dir: string; ca: string },
): Record<string, string> {
  return {
    KAFKA_BROKERS: cluster.brokers.join(','),
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: user,
    KAFKA_SASL_PASSWORD_FILE: identityFiles(cluster.dir).password(user),
    KAFKA_SSL_CA_FILE: cluster.ca,
  };
}

export interface ClusterPlace {
  /** Daemon names are this plus the node id. */
  name: string;
  dir: string;
  /** Node n's client port is this plus n - 1; its replication port 100 above, its controller port 200 above. */
  basePort: number;
}

export interface KafkaCluster {
  nodes: InfraService[];
  brokers: string[];
  /** How a user reaches the cluster: SASL_SSL with its password, trusting the launcher's CA. */
  connectionFor(user: KafkaUser): KafkaConnection;
  /** The settings a service reads to reach the cluster as `user`; its password comes from a file. */
  envFor(user: KafkaUser): Record<string, string>;
  /** Waits until the whole cluster serves producers and groups. */
  ready(): Promise<void>;
}

/** Waits until a cluster serves producers and groups: every node up, every coordinator loaded. */
export async function untilServing(admin: KafkaConnection): Promise<void> {
  await waitUntil('kafka cluster', () => coordinatorsReady(admin, OFFSETS_PARTITIONS), 120_000);
}

/**
 * Three KRaft nodes (broker and controller each) on localhost, secured as securitySettings
 * says, with one SCRAM user per service created when their storage is formatted. Passwords are
 * made on first start and kept in `dir/secrets`, the cluster id in `dir/cluster-id`.
 */
export function kafkaCluster(
  place: ClusterPlace,
  artifacts: () => Artifacts,
  tls: () => ClusterTls,
  partitions: number,
): KafkaCluster {
  const { dir, basePort } = place;
  const ports = (id: number) => ({
    client: basePort + id - 1,
    broker: basePort + 100 + id - 1,
    controller: basePort + 200 + id - 1,
  });
  const brokers = NODE_IDS.map((id) => `localhost:${ports(id).client}`);
  const formatted = () => NODE_IDS.some((id) => existsSync(path.join(dir, `node-${id}`, 'data', 'meta.properties')));

  function writeConfig(id: number, nodeDir: string): string {
    const files = tls();
    const { client, broker, controller } = ports(id);
    const at = (name: string, port: number): Listener => ({
      name,
      bind: `localhost:${port}`,
      advertised: `localhost:${port}`,
    });
    const settings = nodeProperties({
      id,
      listeners: [at('CLIENT', client), at('BROKER', broker), at('CONTROLLER', controller)],
      voters: NODE_IDS.map((n) => `${n}@localhost:${ports(n).controller}`).join(','),
      logDir: path.join(nodeDir, 'data'),
      keystore: files.brokerKeystore,
      ca: files.ca,
      partitions,
    });
    const config = path.join(nodeDir, 'server.properties');
    mkdirSync(nodeDir, { recursive: true });
    writeFileSync(config, propertiesText(settings));
    return config;
  }

  const nodes: InfraService[] = NODE_IDS.map((id) => {
    const name = `${place.name}-${id}`;
    const nodeDir = path.join(dir, `node-${id}`);
    return {
      name,
      address: `localhost:${ports(id).client}`,
      isUp: () => canConnect('localhost', ports(id).client),
      async start() {
        const { clusterId, passwords } = clusterIdentity(dir, formatted());
        const config = writeConfig(id, nodeDir);
        const classpath = artifacts().kafkaClasspath;
        if (!existsSync(path.join(nodeDir, 'data', 'meta.properties')))
          formatStorage(classpath, config, clusterId, scramOptions(passwords));
        startBroker(name, classpath, config, HEAP);
        await waitUntil(name, () => canConnect('localhost', ports(id).client), 90_000);
      },
      stop: () => stopDaemon(name),
    };
  });

  const connectionFor = (user: KafkaUser): KafkaConnection => ({
    brokers,
    tls: { ca: readFileSync(tls().ca, 'utf8') },
    sasl: {
      mechanism: 'SCRAM-SHA-512',
      username: user,
      password: readFileSync(identityFiles(dir).password(user), 'utf8').trim(),
    },
  });

  return {
    nodes,
    brokers,
    connectionFor,
    envFor: (user) => clientEnv(user, { brokers, dir, ca: tls().ca }),
    ready: () => untilServing(connectionFor(ADMIN_USER)),
  };
}

/** Creates the grants' ACLs (creating one that exists changes nothing), as a super user. */
export async function grantAccess(kafka: Kafka, grants: Grant[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createAcls({ acl: aclEntries(grants) });
  } finally {
    await admin.disconnect();
  }
}
