import type { FastifyInstance } from 'fastify';
import { buildCommandApp, type CommandAppDeps } from '../../command-api/app.ts';
import { createEventIdSeal } from '../../shared/events/event-id.ts';
import { createLogger } from '../../shared/logger.ts';
import { createMetrics } from '../../shared/metrics.ts';

export const UNIT_JWT_SECRET = 'unit-test-secret-unit-test-secret-123';

// Idempotency and If-Match need Postgres: they are tested in accept.unit.spec.ts and against the
// real database; a unit test's request using either fails loudly.
const noDatabase = () => Promise.reject(new Error('no database in this test'));

/**
 * The command API for tests without services: HS256 tokens with UNIT_JWT_SECRET, generous
 * limits, no Postgres. `publisher` is the test's; anything else can be overridden.
 */
export function buildUnitCommandApp(
  overrides: Partial<Omit<CommandAppDeps, 'config'>> &
    Pick<CommandAppDeps, 'publisher'> & { config?: Partial<CommandAppDeps['config']> },
): Promise<FastifyInstance> {
  const { config, ...deps } = overrides;
  return buildCommandApp({
    logger: createLogger('test', 'silent'),
    metrics: createMetrics('command-api'),
    idempotency: { claim: noDatabase, release: noDatabase, complete: noDatabase },
    movieVersions: noDatabase,
    eventIdSeal: createEventIdSeal('unit-test-event-id-secret-unit-test-1'),
    readiness: {},
    ...deps,
    config: {
      auth: { kind: 'secret', secret: UNIT_JWT_SECRET },
      bodyLimit: 2048,
      rateLimit: { max: 1000, windowMs: 60_000 },
      requestTimeoutMs: 10_000,
      ...config,
    },
  });
}
