import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHttpApp } from '../../shared/http/app.ts';
import { createLogger } from '../../shared/logger.ts';
import { createMetrics } from '../../shared/metrics.ts';

describe('readiness', () => {
  it('answers 503 within a second and a bit when a dependency check hangs', async (t) => {
    const app = createHttpApp({
      logger: createLogger('test', 'silent'),
      metrics: createMetrics('test'),
      readiness: { fine: () => undefined, kafka: () => new Promise<void>(() => undefined) },
    });
    t.after(() => app.close());
    const started = performance.now();
    const response = await app.inject({ method: 'GET', url: '/health/ready' });
    const elapsed = performance.now() - started;
    assert.equal(response.statusCode, 503);
    assert.deepEqual(response.json(), { status: 'not ready', checks: { fine: 'ok', kafka: 'failing' } });
    assert.ok(elapsed >= 900 && elapsed < 1500, `answered after ${Math.round(elapsed)} ms`);
  });
});
