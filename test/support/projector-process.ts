import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../../infra/paths.ts';
import type { TestTopics } from './services.ts';
import { services } from './services.ts';

export interface ProjectorProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/** A real projector process, as `npm start` runs it, on the test's topics, group and database. */
export function startProjectorProcess(options: {
  databaseUrl: string;
  topics: Pick<TestTopics, 'movieMetadata' | 'movieRatings' | 'deadLetters'>;
  groupId: string;
  /** More settings, or other values for the ones set here. */
  env?: Record<string, string>;
  /** Node's own flags, such as a profiler's. */
  nodeFlags?: string[];
}): ProjectorProcess {
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), '--import', 'tsx', path.join(REPO_ROOT, 'projectors', 'main.ts')], {
    env: {
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
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
