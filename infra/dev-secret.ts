import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { DATA_DIR, dataPath } from './paths.ts';

/** `variable` from the environment, else a development secret generated once into the data folder. */
function developmentSecret(variable: string, fileName: string): string {
  const given = process.env[variable];
  if (given) return given;
  const file = dataPath(fileName);
  if (!existsSync(file)) {
    mkdirSync(DATA_DIR, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}

/** The HS256 secret of development tokens (`npm run token`). */
export const developmentJwtSecret = () => developmentSecret('JWT_SECRET', 'jwt-secret');

/** The secret the command and query APIs vouch for event ids with. */
export const developmentEventIdSecret = () => developmentSecret('EVENT_ID_SECRET', 'event-id-secret');
