import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { runCommand } from '../command.ts';
import { StartupError } from '../daemon.ts';

/** The launcher's own certificate authority and the certificates it signed, as PEM files. */
export interface ClusterTls {
  /** The CA every client trusts. */
  ca: string;
  /** The brokers' key and certificate in one file (Kafka's PEM keystore); their name is `kafka-node`. */
  brokerKeystore: string;
  /** Postgres's certificate and key, for the same names. */
  serverCert: string;
  serverKey: string;
}

const DAYS = '3650';

/** The names every certificate carries on one machine. */
export const LOCAL_NAMES = ['localhost', '127.0.0.1'];

function openssl(args: string[]): void {
  const result = runCommand('openssl', args);
  if (!result.ok) throw new StartupError(`openssl ${args[0]} failed:\n${result.output}`);
}

/** Where `ensureClusterTls` keeps the files. */
export function clusterTlsFiles(dir: string): ClusterTls {
  const at = (name: string) => path.join(dir, name);
  return {
    ca: at('ca.pem'),
    brokerKeystore: at('kafka-node.keystore.pem'),
    serverCert: at('server.pem'),
    serverKey: at('server.key'),
  };
}

/**
 * A CA and the certificates the secured cluster needs, made with openssl on first start in `dir`
 * and reused after that; nothing is fetched. Every certificate carries every name in `names`
 * (host names and IP addresses), so that clients check host names (verify-full, Kafka's https
 * identification) wherever the servers run.
 */
export function ensureClusterTls(dir: string, names: readonly string[] = LOCAL_NAMES): ClusterTls {
  const at = (name: string) => path.join(dir, name);
  const tls = clusterTlsFiles(dir);
  if (Object.values(tls).every((file: string) => existsSync(file))) return tls;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    at('ca.key'),
    '-out',
    tls.ca,
    '-days',
    DAYS,
    '-subj',
    '/CN=movie-catalogue local CA',
  ]);
  const extensions = at('leaf.ext');
  const altNames = names.map((name) => (isIP(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
  writeFileSync(extensions, `subjectAltName=${altNames}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  const leaf = (name: string, commonName: string) => {
    openssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      at(`${name}.key`),
      '-out',
      at(`${name}.csr`),
      '-subj',
      `/CN=${commonName}`,
    ]);
    openssl([
      'x509',
      '-req',
      '-in',
      at(`${name}.csr`),
      '-CA',
      tls.ca,
      '-CAkey',
      at('ca.key'),
      '-CAcreateserial',
      '-out',
      at(`${name}.pem`),
      '-days',
      DAYS,
      '-extfile',
      extensions,
    ]);
    rmSync(at(`${name}.csr`));
  };
  leaf('kafka-node', 'kafka-node');
  leaf('server', names[0]!);
  // Kafka's PEM keystore: the private key, then the certificate.
  openssl(['pkcs8', '-topk8', '-nocrypt', '-in', at('kafka-node.key'), '-out', at('kafka-node.pk8')]);
  writeFileSync(
    tls.brokerKeystore,
    [at('kafka-node.pk8'), at('kafka-node.pem')].map((file) => readFileSync(file, 'utf8')).join(''),
    { mode: 0o600 },
  );
  return tls;
}
