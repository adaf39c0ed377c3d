import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';

/** What node-postgres is given for a database URL: the URL without its TLS parameters, and the TLS options they stand for. */
export interface PgConnection {
  connectionString: string;
  ssl: ConnectionOptions | false;
}

const MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
type Mode = (typeof MODES)[number];
const FILES = ['sslrootcert', 'sslcert', 'sslkey'] as const;

/**
 * Why a Postgres URL's TLS parameters cannot be honoured, or undefined when they can. They are
 * libpq's: node-postgres reads some of them its own way (its `require` verifies the server like
 * `verify-full`, its `prefer` does not fall back to plaintext), so they are translated here.
 */
export function databaseUrlProblem(url: string): string | undefined {
  let params: URLSearchParams;
  try {
    params = new URL(url).searchParams;
  } catch {
    return undefined; // the URL check names it
  }
  const mode = params.get('sslmode');
  if (mode !== null && !(MODES as readonly string[]).includes(mode)) {
    return `sslmode=${mode} is not supported: use ${MODES.join(', ')} (node-postgres cannot fall back from TLS to plaintext as allow and prefer do)`;
  }
  const unknown = [...params.keys()].find(
    (key) => key.startsWith('ssl') && key !== 'sslmode' && !(FILES as readonly string[]).includes(key),
  );
  if (unknown) return `${unknown} is not supported: TLS is set with sslmode, sslrootcert, sslcert and sslkey`;
  if (Boolean(params.get('sslcert')) !== Boolean(params.get('sslkey'))) return 'sslcert and sslkey are set together';
  const files = FILES.filter((key) => params.get(key));
  if (files.length > 0 && (mode === null || mode === 'disable'))
    return `${files.join(', ')} set without TLS: add sslmode=require, verify-ca or verify-full`;
  for (const key of files) {
    const file = params.get(key)!;
    if (key === 'sslrootcert' && file === 'system') continue;
    try {
      readFileSync(file);
    } catch (err) {
      return `${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    }
  }
  return undefined;
}

/**
 * The connection node-postgres makes for a database URL, with libpq's meaning of sslmode:
 * `require` encrypts without checking the server (unless a root certificate is given, which
 * makes it `verify-ca`), `verify-ca` checks the chain, `verify-full` the chain and the host
 * name. `sslrootcert=system`, or none with a verify mode, trusts Node's CA bundle.
 */
export function pgConnection(url: string): PgConnection {
  const parsed = new URL(url);
  const get = (key: string) => parsed.searchParams.get(key) || undefined;
  const mode = (get('sslmode') ?? 'disable') as Mode;
  const rootcert = get('sslrootcert');
  const cert = get('sslcert');
  const key = get('sslkey');
  for (const param of ['sslmode', ...FILES]) parsed.searchParams.delete(param);
  const connectionString = parsed.toString();
  if (mode === 'disable') return { connectionString, ssl: false };
  const ca = rootcert && rootcert !== 'system' ? readFileSync(rootcert, 'utf8') : undefined;
  const client = cert && key ? { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') } : {};
  if (mode === 'require' && !rootcert) return { connectionString, ssl: { rejectUnauthorized: false, ...client } };
  const skipHostCheck = mode !== 'verify-full';
  return {
    connectionString,
    ssl: { ...(ca ? { ca } : {}), ...client, ...(skipHostCheck ? { checkServerIdentity: () => undefined } : {}) },
  };
}
