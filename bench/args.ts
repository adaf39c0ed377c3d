import { parseArgs } from 'node:util';
import type { ConsumerTuning } from '../projectors/consumer/runner.ts';

export interface BenchOptions {
  events: number;
  naiveSample: number;
  seed: number;
  poolSize: number;
  tuning: ConsumerTuning;
  /** Run the projector again on a secured three-node cluster. */
  cluster: boolean;
  /** The off-the-shelf alternative to measure beside the projector, in the same run. */
  peer: 'connect' | undefined;
}

const PEERS = ['connect'] as const;

const USAGE = `usage: npm run bench:projector -- [options]
  --events N                    rating events in the bench topic (default 1000000)
  --naive-sample N              events the naive projector applies (default 20000)
  --seed N                      seed of the generated ratings (default 42)
  --pool-size N                 Postgres pool of the projector (default 8)
  --session-timeout-ms N        projector consumer tuning, defaults as shipped (default 6000)
  --heartbeat-interval-ms N     (default 1000)
  --partitions-concurrently N   (default 3)
  --max-bytes-per-partition N   (default 4194304)
  --peer connect                also run Kafka Connect's JDBC sink on the same topic and print the ratio
  --cluster                     also run the projector on a secured three-node cluster`;

/** Accepts 1000000, 1_000_000 and 1,000,000 alike: big counts are easier to type with separators. */
function count(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const value = Number(text.replaceAll(/[_,]/g, ''));
  if (!Number.isSafeInteger(value) || value < min) {
    console.error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(text)}\n${USAGE}`);
    process.exit(2);
  }
  return value;
}

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      events: { type: 'string' },
      'naive-sample': { type: 'string' },
      seed: { type: 'string' },
      'pool-size': { type: 'string' },
      'session-timeout-ms': { type: 'string' },
      'heartbeat-interval-ms': { type: 'string' },
      'partitions-concurrently': { type: 'string' },
      'max-bytes-per-partition': { type: 'string' },
      peer: { type: 'string' },
      cluster: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const events = count('events', values.events, 1_000_000);
  const peer = values.peer;
  if (peer !== undefined && !PEERS.includes(peer as (typeof PEERS)[number])) {
    console.error(`--peer must be one of ${PEERS.join(', ')}, got ${JSON.stringify(peer)}\n${USAGE}`);
    process.exit(2);
  }
  return {
    events,
    // The naive run cannot apply more events than the topic holds.
    naiveSample: Math.min(events, count('naive-sample', values['naive-sample'], 20_000)),
    seed: count('seed', values.seed, 42, 0),
    poolSize: count('pool-size', values['pool-size'], 8),
    tuning: {
      sessionTimeoutMs: count('session-timeout-ms', values['session-timeout-ms'], 6_000),
      heartbeatIntervalMs: count('heartbeat-interval-ms', values['heartbeat-interval-ms'], 1_000),
      partitionsConsumedConcurrently: count('partitions-concurrently', values['partitions-concurrently'], 3),
      maxBytesPerPartition: count('max-bytes-per-partition', values['max-bytes-per-partition'], 4 * 1024 * 1024),
    },
    cluster: values.cluster === true,
    peer: peer as BenchOptions['peer'],
  };
}
