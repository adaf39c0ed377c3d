import { Kafka, logLevel, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Logger } from '../logger.ts';

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * Broker answers that a healthy cluster gives while a group rebalances, a coordinator loads or a
 * leader moves, and that kafkajs retries by itself; kafkajs logs each as an error. A request that
 * still fails reaches our code, which logs it, so these go to debug.
 */
const RETRIED_ANSWERS = new Set([
  'The group is rebalancing, so a rejoin is needed',
  "The coordinator is loading and hence can't process requests for this group",
  'This is not the correct coordinator for this group',
  'There is no leader for this topic-partition as we are in the middle of a leadership election',
  'This server is not the leader for that topic-partition',
]);

const levelOf = (level: logLevel, entry: LogEntry['log']) =>
  level === logLevel.ERROR && entry.message.startsWith('Response ') && RETRIED_ANSWERS.has(String(entry.error))
    ? 'debug'
    : (LEVELS[level] ?? 'info');

/** Where Kafka is and how to prove who we are to it; `tls` and `sasl` are absent on a plaintext cluster. */
export interface KafkaConnection {
  brokers: string[];
  /** TLS to the brokers: a CA for their certificates (Node's bundle without one), a certificate and key for mutual TLS. */
  tls?: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined } | undefined;
  sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string } | undefined;
}

/** A plaintext connection to these brokers, as the local single node serves. */
export const plaintext = (brokers: string[]): KafkaConnection => ({ brokers });

/** A kafkajs client whose own logs go through the process's pino logger. */
export function createKafka(clientId: string, connection: KafkaConnection, logger: Logger): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId,
    ...kafkajsConnection(connection),
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...fields } = entry;
        log[levelOf(level, entry)](fields, message);
      },
  });
}

/** The connection in kafkajs's words. */
export function kafkajsConnection({ brokers, tls, sasl }: KafkaConnection): {
  brokers: string[];
  ssl?: { ca?: string[]; cert?: string; key?: string };
  sasl?: SASLOptions;
} {
  return {
    brokers,
    ...(tls
      ? {
          ssl: {
            ...(tls.ca ? { ca: [tls.ca] } : {}),
            ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
          },
        }
      : {}),
    ...(sasl
      ? {
          sasl: {
            mechanism: sasl.mechanism.toLowerCase(),
            username: sasl.username,
            password: sasl.password,
          } as SASLOptions,
        }
      : {}),
  };
}
