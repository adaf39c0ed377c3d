import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { ConfigError, commonEnv, deadLetterTopicsFrom, loadConfig } from '../../shared/config.ts';
import { loadCommandApiConfig } from '../../command-api/config.ts';

describe('configuration', () => {
  it('applies defaults', () => {
    const config = loadConfig(z.object(commonEnv), {});
    assert.deepEqual(config.KAFKA_BROKERS, ['localhost:9092']);
    assert.equal(config.TOPIC_MOVIE_RATINGS, 'movie-ratings');
  });

  it('names a dead-letter topic set empty after its source topic, as when unset', () => {
    const config = loadConfig(z.object(commonEnv), {
      TOPIC_MOVIE_RATINGS: 'catalogue-ratings',
      TOPIC_MOVIE_RATINGS_DLQ: '',
    });
    assert.deepEqual([...deadLetterTopicsFrom(config).values()], ['movie-metadata.dlq', 'catalogue-ratings.dlq']);
    assert.throws(() => loadConfig(z.object(commonEnv), { TOPIC_MOVIE_RATINGS_DLQ: 'not a topic' }), ConfigError);
  });

  it('names every bad setting', () => {
    assert.throws(
      () => loadCommandApiConfig({ KAFKA_BROKERS: 'nohost', COMMAND_API_PORT: '99999', JWT_SECRET: 'short' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /KAFKA_BROKERS: must be host:port/.test(err.message) &&
        /COMMAND_API_PORT/.test(err.message) &&
        /JWT_SECRET: must be at least 32 characters/.test(err.message),
    );
  });

  it('refuses a request timeout that would cut a command off before its own deadlines', () => {
    const secret = 'x'.repeat(32);
    assert.throws(
      () => loadCommandApiConfig({ JWT_SECRET: secret, EVENT_ID_SECRET: secret, REQUEST_TIMEOUT_MS: '3500' }),
      /REQUEST_TIMEOUT_MS: must be longer than KAFKA_ACK_TIMEOUT_MS plus COMMAND_DB_TIMEOUT_MS/,
    );
    assert.equal(
      loadCommandApiConfig({
        JWT_SECRET: secret,
        EVENT_ID_SECRET: secret,
        REQUEST_TIMEOUT_MS: '3500',
        KAFKA_ACK_TIMEOUT_MS: '2000',
      }).requestTimeoutMs,
      3500,
    );
  });

  it('requires a token key and the event id secret for the command API, naming both', () => {
    assert.throws(
      () => loadCommandApiConfig({}),
      (err: unknown) =>
        err instanceof ConfigError &&
        /JWT_SECRET: exactly one of JWT_SECRET \(HS256\), JWT_PUBLIC_KEY \(PEM\) or JWT_JWKS_URL is required/.test(
          err.message,
        ) &&
        /EVENT_ID_SECRET: is required/.test(err.message),
    );
  });
});
