import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { parse } from 'yaml';
import { describeInfra, launcherTopics, REGISTRY_COMPATIBILITY } from '../../infra/infra.ts';
import { BROKER_SETTINGS } from '../../infra/kafka.ts';
import { REPO_ROOT } from '../../infra/paths.ts';
import { z } from 'zod';
import { commonEnv, deadLetterTopicsFrom, loadConfig } from '../../shared/config.ts';
import { DEFAULTS } from '../../shared/defaults.ts';
import { ensureTopics } from '../../shared/kafka/topics.ts';

/**
 * docker-compose.yml runs the same system as the local launcher: the same topics with the same
 * settings, the same broker and registry settings, the same database and ports. Read as YAML
 * (no Docker needed), with compose's `${VAR:-default}` interpolation, and compared with what the
 * launcher's own code does. `npm run check:ops` has docker-compose check the file's syntax.
 */

type Env = Record<string, string | undefined>;

/** Source topics renamed, dead-letter topics left to their default: the source's name plus `.dlq`. */
const RENAMED_TOPICS: Env = { TOPIC_MOVIE_METADATA: 'catalogue-metadata', TOPIC_MOVIE_RATINGS: 'catalogue-ratings' };

const NAMED_DEAD_LETTERS: Env = { TOPIC_MOVIE_RATINGS: 'catalogue-ratings', TOPIC_MOVIE_RATINGS_DLQ: 'catalogue-ratings-dead' };

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
  for (let previous = ''; previous !== resolved; ) {
    previous = resolved;
    resolved = resolved.replace(/\$\{(\w+)(?:(:?)([-?])([^${}]*))?\}/, (_match, name: string, colon?: string, op?: string, arg?: string) => {
      const value = env[name];
      const missing = value === undefined || (colon === ':' && value === '');
      if (op === '-') return missing ? arg! : value;
      if (op === '?') {
        if (missing) throw new Error(`compose would refuse to start: ${arg}`);
        return value;
      }
      return value ?? '';
    });
  }
  return resolved.replace(/\$(\w+)/g, (_match, name: string) => env[name] ?? '').replaceAll(ESCAPED, '$');
}

function interpolated(node: unknown, env: Env): unknown {
  if (typeof node === 'string') return interpolate(node, env);
  if (Array.isArray(node)) return node.map((item) => interpolated(item, env));
  if (node !== null && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, interpolated(value, env)]));
  return node;
}

interface Service {
  image?: string;
  command?: string | string[];
  environment?: Record<string, string | number | null>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
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
      Object.entries(s.environment).flatMap(([name, value]) => (value !== null ? [[name, value]] : env[name] !== undefined ? [[name, env[name]]] : [])),
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

/** The launcher's configuration for `env`, as `npm run infra:up` would load it. */
const launcherConfig = (env: Env = {}) => describeInfra(() => undefined, env).config;

/** The topics the launcher's ensureTopics creates, captured from a stand-in Kafka admin. */
async function launcherTopicRequests(env: Env = {}): Promise<Array<{ topic: string; numPartitions: number; configEntries: Array<{ name: string; value: string }> }>> {
  const config = launcherConfig(env);
  const { sources, deadLetters } = launcherTopics(config);
  let created: unknown[] = [];
  const admin = {
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    listTopics: () => Promise.resolve([]),
    createTopics: (request: { topics: unknown[] }) => {
      created = request.topics;
      return Promise.resolve(true);
    },
  };
  await ensureTopics({ admin: () => admin } as unknown as Kafka, [...sources, ...deadLetters], config.TOPIC_PARTITIONS);
  return created as Awaited<ReturnType<typeof launcherTopicRequests>>;
}

/** What kafka-init creates: the loop's topics, as its shell expands them, and the options of its kafka-topics.sh call. */
function composeTopics(file: Compose): { topics: string[]; options: string } {
  const init = service(file, 'kafka-init');
  const script = (Array.isArray(init.command) ? init.command.at(-1) : init.command) ?? '';
  const loop = /for topic in ([\s\S]*?); do([\s\S]*?)done/.exec(script.replace(/\\\n/g, ' '));
  assert.ok(loop, `kafka-init does not loop over its topics:\n${script}`);
  const words = loop[1]!.trim().split(/\s+/).map((word) => word.replace(/^"(.*)"$/, '$1'));
  return { topics: words.map((word) => interpolate(word, envOf(init))), options: loop[2]! };
}

/** The broker's properties from the apache/kafka image's KAFKA_* variables (`_` for `.`, `__` for `_`, `___` for `-`). */
function brokerProperties(kafka: Service): Record<string, string> {
  return Object.fromEntries(
    Object.entries(envOf(kafka))
      .filter(([name]) => name.startsWith('KAFKA_'))
      .map(([name, value]) => [name.slice('KAFKA_'.length).toLowerCase().replace(/___/g, '-').replace(/__/g, '\0').replace(/_/g, '.').replace(/\0/g, '_'), value]),
  );
}

/** The host port a service publishes for `containerPort`, bound to 127.0.0.1 as the launcher binds. */
function published(s: Service, containerPort: number): number | undefined {
  for (const mapping of s.ports ?? []) {
    const [host, hostPort, inner] = mapping.split(':');
    if (host === '127.0.0.1' && Number(inner) === containerPort) return Number(hostPort);
  }
  return undefined;
}

const portOf = (url: string) => Number(new URL(url).port);

describe('docker-compose.yml against the launcher', () => {
  it('keeps its project name, which Debian docker-compose 1.x cannot check', () => {
    assert.equal(compose().name, 'movie-catalogue');
  });

  for (const env of [{}, { TOPIC_PARTITIONS: '3' }, RENAMED_TOPICS, NAMED_DEAD_LETTERS, EMPTY_DEAD_LETTER]) {
    it(`creates the launcher's topics, partitions and topic settings (${JSON.stringify(env)})`, async () => {
      const requests = await launcherTopicRequests(env);
      const { topics, options } = composeTopics(compose(env));
      assert.deepEqual(topics, requests.map((r) => r.topic));
      for (const request of requests) {
        assert.match(options, new RegExp(`--partitions ${request.numPartitions}\\b`));
        for (const entry of request.configEntries) assert.ok(options.includes(`--config ${entry.name}=${entry.value}`), `kafka-init does not set ${entry.name}=${entry.value}`);
      }
      // Partitions a broker-created topic would get, should anything create one.
      assert.equal(brokerProperties(service(compose(env), 'kafka'))['num.partitions'], String(launcherConfig(env).TOPIC_PARTITIONS));
    });
  }

  for (const topicEnv of [{}, RENAMED_TOPICS, NAMED_DEAD_LETTERS, EMPTY_DEAD_LETTER]) {
    it(`passes the services the topic names the launcher creates (${JSON.stringify(topicEnv)})`, () => {
      const config = launcherConfig(topicEnv);
      for (const name of ['projectors', 'command-api']) {
        const env = envOf(service(compose(topicEnv), name));
        // As each service reads its settings: a dead-letter topic left unset follows its source topic.
        const settings = loadConfig(z.object(commonEnv), env);
        const [metadata, ratings] = [settings.TOPIC_MOVIE_METADATA, settings.TOPIC_MOVIE_RATINGS];
        const deadLetters = deadLetterTopicsFrom(settings);
        assert.deepEqual({ sources: [metadata, ratings], deadLetters: [...deadLetters.values()] }, launcherTopics(config), name);
      }
      if (Object.keys(topicEnv).length === 0) assert.equal(config.TOPIC_MOVIE_RATINGS, DEFAULTS.TOPIC_MOVIE_RATINGS);
    });
  }

  it("runs Kafka with the launcher's broker settings and version, on its ports", () => {
    const kafka = service(compose(), 'kafka');
    const properties = brokerProperties(kafka);
    const differing = Object.entries(BROKER_SETTINGS).filter(([name, value]) => properties[name] !== value);
    assert.deepEqual(differing.map(([name, value]) => `${name}: launcher ${value}, compose ${properties[name]}`), []);
    const brokerPort = Number(DEFAULTS.KAFKA_BROKERS.split(':')[1]);
    assert.equal(published(kafka, brokerPort), brokerPort);
    assert.match(properties['advertised.listeners'] ?? '', new RegExp(`EXTERNAL://localhost:${brokerPort}\\b`));
    // The launcher puts the controller on the broker's port + 1.
    assert.match(properties['listeners'] ?? '', new RegExp(`CONTROLLER://0\\.0\\.0\\.0:${brokerPort + 1}\\b`));
    assert.equal(properties['controller.quorum.voters'], `${BROKER_SETTINGS['node.id']}@kafka:${brokerPort + 1}`);
    const pinned = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(path.join(REPO_ROOT, 'infra', 'maven', 'pom.xml'), 'utf8'))?.[1];
    assert.equal(kafka.image, `apache/kafka:${pinned}`);
    assert.equal(service(compose(), 'kafka-init').image, kafka.image);
  });

  it("enforces the launcher's registry compatibility, on the launcher's registry port", () => {
    const registry = service(compose(), 'schema-registry');
    assert.equal(envOf(registry).SCHEMA_REGISTRY_SCHEMA_COMPATIBILITY_LEVEL?.toUpperCase(), REGISTRY_COMPATIBILITY);
    assert.equal(published(registry, 8081), portOf(DEFAULTS.SCHEMA_REGISTRY_URL));
  });

  it('serves Postgres with the user, password, database and port of the default DATABASE_URL', () => {
    const url = new URL(DEFAULTS.DATABASE_URL);
    const postgres = service(compose(), 'postgres');
    const env = envOf(postgres);
    assert.deepEqual([env.POSTGRES_USER, env.POSTGRES_PASSWORD, env.POSTGRES_DB], [url.username, url.password, url.pathname.slice(1)]);
    assert.equal(published(postgres, 5432), Number(url.port));
    for (const name of ['projectors', 'command-api', 'query-api']) {
      const inside = new URL(envOf(service(compose(), name)).DATABASE_URL ?? '');
      assert.deepEqual([inside.username, inside.password, inside.pathname, inside.host], [url.username, url.password, url.pathname, 'postgres:5432'], name);
    }
  });

  it('publishes each service on its default port, probes it there, and Prometheus scrapes it there', () => {
    const prometheus = parse(readFileSync(path.join(REPO_ROOT, 'infra', 'prometheus', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const ports = { 'command-api': DEFAULTS.COMMAND_API_PORT, 'query-api': DEFAULTS.QUERY_API_PORT, projectors: DEFAULTS.PROJECTOR_PORT };
    for (const [name, port] of Object.entries(ports)) {
      const s = service(compose(), name);
      const env = envOf(s);
      assert.equal(env.HOST, '0.0.0.0', name);
      assert.deepEqual([env.COMMAND_API_PORT, env.QUERY_API_PORT, env.PROJECTOR_PORT], [undefined, undefined, undefined], `${name} keeps the default ports`);
      assert.equal(published(s, port), port, name);
      assert.ok(s.healthcheck?.test.some((part) => part.includes(`127.0.0.1:${port}/health/ready`)), `${name} healthcheck`);
      const job = prometheus.scrape_configs.find((c) => c.job_name === name);
      assert.deepEqual(job?.static_configs.flatMap((c) => c.targets), [`${name}:${port}`], `${name} scrape target`);
    }
  });

  it("mounts Prometheus's configuration and every rule file where the configuration names it", () => {
    const prometheusDir = path.join(REPO_ROOT, 'infra', 'prometheus');
    const config = parse(readFileSync(path.join(prometheusDir, 'prometheus.yml'), 'utf8')) as { rule_files?: string[] };
    const volumes = service(compose(), 'prometheus').volumes ?? [];
    assert.ok(volumes.includes('./infra/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro'));
    for (const file of config.rule_files ?? []) {
      assert.ok(existsSync(path.resolve(prometheusDir, file)), file);
      const local = `./${path.relative(REPO_ROOT, path.resolve(prometheusDir, file))}`;
      assert.ok(volumes.includes(`${local}:${path.posix.resolve('/etc/prometheus', file)}:ro`), `${file} is not mounted: ${volumes.join(', ')}`);
    }
  });

  it('refuses to start without the secrets', () => {
    assert.throws(() => interpolated(parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }), {}), /set JWT_SECRET/);
  });
});
