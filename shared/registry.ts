import http from 'node:http';
import https from 'node:https';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';

/** Where the schema registry is, and how to reach it: basic auth (as Confluent Cloud asks) and a CA for https. */
export interface RegistryConnection {
  url: string;
  auth?: { username: string; password: string } | undefined;
  ca?: string | undefined;
}

/** The connection to a registry that asks for nothing but its address, as the local one. */
export const openRegistry = (url: string): RegistryConnection => ({ url });

export interface RegistryResponse {
  status: number;
  body: string;
}

/** One agent per connection, so that the registry client and our own requests share sockets and trust the same CA. */
const agents = new WeakMap<RegistryConnection, http.Agent>();

function agentOf(registry: RegistryConnection): http.Agent {
  let agent = agents.get(registry);
  if (!agent) {
    agent = registry.url.startsWith('https:')
      ? new https.Agent({ keepAlive: true, ...(registry.ca ? { ca: registry.ca } : {}) })
      : new http.Agent({ keepAlive: true });
    agents.set(registry, agent);
  }
  return agent;
}

/** The registry client that registers our schemas, with the same credentials and CA as `registryRequest`. */
export function registryClient(registry: RegistryConnection): SchemaRegistry {
  return new SchemaRegistry({
    host: registry.url,
    retry: { retries: 2 },
    agent: agentOf(registry),
    ...(registry.auth ? { auth: registry.auth } : {}),
  });
}

/** A request to the registry's Confluent API (path after the base URL), with the connection's credentials and CA. */
export function registryRequest(
  registry: RegistryConnection,
  path: string,
  init: { method?: string; body?: unknown; timeoutMs: number },
): Promise<RegistryResponse> {
  const target = new URL(`${registry.url.replace(/\/$/, '')}${path}`);
  const body = init.body === undefined ? undefined : JSON.stringify(init.body);
  const headers: Record<string, string> = { accept: 'application/vnd.schemaregistry.v1+json, application/json' };
  if (body !== undefined) headers['content-type'] = 'application/vnd.schemaregistry.v1+json';
  if (registry.auth)
    headers.authorization = `Basic ${Buffer.from(`${registry.auth.username}:${registry.auth.password}`).toString('base64')}`;
  const send = target.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const request = send(
      target,
      { method: init.method ?? 'GET', headers, agent: agentOf(registry), signal: AbortSignal.timeout(init.timeoutMs) },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
