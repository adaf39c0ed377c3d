import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../shared/errors.ts';

export interface RateLimitConfig {
  /** Commands one principal may send per window, on one instance. */
  max: number;
  windowMs: number;
}

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number) {
    super(
      'rate-limited',
      429,
      'Too many requests',
      `This caller sent too many commands; retry in ${retryAfterSeconds} s.`,
      true,
    );
  }
}

/**
 * Per-principal limits on the routes that opt in with `config: { rateLimit: {} }`. The limit runs
 * after the route's own authentication hook, so it counts the token's subject, and before the
 * body is read. Counts are kept per instance: N instances behind a balancer allow N times `max`.
 */
export async function registerRateLimit(app: FastifyInstance, { max, windowMs }: RateLimitConfig): Promise<void> {
  await app.register(fastifyRateLimit, {
    global: false,
    hook: 'onRequest',
    max,
    timeWindow: windowMs,
    // Limit headers on every answer cost more than they tell a command client; a 429 says Retry-After.
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    addHeaders: {
      'x-ratelimit-limit': false,
      'x-ratelimit-remaining': false,
      'x-ratelimit-reset': false,
      'retry-after': true,
    },
    keyGenerator: (request) => request.principal?.subject ?? `ip:${request.ip}`,
    errorResponseBuilder: (_request, context) => new RateLimitedError(Math.max(1, Math.ceil(context.ttl / 1000))),
  });
}
