/**
 * The ceiling for `npm run bench:queries`: a bare fastify route answering every
 * GET /v1/movies/:movieId with the same JSON (BARE_BODY), no database, no hooks.
 */
import Fastify from 'fastify';

const body = JSON.parse(process.env.BARE_BODY ?? '{}') as unknown;
const app = Fastify();
app.get('/v1/movies/:movieId', () => body);
await app.listen({ host: '127.0.0.1', port: Number(process.env.BARE_PORT) });
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
