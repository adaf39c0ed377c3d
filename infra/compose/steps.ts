import { chmodSync, chownSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { kafkaConnectionFrom, registryConnectionFrom } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { ADMIN_USER } from '../cluster/access.ts';
import { adminPasswordFile, databaseAccess } from '../cluster/database.ts';
import {
  NODE_IDS,
  clusterIdentity,
  identityFiles,
  nodeProperties,
  propertiesText,
  scramOptions,
} from '../cluster/kafka-cluster.ts';
import { provisionCluster } from '../cluster/provision.ts';
import { ensureClusterTls } from '../cluster/tls.ts';
import { exitWithFailure } from '../fail.ts';
import { launcherConfig, launcherTopics, requireBackwardTransitive } from '../infra.ts';
import { tlsOnlyHba } from '../postgres.ts';
import {
  ACCOUNTS,
  CERTIFICATE_NAMES,
  COMPOSE_DIR,
  COMPOSE_FILES,
  KAFKA_DATA_DIR,
  POSTGRES,
  REGISTRY_DIR,
  composeKafkaEnv,
  composeDatabaseDir,
  composeListeners,
  composeTls,
  composeVoters,
} from './shape.ts';

/**
 * docker-compose.yml's two one-shot steps, run in the project's image with the launcher's own
 * code (see shape.ts for where things go):
 *
 * - `setup`, as root before anything else starts: the CA and certificates, every password, each
 *   Kafka node's server.properties and the options that format its storage, Postgres's
 *   pg_hba.conf; each secret readable only by the account of the containers that need it;
 * - `provision`, once the nodes and the primary answer: what `npm run infra:up -- --cluster`
 *   does next (topics, ACLs, roles, migrations, grants, the standby's slot, URL files, the
 *   registry's compatibility).
 */
const database = () => databaseAccess(composeDatabaseDir, { ...POSTGRES, ca: composeTls.ca });
const kafkaSecrets = path.join(COMPOSE_DIR, 'secrets');
const databaseSecrets = path.join(composeDatabaseDir, 'secrets');

function own(file: string, uid: number, mode: number): void {
  chownSync(file, uid, uid);
  chmodSync(file, mode);
}

function setup(partitions: number): void {
  const tls = ensureClusterTls(path.dirname(composeTls.ca), CERTIFICATE_NAMES);
  const { passwords } = clusterIdentity(COMPOSE_DIR, false);
  const { replication } = database();
  for (const id of NODE_IDS) {
    const settings = nodeProperties({
      id,
      listeners: composeListeners(id),
      voters: composeVoters,
      logDir: KAFKA_DATA_DIR,
      keystore: tls.brokerKeystore,
      ca: tls.ca,
      partitions,
    });
    mkdirSync(path.dirname(COMPOSE_FILES.nodeConfig(id)), { recursive: true });
    writeFileSync(COMPOSE_FILES.nodeConfig(id), propertiesText(settings));
  }
  // One StorageTool option per line, none with a space: the nodes' start script splits them as words.
  const { formatOptions, replicationPassfile } = COMPOSE_FILES;
  writeFileSync(formatOptions, `${scramOptions(passwords).join('\n')}\n`);
  // The nodes' own client settings, for their health check over mutual TLS.
  const nodeClient = {
    'security.protocol': 'SSL',
    'ssl.keystore.type': 'PEM',
    'ssl.keystore.location': tls.brokerKeystore,
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.location': tls.ca,
  };
  writeFileSync(COMPOSE_FILES.nodeClient, propertiesText(nodeClient));
  // Local connections are inside the container only; the image's first-start scripts use them.
  writeFileSync(COMPOSE_FILES.hba, `${['local all all trust', ...tlsOnlyHba(['all'])].join('\n')}\n`);
  writeFileSync(replicationPassfile, `${POSTGRES.primary}:replication:${replication.user}:${replication.password}\n`);

  for (const folder of [COMPOSE_DIR, path.dirname(tls.ca), kafkaSecrets, composeDatabaseDir, databaseSecrets])
    chmodSync(folder, 0o711);
  own(tls.brokerKeystore, ACCOUNTS.kafka, 0o400);
  own(tls.serverKey, ACCOUNTS.postgres, 0o400);
  own(formatOptions, ACCOUNTS.kafka, 0o400);
  for (const user of passwords.keys()) own(identityFiles(COMPOSE_DIR).password(user), ACCOUNTS.node, 0o400);
  own(adminPasswordFile(composeDatabaseDir), ACCOUNTS.postgres, 0o400);
  own(replicationPassfile, ACCOUNTS.postgres, 0o600);
  own(REGISTRY_DIR, ACCOUNTS.registry, 0o700);
  console.log(`setup: certificates for ${CERTIFICATE_NAMES.join(', ')}; passwords and node settings in ${COMPOSE_DIR}`);
}

async function provision(env: NodeJS.ProcessEnv): Promise<void> {
  const config = launcherConfig(env);
  const { sources, deadLetters } = launcherTopics(config);
  const admin = kafkaConnectionFrom(
    launcherConfig({
      ...env,
      ...composeKafkaEnv(ADMIN_USER),
    }),
  );
  const topics = {
    sources,
    deadLetters,
    projectorGroup: config.PROJECTOR_GROUP_ID,
    partitions: config.TOPIC_PARTITIONS,
  };
  await provisionCluster(admin, database(), topics, createLogger('provision', 'warn'));
  // The URL files hold passwords: readable by the services' account only.
  for (const file of readdirSync(databaseSecrets).filter((name) => name.startsWith('database-url-')))
    own(path.join(databaseSecrets, file), ACCOUNTS.node, 0o400);
  await requireBackwardTransitive(registryConnectionFrom(config));
  console.log(
    `provision: topics ${[...sources, ...deadLetters].join(', ')}, their ACLs, the database's roles and grants: ready`,
  );
}

const [step] = process.argv.slice(2);
if (step === 'setup') {
  try {
    setup(launcherConfig(process.env).TOPIC_PARTITIONS);
  } catch (err) {
    exitWithFailure('setup', err);
  }
} else if (step === 'provision') {
  await provision(process.env).catch((err: unknown) => exitWithFailure('provision', err));
} else {
  console.error('usage: tsx infra/compose/steps.ts setup|provision   (docker-compose.yml runs both)');
  process.exit(2);
}
