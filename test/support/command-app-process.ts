import { buildUnitCommandApp } from './command-app.ts';

/**
 * The unit command API in a process of its own, with the default body limit (1 MB), for tests
 * whose client must not share the server's event loop; it prints its URL and serves until killed.
 */
const app = await buildUnitCommandApp({
  publisher: {
    publish: () => Promise.reject(new Error('nothing is published in this test')),
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
  },
  config: { bodyLimit: 1024 * 1024 },
});
process.stdout.write(`${await app.listen({ host: '127.0.0.1', port: 0 })}\n`);
