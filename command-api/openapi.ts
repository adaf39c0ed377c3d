import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { z } from 'zod';
import { idSchema } from './command.ts';
import { metadataBodySchema } from './movies/set-metadata.ts';
import { batchBodySchema } from './ratings/submit-batch.ts';
import { ratingBodySchema } from './ratings/submit-rating.ts';

/** OpenAPI's JSON Schema dialect, from the same zod schemas that validate the requests. */
const jsonSchema = (schema: z.ZodType) => z.toJSONSchema(schema, { target: 'openapi-3.0', unrepresentable: 'any' });

const problem = {
  description: 'A problem (RFC 9457); `type` is stable per error',
  content: {
    'application/problem+json': {
      schema: {
        type: 'object',
        required: ['type', 'title', 'status'],
        properties: {
          type: { type: 'string', example: 'urn:movie-catalogue:problem:validation-failed' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          instance: { type: 'string' },
          errors: {
            type: 'array',
            items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } },
          },
        },
      },
    },
  },
};

const position = {
  type: 'object',
  properties: { topic: { type: 'string' }, partition: { type: 'integer' }, offset: { type: 'integer' } },
};
const consistencyToken = {
  type: 'string',
  description: 'Opaque; send it as X-Consistency-Token to a query to read this write',
};
const accepted = (properties: Record<string, unknown>) => ({
  description: 'Accepted: Kafka has acknowledged every event of the command (acks=all)',
  content: { 'application/json': { schema: { type: 'object', properties } } },
});
const single = accepted({ eventId: { type: 'string', format: 'uuid' }, position, consistencyToken });

const keyHeader = {
  'idempotency-key': {
    type: 'string',
    pattern: '^[!-~]{1,255}$',
    description:
      'A retry with the same key, path and body answers the first answer and changes nothing twice; another request with the key is 409',
  },
};

const refusals = Object.fromEntries([400, 401, 403, 409, 413, 415, 429, 503].map((status) => [status, problem]));

const command = (summary: string, role: string, parts: Partial<FastifySchema>, answer = single): FastifySchema => ({
  summary,
  description: `Needs a bearer token with the \`${role}\` role.`,
  security: [{ bearer: [] }],
  ...parts,
  headers: {
    type: 'object',
    properties: { ...keyHeader, ...((parts.headers as { properties?: object } | undefined)?.properties ?? {}) },
  },
  response: { 202: answer, ...refusals, ...(parts.response as object | undefined) },
});

const movieParams = { type: 'object', properties: { movieId: jsonSchema(idSchema) }, required: ['movieId'] };

/** The documentation schema of each command route. Requests are validated by the zod schemas, not by these. */
export const ROUTE_SCHEMAS = {
  setMetadata: command("Set a movie's metadata (a full replace)", 'admin', {
    params: movieParams,
    body: jsonSchema(metadataBodySchema),
    headers: {
      type: 'object',
      properties: {
        'if-match': {
          type: 'string',
          example: '"3"',
          description: 'The version the movie must be at ("0": not created yet); 412 otherwise',
        },
      },
    },
    response: { 412: problem },
  }),
  submitRating: command('Rate a movie as the calling user (1 to 5); a later rating replaces it', 'user', {
    params: movieParams,
    body: jsonSchema(ratingBodySchema),
  }),
  deleteRating: command("Take back the calling user's rating of a movie", 'user', { params: movieParams }),
  submitBatch: command(
    "Import a provider's ratings in bulk (1 to 1000, all or nothing)",
    'provider',
    { body: jsonSchema(batchBodySchema) },
    accepted({
      eventIds: { type: 'array', items: { type: 'string', format: 'uuid' } },
      positions: { type: 'array', items: position },
      consistencyToken,
    }),
  ),
} satisfies Record<string, FastifySchema>;

/**
 * OpenAPI at /docs/json and its UI at /docs, generated from the route schemas. Those schemas
 * document only: the zod schemas of the commands validate (with their own messages), and
 * answers are serialized as they are.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Movie catalogue: commands',
        version: '1',
        description: 'Commands append events to Kafka; a 202 means the events are in the log.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    hideUntagged: false,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
}
