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

const NODE_IDS = [1, 2, 3] as const;
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
 * Clients authenticate with SCRAM-SHA-512 over TLS; the nodes reach each other (replication and
 * the controller quorum) over mutual TLS as `kafka-node`. Every request is checked against the
 * ACLs, and one that no ACL allows is refused.
 */
export const SECURITY_SETTINGS: Readonly<Record<string, string>> = {
  'listener.security.protocol.map': 'CLIENT:SASL_SSL,BROKER:SSL,CONTROLLER:SSL',
  'inter.broker.listener.name': 'BROKER',
  'controller.listener.names': 'CONTROLLER',
  'ssl.keystore.type': 'PEM',
  'ssl.truststore.type': 'PEM',
  'ssl.endpoint.identification.algorithm': 'https',
  'ssl.principal.mapping.rules': 'RULE:^CN=([^,]+)$/$1/,DEFAULT',
  'listener.name.broker.ssl.client.auth': 'required',
  'listener.name.controller.ssl.client.auth': 'required',
  'listener.name.client.ssl.client.auth': 'none',
  'sasl.enabled.mechanisms': 'SCRAM-SHA-512',
  'listener.name.client.sasl.enabled.mechanisms': 'SCRAM-SHA-512',
  'listener.name.client.scram-sha-512.sasl.jaas.config': 'org.apache.kafka.common.security.scram.ScramLoginModule required;',
  'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
  'allow.everyone.if.no.acl.found': 'false',
  'super.users': `User:${NODE_PRINCIPAL};User:${ADMIN_USER}`,
};

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
  connectionFor(user: ServiceUser | typeof ADMIN_USER): KafkaConnection;
  /** The settings a service reads to reach the cluster as `user`; its password comes from a file. */
  envFor(user: ServiceUser | typeof ADMIN_USER): Record<string, string>;
  /** Waits until the whole cluster serves producers and groups: every node up, every coordinator loaded. */
  ready(): Promise<void>;
}

/**
 * Three KRaft nodes (broker and controller each) on localhost, secured as SECURITY_SETTINGS
 * says, with one SCRAM user per service created when their storage is formatted. Passwords are
 * made on first start and kept in `dir/secrets`, the cluster id in `dir/cluster-id`.
 */
export function kafkaCluster(place: ClusterPlace, artifacts: () => Artifacts, tls: () => ClusterTls, partitions: number): KafkaCluster {
  const { dir, basePort } = place;
  const ports = (id: number) => ({ client: basePort + id - 1, broker: basePort + 100 + id - 1, controller: basePort + 200 + id - 1 });
  const brokers = NODE_IDS.map((id) => `localhost:${ports(id).client}`);
  const secrets = path.join(dir, 'secrets');
  const passwordFile = (user: string) => path.join(secrets, `kafka-${user}.password`);
  const users = [ADMIN_USER, ...SERVICE_USERS];

  /** The cluster id and passwords, made once: storage formatted with them must keep meeting them. */
  function identity(): { clusterId: string; passwords: Map<string, string> } {
    const idFile = path.join(dir, 'cluster-id');
    const formatted = NODE_IDS.some((id) => existsSync(path.join(dir, `node-${id}`, 'data', 'meta.properties')));
    if (!existsSync(idFile) || users.some((user) => !existsSync(passwordFile(user)))) {
      if (formatted) throw new StartupError(`The cluster's storage in ${dir} outlived its id or passwords; delete ${dir} to start the cluster afresh.`);
      mkdirSync(secrets, { recursive: true, mode: 0o700 });
      writeFileSync(idFile, newClusterId());
      for (const user of users) writeFileSync(passwordFile(user), randomBytes(24).toString('hex'), { mode: 0o600 });
    }
    return { clusterId: readFileSync(idFile, 'utf8').trim(), passwords: new Map(users.map((user) => [user, readFileSync(passwordFile(user), 'utf8').trim()])) };
  }

  function writeConfig(id: number, nodeDir: string): string {
    const files = tls();
    const voters = NODE_IDS.map((n) => `${n}@localhost:${ports(n).controller}`).join(',');
    const { client, broker, controller } = ports(id);
    const listeners = `CLIENT://localhost:${client},BROKER://localhost:${broker},CONTROLLER://localhost:${controller}`;
    const settings: Record<string, string> = {
      'node.id': String(id),
      'controller.quorum.voters': voters,
      listeners,
      'advertised.listeners': listeners,
      'log.dirs': path.join(nodeDir, 'data'),
      'num.partitions': String(partitions),
      'ssl.keystore.location': files.brokerKeystore,
      'ssl.truststore.location': files.ca,
      ...CLUSTER_SETTINGS,
      ...SECURITY_SETTINGS,
    };
    const config = path.join(nodeDir, 'server.properties');
    mkdirSync(nodeDir, { recursive: true });
    writeFileSync(config, `${Object.entries(settings).map(([key, value]) => `${key}=${value}`).join('\n')}\n`);
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
        const { clusterId, passwords } = identity();
        const config = writeConfig(id, nodeDir);
        const classpath = artifacts().kafkaClasspath;
        if (!existsSync(path.join(nodeDir, 'data', 'meta.properties'))) {
          formatStorage(classpath, config, clusterId, [...passwords].flatMap(([user, password]) => ['--add-scram', `SCRAM-SHA-512=[name=${user},password=${password}]`]));
        }
        startBroker(name, classpath, config, HEAP);
        await waitUntil(name, () => canConnect('localhost', ports(id).client), 90_000);
      },
      stop: () => stopDaemon(name),
    };
  });

  const connectionFor = (user: string): KafkaConnection => ({
    brokers,
    tls: { ca: readFileSync(tls().ca, 'utf8') },
    sasl: { mechanism: 'SCRAM-SHA-512', username: user, password: readFileSync(passwordFile(user), 'utf8').trim() },
  });

  return {
    nodes,
    brokers,
    connectionFor,
    envFor: (user) => ({
      KAFKA_BROKERS: brokers.join(','),
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: user,
      KAFKA_SASL_PASSWORD_FILE: passwordFile(user),
      KAFKA_SSL_CA_FILE: tls().ca,
    }),
    async ready() {
      await waitUntil(nodes[0]!.name, () => coordinatorsReady(connectionFor(ADMIN_USER), OFFSETS_PARTITIONS), 120_000);
    },
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
