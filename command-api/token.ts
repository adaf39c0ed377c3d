import { parseArgs } from 'node:util';
import { developmentJwtSecret } from '../infra/dev-secret.ts';
import { mintToken } from './mint-token.ts';

/** `npm run token -- --sub alice --roles user[,admin,provider] [--ttl 3600]`: prints a development token. */
const { values } = parseArgs({
  options: {
    sub: { type: 'string' },
    roles: { type: 'string', default: 'user' },
    ttl: { type: 'string', default: '3600' },
  },
});
if (!values.sub) {
  console.error('usage: npm run token -- --sub <user> [--roles user,admin,provider] [--ttl seconds]');
  process.exit(2);
}
const roles = values.roles
  .split(',')
  .map((r) => r.trim())
  .filter(Boolean);
console.log(mintToken(developmentJwtSecret(), { sub: values.sub, roles }, Number(values.ttl)));
