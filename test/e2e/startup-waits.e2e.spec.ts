import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { REPO_ROOT } from '../../infra/paths.ts';
import { eventually } from '../../harness/eventually.ts';
import { createTestDatabase, createTestTopics, freePort, services, uniqueName } from '../../harness/services.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

/**
 * A service started while a dependency is unreachable waits for it and becomes ready once it is
 * back; it never exits over it. (Before, it logged "failed to start" and exited with code 1: the
 * one place where a dependency's failure ended a service, and the likely cause of the chaos run's
 * self-exit of the command API it had just restarted after a SIGKILL.)
 */
describe('a service started while its dependencies are down', () => {
  async function reachedThroughProxies(t: TestContext) {
    const database = await createTestDatabase('startup', { migrated: false });
    const topics = await createTestTopics();
    const databaseUrl = new URL(database.url);
    const postgres = await startTcpProxy(databaseUrl.hostname, Number(databaseUrl.port));
    const registryUrl = new URL(services.registryUrl);
    const registry = await startTcpProxy(registryUrl.hostname, Number(registryUrl.port));
    // The services go first: their dependencies stay until they have stopped.
    const running: Array<() => Promise<void>> = [];
    t.after(async () => {
      await Promise.all(running.map((stop) => stop()));
      await Promise.all([postgres.close(), registry.close()]);
      await Promise.all([database.drop(), topics.remove()]);
    });
    databaseUrl.port = String(postgres.port);
    registryUrl.port = String(registry.port);
    const env = {
      DATABASE_URL: databaseUrl.toString(),
      SCHEMA_REGISTRY_URL: registryUrl.toString(),
      KAFKA_BROKERS: services.brokers.join(','),
      TOPIC_MOVIE_METADATA: topics.movieMetadata,
      TOPIC_MOVIE_RATINGS: topics.movieRatings,
      TOPIC_MOVIE_METADATA_DLQ: topics.deadLetters.get(topics.movieMetadata)!,
      TOPIC_MOVIE_RATINGS_DLQ: topics.deadLetters.get(topics.movieRatings)!,
      PROJECTOR_GROUP_ID: uniqueName('group'),
    };
    return { postgres, registry, env, running };
  }

  /** The service as a process of its own, its warnings read as they come. */
  async function start(
    running: Array<() => Promise<void>>,
    main: string,
    portSetting: string,
    env: Record<string, string>,
  ) {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, main)], {
      env: {
        ...process.env,
        ...env,
        [portSetting]: String(port),
        JWT_SECRET: 'startup-waits-jwt-secret-long-enough',
        EVENT_ID_SECRET: 'startup-waits-event-id-secret-long-enough',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    running.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    });
    const alive = () => assert.ok(child.exitCode === null && child.signalCode === null, `${main} exited:\n${output}`);
    return {
      alive,
      async waitsFor(dependency: string) {
        await eventually(
          () => {
            alive();
            assert.match(output, new RegExp(`waiting for ${dependency} to start`));
            return Promise.resolve();
          },
          30_000,
          100,
        );
        output = '';
      },
      async ready() {
        await eventually(
          async () => {
            alive();
            assert.equal((await fetch(`http://127.0.0.1:${port}/health/ready`)).status, 200);
          },
          60_000,
          200,
        );
      },
    };
  }

  it('the command API waits for Postgres, then for the registry, then serves', async (t) => {
    const { postgres, registry, env, running } = await reachedThroughProxies(t);
    postgres.cutOff();
    registry.cutOff();
    const api = await start(running, 'command-api/main.ts', 'COMMAND_API_PORT', env);
    await api.waitsFor('Postgres');
    postgres.restore();
    await api.waitsFor('the schema registry');
    registry.restore();
    await api.ready();
  });

  it('a projector waits for Postgres, then serves', async (t) => {
    const { postgres, env, running } = await reachedThroughProxies(t);
    postgres.cutOff();
    const projector = await start(running, 'projectors/main.ts', 'PROJECTOR_PORT', env);
    await projector.waitsFor('Postgres');
    postgres.restore();
    await projector.ready();
  });
});
