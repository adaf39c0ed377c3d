import { loadConfig, databaseEnv, commonEnv } from '../config.ts';
import { createLogger } from '../logger.ts';
import { migrate } from './migrate.ts';
import { z } from 'zod';

/** `npm run migrate`: brings the schema of DATABASE_URL up to date. */
const config = loadConfig(z.object({ LOG_LEVEL: commonEnv.LOG_LEVEL, ...databaseEnv }));
await migrate(config.DATABASE_URL, createLogger('migrate', config.LOG_LEVEL));
