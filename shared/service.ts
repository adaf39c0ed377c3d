import type { FastifyInstance } from 'fastify';
import { ConfigError } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { startTracing, type Tracing, type TracingConfig } from './tracing.ts';

const SHUTDOWN_DEADLINE_MS = 30_000;

interface ServiceConfig {
  logLevel: string;
  host: string;
  port: number;
  /** Where spans go; tracing is off without it. */
  tracing?: TracingConfig | undefined;
}

/**
 * The composition root's frame, the same for every process: validated config or a clear exit,
 * one root logger, tracing when configured (none otherwise), listen, and a graceful shutdown on
 * SIGINT/SIGTERM that lets in-flight work finish (fastify's close, then each resource's onClose
 * hook) and then exports the last spans.
 */
export async function runService<C extends ServiceConfig>(
  name: string,
  loadConfig: () => C,
  build: (config: C, logger: Logger, tracing: Tracing | undefined) => FastifyInstance | Promise<FastifyInstance>,
): Promise<void> {
  let config: C;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${name}: ${err.message}\n`);
    process.exit(1);
  }
  const logger = createLogger(name, config.logLevel);
  let app: FastifyInstance;
  let tracing: Tracing | undefined;
  try {
    tracing = await startTracing(name, config.tracing);
    app = await build(config, logger, tracing);
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    logger.fatal({ err }, `${name} failed to start`);
    process.exit(1);
  }
  logger.info(
    {
      address: `http://${config.host}:${config.port}`,
      traces: config.tracing ? new URL(config.tracing.tracesUrl).origin : 'off',
    },
    `${name} listening`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, `${name} shutting down`);
    // Whatever hangs past this is abandoned: nothing unacknowledged is lost, it is redone on restart.
    setTimeout(() => {
      logger.error(`${name} did not stop within ${SHUTDOWN_DEADLINE_MS / 1000}s; exiting`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    // Spans are exported after fastify's onClose hooks (which run last-registered first), so
    // that those of the work finished on the way out are sent too.
    app
      .close()
      .then(() => tracing?.shutdown().catch((err: unknown) => logger.warn({ err }, 'last spans not exported')))
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}
