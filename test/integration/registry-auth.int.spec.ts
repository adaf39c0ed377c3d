import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ensureClusterTls } from '../../infra/cluster/tls.ts';
import { dataPath } from '../../infra/paths.ts';
import { EventCodec } from '../../shared/kafka/codec.ts';
import { EventDecoder } from '../../shared/kafka/decoder.ts';

import { registryClient, type RegistryConnection } from '../../shared/registry.ts';
import { createTestTopics, services, uniqueName, type TestTopics } from '../../harness/services.ts';

const USER = 'registry-key';
const PASSWORD = 'registry-secret';

/**
 * The real registry behind https with basic auth, as Confluent Cloud serves it: both the
 * registry client (registering schemas) and the decoder's own reads must send the credentials
 * and trust the CA, and a request without them is refused by the server.
 */
describe('a registry behind https and basic auth', () => {
  const dir = dataPath('test', uniqueName('registry-auth'));
  const expected = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  let server: https.Server;
  let topics: TestTopics;
  let secured: RegistryConnection;
  const refused: string[] = [];

  before(async () => {
    const tls = ensureClusterTls(dir);
    const upstream = new URL(services.registryUrl);
    server = https.createServer(
      { cert: readFileSync(tls.serverCert), key: readFileSync(tls.serverKey) },
      (request, response) => {
        if (request.headers.authorization !== expected) {
          refused.push(request.url ?? '');
          response
            .writeHead(401, { 'content-type': 'application/json' })
            .end('{"error_code":401,"message":"Unauthorized"}');
          return;
        }
        const path = `${upstream.pathname.replace(/\/$/, '')}${request.url ?? ''}`;
        const forward = http.request(
          {
            host: upstream.hostname,
            port: upstream.port,
            path,
            method: request.method,
            headers: { ...request.headers, host: upstream.host },
          },
          (answer) => {
            response.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(response);
          },
        );
        forward.on('error', () => response.writeHead(502).end());
        request.pipe(forward);
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://localhost:${(server.address() as AddressInfo).port}`;
    secured = { url, auth: { username: USER, password: PASSWORD }, ca: readFileSync(tls.ca, 'utf8') };
    topics = await createTestTopics(1);
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await topics.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers schemas and reads them back with the credentials and the CA', async () => {
    const codec = await EventCodec.forWriting(registryClient(secured), topics);
    const encoded = codec.encode({
      type: 'RatingSubmitted',
      envelope: {
        eventId: '01a25165-0bfd-7be4-b34e-041fddd6cd7d',
        occurredAt: new Date(0),
        principal: 'alice',
        correlationId: 'c',
      },
      recordType: 'movie',
      recordId: 'm1',
      userId: 'alice',
      value: 4,
      providerId: null,
    });
    const decoded = await new EventDecoder(secured).decode({ value: encoded.value });
    assert.deepEqual([decoded.ok, decoded.ok && decoded.event.type], [true, 'RatingSubmitted']);
    assert.deepEqual(refused, []);
  });

  it('is refused without the credentials, and the decoder calls that an unavailable registry', async () => {
    const anonymous = { url: secured.url, ca: secured.ca };
    await assert.rejects(
      EventCodec.forWriting(registryClient(anonymous), topics),
      (err: { status?: number }) => err.status === 401,
    );
    const framed = Buffer.from([0, 0, 0, 0, 1, 0]);
    await assert.rejects(new EventDecoder(anonymous).decode({ value: framed }), {
      name: 'UnavailableError',
      dependency: 'registry',
    });
    assert.ok(refused.length >= 2, `refused: ${refused.join(', ')}`);
  });

  it('does not trust the server without the CA', async () => {
    const untrusting = { url: secured.url, auth: secured.auth };
    const before = refused.length;
    await assert.rejects(new EventDecoder(untrusting).decode({ value: Buffer.from([0, 0, 0, 0, 2, 0]) }), {
      name: 'UnavailableError',
      dependency: 'registry',
    });
    await assert.rejects(EventCodec.forWriting(registryClient(untrusting), topics), /certificate/);
    assert.equal(refused.length, before);
  });
});
