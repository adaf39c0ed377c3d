import { mkdirSync } from 'node:fs';
import { java, startDaemon, stopDaemon, waitUntil } from './daemon.ts';
import { dataPath } from './paths.ts';
import type { InfraService } from './service.ts';
import type { Artifacts } from './artifacts.ts';

/**
 * Apicurio Registry serving its Confluent-compatible API, storing schemas in an H2 file under
 * the data folder so schema ids survive restarts (messages in Kafka refer to them).
 */
export function registryService(url: string, artifacts: () => Artifacts): InfraService {
  const { hostname, port } = new URL(url);
  const subjects = `${url.replace(/\/$/, '')}/subjects`;
  const answers = async () => (await fetch(subjects, { signal: AbortSignal.timeout(2000) })).ok;

  return {
    name: 'schema-registry',
    address: url,
    isUp: () => answers().catch(() => false),
    async start() {
      mkdirSync(dataPath('registry'), { recursive: true });
      startDaemon({
        name: 'schema-registry',
        command: java(),
        args: [
          '-Xmx512m',
          `-Dquarkus.http.host=${hostname}`,
          `-Dquarkus.http.port=${port || '80'}`,
          '-Dquarkus.http.access-log.enabled=false',
          `-Dapicurio.datasource.url=jdbc:h2:file:${dataPath('registry', 'registry')}`,
          '-jar',
          artifacts().registryJar,
        ],
      });
      await waitUntil('schema-registry', answers, 120_000);
    },
    stop: () => stopDaemon('schema-registry'),
  };
}
