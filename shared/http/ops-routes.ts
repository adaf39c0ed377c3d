import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics.ts';

/** A dependency check for readiness: resolves when the dependency is usable, rejects otherwise. */
export type ReadinessCheck = () => Promise<void> | void;

/** A check that has not answered by then counts as failing: readiness must answer, not hang. */
const CHECK_TIMEOUT_MS = 1000;

function withTimeout(check: ReadinessCheck): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    Promise.resolve().then(check),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Liveness, readiness and Prometheus metrics, the same on every service. Also times every
 * request by route template.
 */
export function registerOpsRoutes(
  app: FastifyInstance,
  metrics: Metrics,
  checks: Record<string, ReadinessCheck>,
): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    metrics.httpRequestDuration.observe(
      { method: request.method, route, status: String(status) },
      reply.elapsedTime / 1000,
    );
    // One line per request at debug, refusals at info, failures at warn: at thousands of
    // requests a second a line per success costs more than it tells. Never headers or bodies.
    const level = status >= 500 ? 'warn' : status >= 400 ? 'info' : 'debug';
    request.log[level](
      { method: request.method, route, status, durationMs: Math.round(reply.elapsedTime * 10) / 10 },
      'request',
    );
  });

  app.get('/health/live', () => ({ status: 'ok' }));

  app.get('/health/ready', async (request, reply) => {
    const entries = await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        try {
          await withTimeout(check);
          return [name, 'ok'] as const;
        } catch (err) {
          request.log.warn({ err, dependency: name }, 'readiness check failed');
          return [name, 'failing'] as const;
        }
      }),
    );
    const ready = entries.every(([, state]) => state === 'ok');
    return reply
      .code(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(entries) });
  });

  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
}
