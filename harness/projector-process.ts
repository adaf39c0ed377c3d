import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../infra/paths.ts';
import type { TestTopics } from './services.ts';
import { services } from './services.ts';

export interface ProjectorProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

interface ProjectorSetting {
  databaseUrl: string;
  topics: Pick<TestTopics, 'movieMetadata' | 'movieRatings' | 'deadLetters'>;
  groupId: string;
  /** More settings, or other values for the ones set here. */
  env?: Record<string, string>;
}

/** The environment a projector (or the replay tool, which shares its configuration) runs with in tests. */
function projectorEnv(options: ProjectorSetting): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KAFKA_BROKERS: services.brokers.join(','),
    SCHEMA_REGISTRY_URL: services.registryUrl,
    DATABASE_URL: options.databaseUrl,
    TOPIC_MOVIE_METADATA: options.topics.movieMetadata,
    TOPIC_MOVIE_RATINGS: options.topics.movieRatings,
    TOPIC_MOVIE_METADATA_DLQ: options.topics.deadLetters.get(options.topics.movieMetadata),
    TOPIC_MOVIE_RATINGS_DLQ: options.topics.deadLetters.get(options.topics.movieRatings),
    PROJECTOR_GROUP_ID: options.groupId,
    PROJECTOR_PORT: '0',
    PROJECTOR_HEARTBEAT_INTERVAL_MS: '500',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...options.env,
  };
}

function watch(child: ChildProcess): ProjectorProcess {
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    exited,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** A real projector process, as `npm start` runs it, on the test's topics, group and database. */
export function startProjectorProcess(options: ProjectorSetting & { nodeFlags?: string[] }): ProjectorProcess {
  const child = spawn(
    process.execPath,
    [...(options.nodeFlags ?? []), '--import', 'tsx', path.join(REPO_ROOT, 'projectors', 'main.ts')],
    {
      env: projectorEnv(options),
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  return watch(child);
}

export interface ToolProcess extends ProjectorProcess {
  /** Everything it printed on stdout so far. */
  output(): string;
  /** And on stderr: its errors and usage, kept out of the test report. */
  errors(): string;
}

/** `npm run replay -- ...args` or `npm run dlq -- ...args` as an operator runs it, with the test's projector settings. */
export function startToolProcess(
  tool: 'replay' | 'dlq',
  args: string[],
  options: ProjectorSetting & { nodeFlags?: string[] },
): ToolProcess {
  const child = spawn(
    process.execPath,
    [...(options.nodeFlags ?? []), '--import', 'tsx', path.join(REPO_ROOT, 'projectors', tool, 'cli.ts'), ...args],
    {
      env: projectorEnv(options),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let [output, errors] = ['', ''];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
  return { ...watch(child), output: () => output, errors: () => errors };
}
