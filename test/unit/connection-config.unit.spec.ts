import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { z } from 'zod';
import { loadCommandApiConfig } from '../../command-api/config.ts';
import { loadProjectorConfig } from '../../projectors/config.ts';
import { ConfigError, databaseEnv, loadConfig } from '../../shared/config.ts';
import { databaseUrlProblem, pgConnection } from '../../shared/db/connection.ts';
import { kafkajsConnection } from '../../shared/kafka/client.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'connection-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const at = path.join(dir, name);
  writeFileSync(at, text);
  return at;
};
const pem = (label: string) => `-----BEGIN ${label}-----\nMIIB${label.length}\n-----END ${label}-----\n`;
const CA = file('ca.pem', pem('CERTIFICATE'));
const CERT = file('client.pem', pem('CERTIFICATE'));
const KEY = file('client.key', pem('PRIVATE KEY'));
const SECRET = 's3cret-'.repeat(6);

/** The ConfigError a load fails with, whole. */
function failure(load: () => unknown): string {
  try {
    load();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('the configuration was accepted');
}

const commandEnv = { JWT_SECRET: SECRET, EVENT_ID_SECRET: SECRET };

describe('Kafka connection settings', () => {
  it('reads SASL_SSL with SCRAM, a CA and a client certificate into kafkajs options', () => {
    const config = loadProjectorConfig({
      KAFKA_BROKERS: 'b1:9093,b2:9093',
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'projectors',
      KAFKA_SASL_PASSWORD: SECRET,
      KAFKA_SSL_CA_FILE: CA,
      KAFKA_SSL_CERT_FILE: CERT,
      KAFKA_SSL_KEY_FILE: KEY,
    });
    assert.deepEqual(kafkajsConnection(config.kafka), {
      brokers: ['b1:9093', 'b2:9093'],
      ssl: { ca: [pem('CERTIFICATE')], cert: pem('CERTIFICATE'), key: pem('PRIVATE KEY') },
      sasl: { mechanism: 'scram-sha-512', username: 'projectors', password: SECRET },
    });
  });

  it('is plaintext by default, and TLS without a CA trusts Node bundle', () => {
    assert.deepEqual(kafkajsConnection(loadProjectorConfig({}).kafka), { brokers: ['localhost:9092'] });
    assert.deepEqual(kafkajsConnection(loadProjectorConfig({ KAFKA_SECURITY_PROTOCOL: 'SSL' }).kafka), {
      brokers: ['localhost:9092'],
      ssl: {},
    });
  });

  it('names every setting a SASL protocol lacks', () => {
    const message = failure(() => loadCommandApiConfig({ ...commandEnv, KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' }));
    assert.match(message, /KAFKA_SASL_MECHANISM: is required with KAFKA_SECURITY_PROTOCOL=SASL_SSL/);
    assert.match(message, /KAFKA_SASL_USERNAME: is required/);
    assert.match(message, /KAFKA_SASL_PASSWORD: is required/);
  });

  it('refuses settings the protocol would ignore, so that a typo in the protocol is not a silent plaintext connection', () => {
    const message = failure(() =>
      loadProjectorConfig({
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: SECRET,
        KAFKA_SASL_MECHANISM: 'PLAIN',
        KAFKA_SSL_CA_FILE: CA,
      }),
    );
    assert.match(
      message,
      /KAFKA_SASL_USERNAME: is only read with KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL \(it is PLAINTEXT\)/,
    );
    assert.match(message, /KAFKA_SSL_CA_FILE: is only read with KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL/);
    assert.match(
      failure(() => loadProjectorConfig({ KAFKA_SECURITY_PROTOCOL: 'SASL_TLS' })),
      /KAFKA_SECURITY_PROTOCOL: Invalid option/,
    );
    assert.match(
      failure(() =>
        loadProjectorConfig({
          KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
          KAFKA_SASL_MECHANISM: 'GSSAPI',
          KAFKA_SASL_USERNAME: 'u',
          KAFKA_SASL_PASSWORD: 'p',
        }),
      ),
      /KAFKA_SASL_MECHANISM: Invalid option/,
    );
  });

  it('names a TLS file that cannot be read or is not PEM, and a certificate without its key', () => {
    const message = failure(() =>
      loadProjectorConfig({
        KAFKA_SECURITY_PROTOCOL: 'SSL',
        KAFKA_SSL_CA_FILE: path.join(dir, 'missing.pem'),
        KAFKA_SSL_CERT_FILE: file('not-pem.txt', 'hello'),
      }),
    );
    assert.match(message, /KAFKA_SSL_CA_FILE: cannot read .*missing\.pem \(ENOENT\)/);
    assert.match(message, /KAFKA_SSL_CERT_FILE: .*not-pem\.txt is not a PEM file/);
    assert.match(
      failure(() => loadProjectorConfig({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CERT_FILE: CERT })),
      /KAFKA_SSL_KEY_FILE: a client certificate and its key are set together/,
    );
  });
});

describe('schema registry connection settings', () => {
  it('reads basic auth and a CA for https', () => {
    const config = loadProjectorConfig({
      SCHEMA_REGISTRY_URL: 'https://registry.example:8081',
      SCHEMA_REGISTRY_USERNAME: 'key',
      SCHEMA_REGISTRY_PASSWORD: SECRET,
      SCHEMA_REGISTRY_CA_FILE: CA,
    });
    assert.deepEqual(config.registry, {
      url: 'https://registry.example:8081',
      auth: { username: 'key', password: SECRET },
      ca: pem('CERTIFICATE'),
    });
  });

  it('refuses half a credential and a CA for plain http', () => {
    assert.match(
      failure(() => loadProjectorConfig({ SCHEMA_REGISTRY_USERNAME: 'key' })),
      /SCHEMA_REGISTRY_PASSWORD: the registry user and password are set together/,
    );
    assert.match(
      failure(() => loadProjectorConfig({ SCHEMA_REGISTRY_CA_FILE: CA })),
      /SCHEMA_REGISTRY_CA_FILE: is only read for an https SCHEMA_REGISTRY_URL/,
    );
  });
});

describe('Postgres TLS settings', () => {
  const url = 'postgres://svc:pw@db.example:5432/moviecat';

  it('follows libpq: require encrypts, verify-ca checks the chain, verify-full also the host name', () => {
    assert.deepEqual(pgConnection(url), { connectionString: url, ssl: false });
    assert.deepEqual(pgConnection(`${url}?sslmode=require`), {
      connectionString: url,
      ssl: { rejectUnauthorized: false },
    });
    const verifyCa = pgConnection(`${url}?sslmode=verify-ca&sslrootcert=${CA}`);
    assert.equal(verifyCa.connectionString, url);
    assert.equal(verifyCa.ssl && verifyCa.ssl.ca, pem('CERTIFICATE'));
    assert.equal(verifyCa.ssl && verifyCa.ssl.checkServerIdentity?.('db.example', {} as never), undefined);
    assert.deepEqual(pgConnection(`${url}?sslmode=verify-full&sslrootcert=${CA}&application_name=x`), {
      connectionString: `${url}?application_name=x`,
      ssl: { ca: pem('CERTIFICATE') },
    });
    assert.deepEqual(pgConnection(`${url}?sslmode=verify-full&sslrootcert=system&sslcert=${CERT}&sslkey=${KEY}`), {
      connectionString: url,
      ssl: { cert: pem('CERTIFICATE'), key: pem('PRIVATE KEY') },
    });
    // libpq: a root certificate turns require into verify-ca.
    const requireWithCa = pgConnection(`${url}?sslmode=require&sslrootcert=${CA}`);
    assert.equal(requireWithCa.ssl && requireWithCa.ssl.rejectUnauthorized, undefined);
    assert.equal(requireWithCa.ssl && requireWithCa.ssl.ca, pem('CERTIFICATE'));
  });

  it('refuses what node-postgres cannot honour, naming why', () => {
    assert.match(
      databaseUrlProblem(`${url}?sslmode=prefer`) ?? '',
      /sslmode=prefer is not supported: use disable, require, verify-ca, verify-full/,
    );
    assert.match(
      databaseUrlProblem(`${url}?sslmode=verify-full&sslrootcert=/nowhere/ca.pem`) ?? '',
      /sslrootcert: cannot read \/nowhere\/ca.pem \(ENOENT\)/,
    );
    assert.match(
      databaseUrlProblem(`${url}?sslrootcert=${CA}`) ?? '',
      /set without TLS: add sslmode=require, verify-ca or verify-full/,
    );
    assert.match(
      databaseUrlProblem(`${url}?sslmode=require&sslcert=${CERT}`) ?? '',
      /sslcert and sslkey are set together/,
    );
    assert.match(databaseUrlProblem(`${url}?ssl=true`) ?? '', /ssl is not supported/);
    assert.equal(databaseUrlProblem(`${url}?sslmode=verify-full&sslrootcert=${CA}`), undefined);
  });
});

describe('secrets from files', () => {
  it('reads <SECRET>_FILE, without the newline an editor leaves', () => {
    const config = loadCommandApiConfig({
      JWT_SECRET_FILE: file('jwt', `${SECRET}\n`),
      EVENT_ID_SECRET_FILE: file('event-id', SECRET),
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'PLAIN',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD_FILE: file('kafka', `${SECRET}\r\n`),
    });
    assert.deepEqual(
      [config.auth.kind === 'secret' && config.auth.secret, config.eventIdSecret, config.kafka.sasl?.password],
      [SECRET, SECRET, SECRET],
    );
    const db = loadConfig(z.object(databaseEnv), {
      DATABASE_URL_FILE: file('db', 'postgres://svc:pw@db:5432/x?sslmode=require\n'),
    });
    assert.equal(db.DATABASE_URL, 'postgres://svc:pw@db:5432/x?sslmode=require');
  });

  it('refuses a secret set twice, or a file that cannot be read', () => {
    const message = failure(() =>
      loadCommandApiConfig({
        ...commandEnv,
        JWT_SECRET_FILE: file('jwt2', SECRET),
        EVENT_ID_SECRET: undefined,
        EVENT_ID_SECRET_FILE: path.join(dir, 'absent'),
      }),
    );
    assert.match(message, /JWT_SECRET_FILE: set together with JWT_SECRET; set one of them/);
    assert.match(message, /EVENT_ID_SECRET_FILE: cannot read .*absent \(ENOENT\)/);
  });

  it('never puts a secret in a configuration error', () => {
    const password = 'Pa55-w0rd-that-must-not-leak';
    const messages = [
      failure(() =>
        loadCommandApiConfig({
          JWT_SECRET: password.slice(0, 10),
          EVENT_ID_SECRET: password.slice(0, 10),
          KAFKA_SASL_PASSWORD: password,
          SCHEMA_REGISTRY_PASSWORD: password,
        }),
      ),
      failure(() =>
        loadProjectorConfig({
          DATABASE_URL: `postgres://svc:${password}@db/x?sslmode=prefer`,
          KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
          KAFKA_SASL_PASSWORD: password,
        }),
      ),
      failure(() => loadProjectorConfig({ DATABASE_URL: `mysql://svc:${password}@db/x` })),
    ];
    for (const message of messages) {
      assert.ok(!message.includes(password) && !message.includes(password.slice(0, 10)), message);
    }
  });
});
