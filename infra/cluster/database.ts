import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { pgConnection } from '../../shared/db/connection.ts';
import { migrate } from '../../shared/db/migrate.ts';
import { LIVE, SCHEMAS } from '../../shared/read-models.ts';
import type { Logger } from '../../shared/logger.ts';
import { postgresService } from '../postgres.ts';
import type { InfraService } from '../service.ts';
import type { ClusterTls } from './tls.ts';

/**
 * The Postgres roles of the production shape. The owner owns every schema: migrations, a
 * rebuild's schema swap and the dead-letter tool's redrive records run as it. Each service
 * connects as its own role, allowed only what it does; the standby replicates as `replicator`.
 */
const DATABASE_ROLES = ['catalogue_owner', 'command_api', 'projectors', 'query_api', 'replicator'] as const;
type DatabaseRole = (typeof DATABASE_ROLES)[number];

/** The read models' schemas, which the projectors write and the query API reads. */
const READ_MODELS = [SCHEMAS.movieDetails, SCHEMAS.ratings];

/**
 * What each service's role may do, once the migrations made the schemas. The query API reads the
 * read models and nothing more; the command API keeps its idempotency keys and reads a movie's
 * version for If-Match; the projectors write the read models and settle redrives.
 */
function grantStatements(database: string): string[] {
  const schemas = READ_MODELS.join(', ');
  return [
    `REVOKE ALL ON DATABASE ${database} FROM PUBLIC`,
    `GRANT CONNECT ON DATABASE ${database} TO command_api, projectors, query_api`,
    `GRANT CONNECT, CREATE ON DATABASE ${database} TO catalogue_owner`,
    // Every service runs the migrations at start, which finds nothing to do once the owner ran them.
    'GRANT SELECT ON public.pgmigrations TO command_api, projectors, query_api',
    `GRANT USAGE ON SCHEMA ${schemas} TO projectors, query_api`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schemas} TO projectors`,
    `GRANT SELECT ON ALL TABLES IN SCHEMA ${schemas} TO query_api`,
    `GRANT USAGE ON SCHEMA ${SCHEMAS.operations} TO projectors`,
    `GRANT SELECT, UPDATE ON ${LIVE.redrives} TO projectors`,
    `GRANT USAGE ON SCHEMA ${SCHEMAS.commands}, ${SCHEMAS.movieDetails} TO command_api`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${SCHEMAS.commands} TO command_api`,
    `GRANT SELECT ON ${LIVE.movies} TO command_api`,
  ];
}

/** A role's URL of the database, with the admin URL's server and TLS settings. */
function roleUrl(adminUrl: string, role: DatabaseRole, password: string): string {
  const url = new URL(adminUrl);
  url.username = role;
  url.password = password;
  return url.toString();
}

/** Each role's password, made on first start and kept (mode 600) in `secrets`. */
function rolePasswords(secrets: string): Map<DatabaseRole, string> {
  return new Map(DATABASE_ROLES.map((role) => [role, ensureSecret(path.join(secrets, `postgres-${role}.password`))]));
}

/**
 * Creates the roles (or resets their passwords), runs the migrations as the owner, grants each
 * service its privileges, and makes the standby's replication slot. Run as the superuser of
 * `adminUrl`; safe to run again.
 */
async function prepareDatabase(
  adminUrl: string,
  passwords: ReadonlyMap<DatabaseRole, string>,
  logger: Logger,
): Promise<void> {
  const database = pg.escapeIdentifier(new URL(adminUrl).pathname.slice(1));
  const client = new pg.Client(pgConnection(adminUrl));
  await client.connect();
  try {
    for (const [role, password] of passwords) {
      const exists = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount === 1;
      const options = role === 'replicator' ? 'LOGIN REPLICATION' : 'LOGIN';
      // A password cannot be a bind parameter of CREATE ROLE; escapeLiteral quotes it.
      await client.query(
        `${exists ? 'ALTER' : 'CREATE'} ROLE ${role} ${options} PASSWORD ${client.escapeLiteral(password)}`,
      );
    }
    await client.query(`GRANT CONNECT, CREATE ON DATABASE ${database} TO catalogue_owner`);
    await client.query('GRANT ALL ON SCHEMA public TO catalogue_owner');
  } finally {
    await client.end();
  }
  await migrate(roleUrl(adminUrl, 'catalogue_owner', passwords.get('catalogue_owner')!), logger);
  const grants = new pg.Client(pgConnection(adminUrl));
  await grants.connect();
  try {
    for (const statement of grantStatements(database)) await grants.query(statement);
    // Made before the standby's first copy, so that the primary keeps every WAL record after it.
    await grants.query(
      `SELECT pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`,
      [STANDBY_SLOT],
    );
  } finally {
    await grants.end();
  }
}

/** Which role each process of the production shape connects as. */
const ROLE_OF = {
  'command-api': 'command_api',
  projectors: 'projectors',
  'query-api': 'query_api',
  replay: 'catalogue_owner',
  dlq: 'catalogue_owner',
} as const;
export type DatabaseUser = keyof typeof ROLE_OF;

/** The replication slot the standby streams through, so that the primary keeps the WAL it has not received. */
export const STANDBY_SLOT = 'standby';

/** Where the primary and the standby listen (`host:port`), and the CA their certificate is signed by. */
export interface DatabaseEndpoints {
  primary: string;
  standby: string;
  ca: string;
}

export interface DatabaseAccess {
  /** The superuser's URL of the primary. */
  adminUrl: string;
  /** Roles, migrations, grants and the standby's slot on the primary, and a URL file per role. */
  prepare(logger: Logger): Promise<void>;
  /** The settings a process reads to reach the database as its role: URLs from files, since they hold passwords. */
  envFor(user: DatabaseUser): Record<string, string>;
  /** The standby's login for streaming replication. */
  replication: { user: string; password: string };
}

const urlFile = (dir: string, name: string) => path.join(dir, 'secrets', `database-url-${name}`);

/** The settings a process reads to reach the database in `dir` as its role; the query API reads the standby. */
export function databaseEnv(dir: string, user: DatabaseUser): Record<string, string> {
  const role = ROLE_OF[user];
  return {
    DATABASE_URL_FILE: urlFile(dir, role),
    ...(user === 'query-api' ? { QUERY_DATABASE_URL_FILE: urlFile(dir, `${role}-standby`) } : {}),
  };
}

/**
 * The production shape's roles and how each reaches the database, wherever the servers run: the
 * passwords are made on first use and kept in `dir/secrets` (mode 600), next to the URL files.
 */
export function databaseAccess(dir: string, endpoints: DatabaseEndpoints): DatabaseAccess {
  const secrets = path.join(dir, 'secrets');
  const passwords = rolePasswords(secrets);
  const urlOf = (endpoint: string, user: string, password: string) =>
    `postgres://${user}:${password}@${endpoint}/moviecat?sslmode=verify-full&sslrootcert=${encodeURIComponent(endpoints.ca)}`;
  const adminUrl = urlOf(endpoints.primary, ADMIN_ROLE, ensureSecret(adminPasswordFile(dir)));
  return {
    adminUrl,
    replication: { user: 'replicator', password: passwords.get('replicator')! },
    async prepare(logger) {
      await prepareDatabase(adminUrl, passwords, logger);
      for (const role of DATABASE_ROLES) {
        writeFileSync(urlFile(dir, role), urlOf(endpoints.primary, role, passwords.get(role)!), { mode: 0o600 });
        writeFileSync(urlFile(dir, `${role}-standby`), urlOf(endpoints.standby, role, passwords.get(role)!), {
          mode: 0o600,
        });
      }
    },
    envFor: (user) => databaseEnv(dir, user),
  };
}

/** The superuser, as the launcher's single-node Postgres names it too. */
export const ADMIN_ROLE = 'moviecat';
export const adminPasswordFile = (dir: string) => path.join(dir, 'secrets', 'postgres-admin.password');

export interface ClusterDatabase extends DatabaseAccess {
  primary: InfraService;
  /** Started once the primary is prepared: its copy must hold the roles. */
  standby: InfraService;
}

/**
 * The production shape's Postgres on this machine: a primary that takes TLS connections only,
 * each service as its own role, and a hot standby streaming from it, which the query APIs read
 * from. The TLS files must exist before either starts.
 */
export function clusterDatabase(
  dir: string,
  ports: { primary: number; standby: number },
  tls: ClusterTls,
): ClusterDatabase {
  const access = databaseAccess(dir, {
    primary: `127.0.0.1:${ports.primary}`,
    standby: `127.0.0.1:${ports.standby}`,
    ca: tls.ca,
  });
  const standbyUrl = new URL(access.adminUrl);
  standbyUrl.port = String(ports.standby);
  const serverTls = { cert: tls.serverCert, key: tls.serverKey };
  return {
    ...access,
    primary: postgresService(access.adminUrl, path.join(dir, 'primary'), { name: 'postgres-primary', tls: serverTls }),
    standby: postgresService(standbyUrl.toString(), path.join(dir, 'standby'), {
      name: 'postgres-standby',
      tls: serverTls,
      standbyOf: {
        url: access.adminUrl,
        dataDir: path.join(dir, 'primary'),
        slot: STANDBY_SLOT,
        replication: access.replication,
      },
    }),
  };
}

function ensureSecret(file: string): string {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  if (!existsSync(file)) writeFileSync(file, randomBytes(24).toString('hex'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}
