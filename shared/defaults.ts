/**
 * Local defaults, in one place. The launcher, the services and docker-compose.yml use the same
 * environment names; these values are what a developer gets without setting any of them.
 */
export const DEFAULTS = {
  KAFKA_BROKERS: 'localhost:9092',
  SCHEMA_REGISTRY_URL: 'http://localhost:8085/apis/ccompat/v7',
  /** Where the launcher's embedded Postgres listens when DATABASE_URL is not given. */
  DATABASE_URL: 'postgres://moviecat:moviecat@127.0.0.1:54329/moviecat',
  TOPIC_MOVIE_METADATA: 'movie-metadata',
  TOPIC_MOVIE_RATINGS: 'movie-ratings',
  /** A source topic's dead-letter topic is its name plus this, unless TOPIC_*_DLQ says otherwise. */
  DEAD_LETTER_SUFFIX: '.dlq',
  TOPIC_PARTITIONS: 6,
  HOST: '127.0.0.1',
  COMMAND_API_PORT: 8081,
  QUERY_API_PORT: 8082,
  PROJECTOR_PORT: 8083,
  PROJECTOR_GROUP_ID: 'movie-catalogue-projectors',
  /** A rebuild's consumer group is this plus the projection's name (the cluster's ACLs grant the prefix). */
  REBUILD_GROUP_PREFIX: 'movie-catalogue-rebuild-',
  /** The dead-letter tool reads a record through a throwaway group named with this prefix. */
  DLQ_READER_GROUP_PREFIX: 'movie-catalogue-dlq-',
  LOG_LEVEL: 'info',
  /** How long a command waits for Kafka's acks=all before answering 503. */
  KAFKA_ACK_TIMEOUT_MS: 3000,
  /** 0: a send goes out on the next turn of the event loop, with whatever requests have arrived. */
  KAFKA_LINGER_MS: 0,
  KAFKA_MAX_BATCH_EVENTS: 5000,
  /** How long a used Idempotency-Key is remembered: a retry later than this is a new command. */
  IDEMPOTENCY_KEY_TTL_HOURS: 24,
  /** The most a request may take from arrival to answer: 503 after it. */
  REQUEST_TIMEOUT_MS: 10_000,
  /** Commands per principal per window (per instance): 100/s sustained, with room for bursts. */
  RATE_LIMIT_MAX: 1000,
  RATE_LIMIT_WINDOW_MS: 10_000,
  /** The command API's Postgres work (key claims, If-Match reads) is one short statement each. */
  COMMAND_DB_TIMEOUT_MS: 1000,
  /** A read model query is a key lookup or one short index range. */
  QUERY_STATEMENT_TIMEOUT_MS: 50,
} as const;

/**
 * Node's flags for the command API, wherever it is launched (`npm start`, docker-compose.yml, the
 * benches): a larger young generation, since each command's garbage is short-lived and fewer
 * scavenges cost about 7% less CPU per rating (docs/performance.md).
 */
export const COMMAND_API_NODE_FLAGS = ['--max-semi-space-size=64'] as const;
