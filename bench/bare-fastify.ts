/**
 * The bare HTTP floor of the benches: a fastify process with no hooks, no database and no Kafka.
 * `GET /v1/movies/:movieId` answers the same JSON every time (BARE_BODY), the ceiling for
 * `npm run bench:queries`; `POST /v1/movies/:movieId/ratings` parses the JSON body and answers
 * 202, the HTTP part of `npm run bench:commands`' floor.
 */
import Fastify from 'fastify';

const body = JSON.parse(process.env.BARE_BODY ?? '{}') as unknown;
const app = Fastify();
app.get('/v1/movies/:movieId', () => body);
app.post('/v1/movies/:movieId/ratings', (request, reply) => reply.code(202).send({ accepted: request.body !== null }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.BARE_PORT) });
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
