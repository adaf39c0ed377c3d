import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { clusterDatabase, type ClusterDatabase } from '../../infra/cluster/database.ts';
import { ensureClusterTls } from '../../infra/cluster/tls.ts';
import { dataPath, REPO_ROOT } from '../../infra/paths.ts';
import { relocatedHome } from '../../infra/postgres-home.ts';
import { mintToken } from '../../command-api/mint-token.ts';
import { eventually } from '../../harness/eventually.ts';
import { startSecuredCluster, type SecuredCluster } from '../../harness/secured-cluster.ts';
import { deleteSubjects, freePort, quietLogger, services, uniqueName } from '../../harness/services.ts';

const JWT_SECRET = 'production-shape-jwt-secret-long-enough';
const EVENT_ID_SECRET = 'production-shape-event-id-secret-long-enough';

interface Service {
  url: string;
  child: ChildProcess;
}

/**
 * The production shape as `npm start -- --cluster` runs it: the services as processes, each as its
 * own Kafka user on the secured three-node cluster and its own Postgres role over TLS, two command
 * APIs, and a query API reading the hot standby. The README's try-it flow, across instances.
 */
describe('production shape', () => {
  const dir = dataPath('test', uniqueName('shape'));
  let cluster: SecuredCluster;
  let database: ClusterDatabase;
  const running: Service[] = [];
  let commandA: string;
  let commandB: string;
  let query: string;

  async function start(
    main: string,
    user: 'command-api' | 'projectors' | 'query-api',
    portSetting: string,
  ): Promise<Service> {
    const port = await freePort();
    const [metadata, ratings] = cluster.topics.sources as [string, string];
    const env: NodeJS.ProcessEnv = {
      ...Object.fromEntries(
        Object.entries(process.env).filter(([name]) => !name.startsWith('KAFKA_') && !name.includes('DATABASE_URL')),
      ),
      ...cluster.envFor(user),
      ...database.envFor(user),
      SCHEMA_REGISTRY_URL: services.registryUrl,
      TOPIC_MOVIE_METADATA: metadata,
      TOPIC_MOVIE_RATINGS: ratings,
      PROJECTOR_GROUP_ID: cluster.topics.projectorGroup,
      JWT_SECRET,
      EVENT_ID_SECRET,
      [portSetting]: String(port),
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    };
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, main)], {
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const service = { url: `http://127.0.0.1:${port}`, child };
    running.push(service);
    await eventually(
      async () => {
        assert.equal(child.exitCode, null, `${main} exited`);
        assert.equal((await fetch(`${service.url}/health/ready`)).status, 200);
      },
      60_000,
      200,
    );
    return service;
  }

  before(async () => {
    cluster = await startSecuredCluster();
    database = clusterDatabase(
      `${dir}/postgres`,
      { primary: await freePort(), standby: await freePort() },
      ensureClusterTls(`${dir}/tls`),
    );
    await database.primary.start();
    await database.prepare(quietLogger());
    await database.standby.start();
    await start('projectors/main.ts', 'projectors', 'PROJECTOR_PORT');
    [commandA, commandB, query] = (
      await Promise.all([
        start('command-api/main.ts', 'command-api', 'COMMAND_API_PORT'),
        start('command-api/main.ts', 'command-api', 'COMMAND_API_PORT'),
        start('query-api/main.ts', 'query-api', 'QUERY_API_PORT'),
      ])
    ).map((s) => s.url) as [string, string, string];
  });

  after(async () => {
    await Promise.all(
      running.map(
        (s) =>
          new Promise((resolve) =>
            s.child.exitCode === null ? (s.child.once('exit', resolve), s.child.kill('SIGTERM')) : resolve(null),
          ),
      ),
    );
    await database?.standby.stop();
    await database?.primary.stop();
    await cluster?.remove();
    await deleteSubjects(
      (subject) => cluster?.topics.sources.some((topic) => subject.startsWith(`${topic}-`)) ?? false,
    );
    for (const folder of ['primary', 'standby'])
      rmSync(relocatedHome(`${dir}/postgres/${folder}`), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  const send = async (
    base: string,
    path: string,
    sub: string,
    roles: string[],
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${mintToken(JWT_SECRET, { sub, roles }, 600)}`,
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { eventId: string; consistencyToken: string } };
  };

  it('takes a command on one instance, its retry on another, and serves it read-your-writes from the standby', async () => {
    const movie = uniqueName('tt');
    const created = await send(commandA, `/v1/movies/${movie}/metadata`, 'ada', ['admin'], {
      title: 'Stalker',
      description: 'The Zone.',
      director: 'Andrei Tarkovsky',
      year: 1979,
      actors: [],
    });
    assert.equal(created.status, 202);
    const rating = { value: 5 };
    const first = await send(commandB, `/v1/movies/${movie}/ratings`, 'alice', ['user'], rating, {
      'idempotency-key': 'rate-once',
    });
    const retried = await send(commandA, `/v1/movies/${movie}/ratings`, 'alice', ['user'], rating, {
      'idempotency-key': 'rate-once',
    });
    assert.deepEqual([first.status, retried.status, retried.body.eventId], [202, 202, first.body.eventId]);

    const read = await fetch(`${query}/v1/movies/${movie}`, {
      headers: { 'x-consistency-token': first.body.consistencyToken },
    });
    assert.equal(read.headers.get('x-consistency'), 'consistent');
    const details = (await read.json()) as { title: string; rating: unknown; version: number };
    assert.deepEqual(
      [read.status, details.title, details.rating, details.version],
      [200, 'Stalker', { average: 5, count: 1 }, 1],
    );
    const status = await (await fetch(`${query}/v1/commands/${first.body.eventId}`)).json();
    assert.deepEqual(status, { eventId: first.body.eventId, status: 'applied', reason: null });
  });
});
