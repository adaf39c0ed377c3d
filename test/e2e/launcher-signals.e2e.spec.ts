import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { canConnect } from '../../infra/daemon.ts';
import { DATA_DIR, REPO_ROOT } from '../../infra/paths.ts';
import { createTestDatabase, freePort, freePortPair } from '../../harness/services.ts';
import { eventually } from '../../harness/eventually.ts';

/**
 * `npm start` stopped as a terminal stops it: Ctrl-C pressed twice, half a second apart, each a
 * SIGINT to the whole process group. Before, the second one killed the launcher in the middle of
 * its cleanup, leaving Kafka and the registry running with nobody to stop them.
 */
describe('npm start under Ctrl-C', () => {
  it('stops everything it started when Ctrl-C is pressed twice', async (t) => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'launcher-'));
    // The artifacts are the checkout's own: a data folder of its own would fetch them again.
    symlinkSync(path.join(DATA_DIR, 'artifacts'), path.join(dataDir, 'artifacts'));
    const database = await createTestDatabase('launcher');
    const broker = await freePortPair();
    const ports = { registry: await freePort(), command: await freePort(), query: await freePort() };
    const projector = await freePort();
    const env = {
      ...process.env,
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      KAFKA_BROKERS: `127.0.0.1:${broker}`,
      SCHEMA_REGISTRY_URL: `http://127.0.0.1:${ports.registry}/apis/ccompat/v7`,
      COMMAND_API_PORT: String(ports.command),
      QUERY_API_PORT: String(ports.query),
      PROJECTOR_PORT: String(projector),
      LOG_LEVEL: 'warn',
    };
    const launcher = spawn('npm', ['start'], {
      cwd: REPO_ROOT,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    launcher.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    launcher.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => launcher.once('exit', resolve));
    t.after(async () => {
      // Whatever the outcome, nothing of this run stays behind.
      if (launcher.exitCode === null && launcher.signalCode === null) process.kill(-launcher.pid!, 'SIGKILL');
      spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'infra/cli.ts'), 'down'], { env });
      rmSync(dataDir, { recursive: true, force: true });
      await database.drop();
    });

    await eventually(() => Promise.resolve(assert.match(output, /the movie catalogue is running/)), 180_000, 250);
    process.kill(-launcher.pid!, 'SIGINT');
    // The second press, as a person makes it.
    await delay(500);
    process.kill(-launcher.pid!, 'SIGINT');
    await exited;

    assert.match(output, /start: stopped/, output);
    const listening = [];
    for (const port of [broker, broker + 1, ...Object.values(ports), projector])
      if (await canConnect('127.0.0.1', port)) listening.push(port);
    assert.deepEqual(listening, [], `still listening after the launcher exited:\n${output}`);
  });
});
