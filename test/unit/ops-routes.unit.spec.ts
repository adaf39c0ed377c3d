import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHttpApp } from '../../shared/http/app.ts';
import { createLogger } from '../../shared/logger.ts';
import { createMetrics } from '../../shared/metrics.ts';

describe('readiness', () => {
  it('answers 503 once its one-second bound passes when a dependency check hangs, not before', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const app = createHttpApp({
      logger: createLogger('test', 'silent'),
      metrics: createMetrics('test'),
      readiness: { fine: () => undefined, kafka: () => new Promise<void>(() => undefined) },
    });
    t.after(() => app.close());
    let answered = false;
    const answer = app.inject({ method: 'GET', url: '/health/ready' }).then((response) => {
      answered = true;
      return response;
    });
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 5; i += 1) await settle();
    t.mock.timers.tick(999);
    for (let i = 0; i < 5; i += 1) await settle();
    assert.equal(answered, false, 'answered before the bound');
    t.mock.timers.tick(1);
    for (let i = 0; i < 5; i += 1) await settle();
    assert.equal(answered, true, 'no answer at the bound');
    const response = await answer;
    assert.equal(response.statusCode, 503);
    assert.deepEqual(response.json(), { status: 'not ready', checks: { fine: 'ok', kafka: 'failing' } });
  });
});
