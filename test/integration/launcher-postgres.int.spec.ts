import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { postgresService } from '../../infra/postgres.ts';
import { RELOCATION_NOTE, relocatedHome } from '../../infra/postgres-home.ts';
import { freePort } from '../../harness/services.ts';

const asRoot = process.getuid?.() === 0;

/**
 * The launcher's own Postgres, in a data folder of its own on a port of its own, so the running
 * infrastructure is left alone. As root this is the case a user hit: Postgres runs as an
 * unprivileged account that cannot enter the data folder, so the cluster must live elsewhere.
 */
describe('embedded Postgres launcher', () => {
  it('runs a cluster for a data folder that only its owner can enter', async (t) => {
    const url = `postgres://moviecat:moviecat@127.0.0.1:${await freePort()}/moviecat`;
    // As `mktemp -d` makes it: mode 700.
    const sandbox = mkdtempSync(path.join(os.tmpdir(), 'moviecat-launcher-'));
    chmodSync(sandbox, 0o700);
    const dataDir = path.join(sandbox, 'data');
    const postgres = postgresService(url, dataDir);
    t.after(async () => {
      try {
        await postgres.stop();
      } finally {
        rmSync(sandbox, { recursive: true, force: true });
        rmSync(relocatedHome(dataDir), { recursive: true, force: true });
      }
    });

    await postgres.start();
    const client = new pg.Client(url);
    await client.connect();
    try {
      assert.deepEqual((await client.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    } finally {
      await client.end();
    }
    const cluster = asRoot ? path.join(relocatedHome(dataDir), 'postgres') : path.join(dataDir, 'postgres');
    assert.ok(existsSync(path.join(cluster, 'PG_VERSION')), `expected the cluster in ${cluster}`);
    assert.equal(existsSync(path.join(dataDir, RELOCATION_NOTE)), asRoot);
    assert.equal(await postgres.stop(), true);
  });
});
