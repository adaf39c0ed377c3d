import { DEFAULTS } from '../shared/defaults.ts';
import { SERVICE_USERS, type ServiceUser } from './cluster/access.ts';
import { ensureArtifacts } from './artifacts.ts';
import { exitWithFailure } from './fail.ts';
import { infraDown, infraStatus, infraUp, launcherCluster, launcherDatabase } from './infra.ts';

const say = (line: string) => console.log(`infra: ${line}`);
const [name, ...options] = process.argv.slice(2);
const unknown = options.filter(
  (option) => option !== '--cluster' && !(name === 'env' && (SERVICE_USERS as readonly string[]).includes(option)),
);
const shape = { cluster: options.includes('--cluster') };
const commands: Record<string, () => Promise<unknown>> = {
  up: () => infraUp(say, process.env, shape),
  down: () => infraDown(say, undefined, process.env, shape),
  status: () => infraStatus(say, process.env, shape),
  env: () =>
    Promise.resolve(
      printClusterEnv(options.find((o): o is ServiceUser => (SERVICE_USERS as readonly string[]).includes(o))),
    ),
};

/**
 * `npm run -s infra:env -- replay`: the settings that reach the production shape as one of its
 * users, as shell exports, for a tool run by hand: `eval "$(npm run -s infra:env -- replay)"`.
 */
function printClusterEnv(user: ServiceUser | undefined): void {
  if (!user) throw new Error(`name a user: ${SERVICE_USERS.join(', ')}`);
  const settings = {
    ...launcherCluster(() => ensureArtifacts(say), DEFAULTS.TOPIC_PARTITIONS).envFor(user),
    ...launcherDatabase().envFor(user),
  };
  for (const [key, value] of Object.entries(settings)) console.log(`export ${key}='${value.replaceAll("'", "'\\''")}'`);
  console.log('unset DATABASE_URL QUERY_DATABASE_URL KAFKA_SASL_PASSWORD');
}

const command = commands[name ?? ''];
if (!command || unknown.length > 0) {
  console.error(
    `usage: tsx infra/cli.ts up|down|status [--cluster]\n       tsx infra/cli.ts env ${SERVICE_USERS.join('|')}   (the production shape's settings for that user)`,
  );
  process.exit(2);
}
await command().catch((err: unknown) => exitWithFailure('infra', err));
