import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCommand } from './command.ts';
import { StartupError, canConnect, java, startDaemon, stopDaemon, waitUntil } from './daemon.ts';
import { plaintext } from '../shared/kafka/client.ts';
import { coordinatorsReady } from './kafka-ready.ts';
import { REPO_ROOT, dataPath } from './paths.ts';
import type { InfraService } from './service.ts';
import type { Artifacts } from './artifacts.ts';

const JAVA_OPTS = ['-Xms256m', '-Xmx1g', '-XX:+UseG1GC', '-Djava.awt.headless=true'];

/**
 * The broker's settings that do not depend on where it listens or keeps its data.
 * docker-compose.yml sets the same (test/unit/compose.unit.spec.ts compares them).
 */
export const BROKER_SETTINGS: Readonly<Record<string, string>> = {
  'process.roles': 'broker,controller',
  'node.id': '1',
  'controller.listener.names': 'CONTROLLER',
  'auto.create.topics.enable': 'false',
  'offsets.topic.replication.factor': '1',
  'offsets.topic.num.partitions': '6',
  'transaction.state.log.replication.factor': '1',
  'transaction.state.log.min.isr': '1',
  'share.coordinator.state.topic.replication.factor': '1',
  'share.coordinator.state.topic.min.isr': '1',
  // A single node: do not make the first consumer group wait for more members.
  'group.initial.rebalance.delay.ms': '0',
};

/** A fresh KRaft cluster id: 16 random bytes, base64url. */
export const newClusterId = () => Buffer.from(randomUUID().replaceAll('-', ''), 'hex').toString('base64url');

/** Formats a node's storage for the cluster; `extra` adds StorageTool options (SCRAM users). */
export function formatStorage(classpath: string, config: string, clusterId: string, extra: string[] = []): void {
  // `=` keeps an id that starts with '-' from reading as an option.
  const format = runCommand(java(), [
    '-cp',
    classpath,
    'kafka.tools.StorageTool',
    'format',
    `--cluster-id=${clusterId}`,
    `--config=${config}`,
    ...extra,
  ]);
  if (!format.ok)
    throw new StartupError(
      `Formatting Kafka's storage (${config}) failed:\n${format.output.replace(/password=[^,\]]*/g, 'password=[redacted]')}`,
    );
}

/** Starts a broker from its properties file as a daemon of the launcher. */
export function startBroker(name: string, classpath: string, config: string, heap = JAVA_OPTS): void {
  startDaemon({
    name,
    command: java(),
    args: [
      ...heap,
      `-Dlog4j2.configurationFile=${path.join(REPO_ROOT, 'infra', 'kafka', 'log4j2.properties')}`,
      '-cp',
      classpath,
      'kafka.Kafka',
      config,
    ],
  });
}

/** Where a broker keeps its data, and the name its daemon's pid and log files go by. */
export interface BrokerPlace {
  name: string;
  dir: string;
}

/**
 * A single-node KRaft broker (broker and controller in one process) on `host:port`, with its
 * controller on the next port. The launcher's lives in the data folder's `kafka`; the fault
 * suite runs one of its own elsewhere in that folder, to restart without disturbing others.
 */
export function kafkaService(
  broker: string,
  artifacts: () => Artifacts,
  partitions: number,
  place: BrokerPlace = { name: 'kafka', dir: dataPath('kafka') },
): InfraService {
  const [host = 'localhost', portText = '9092'] = broker.split(':');
  const port = Number(portText);
  const { name, dir } = place;
  const config = path.join(dir, 'server.properties');
  const logDir = path.join(dir, 'log');

  function writeConfig(): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      config,
      [
        ...Object.entries(BROKER_SETTINGS).map(([setting, value]) => `${setting}=${value}`),
        `controller.quorum.voters=1@${host}:${port + 1}`,
        `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${port + 1}`,
        `advertised.listeners=PLAINTEXT://${host}:${port}`,
        'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        `log.dirs=${logDir}`,
        `num.partitions=${partitions}`,
        '',
      ].join('\n'),
    );
  }

  return {
    name,
    address: `${host}:${port}`,
    isUp: () => canConnect(host, port),
    async start() {
      writeConfig();
      const classpath = artifacts().kafkaClasspath;
      if (!existsSync(path.join(logDir, 'meta.properties'))) formatStorage(classpath, config, newClusterId());
      startBroker(name, classpath, config);
      await waitUntil(name, () => canConnect(host, port), 90_000);
      const offsetsPartitions = Number(BROKER_SETTINGS['offsets.topic.num.partitions']);
      await waitUntil(name, () => coordinatorsReady(plaintext([`${host}:${port}`]), offsetsPartitions), 60_000);
    },
    stop: () => stopDaemon(name),
  };
}
