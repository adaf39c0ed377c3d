import { loadConfig, databaseEnv, commonEnv } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';
import { migrate } from './migrate.ts';
import { z } from 'zod';

/** `npm run migrate`: brings the read-model schema of DATABASE_URL up to date. */
const config = loadConfig(z.object({ LOG_LEVEL: commonEnv.LOG_LEVEL, ...databaseEnv }));
await migrate(config.DATABASE_URL, createLogger('migrate', config.LOG_LEVEL));
