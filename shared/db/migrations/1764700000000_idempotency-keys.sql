-- Up Migration

-- The command API's bookkeeping, apart from the projections (a rebuild never touches it).
CREATE SCHEMA commands;

-- One row per Idempotency-Key a principal has used: claimed before anything is written, so two
-- instances racing on one key meet on the primary key, and answered once Kafka acknowledged.
-- `accepted_at` is the time of the first attempt; the events' ids and times derive from it, so a
-- retry writes the very same events and the projections' eventId dedup skips them. The answer is
-- json, not jsonb, so a retry gets the first answer byte for byte (jsonb reorders keys).
CREATE TABLE commands.idempotency_keys (
  principal       text NOT NULL,
  idempotency_key text NOT NULL,
  fingerprint     text NOT NULL,
  accepted_at     timestamptz NOT NULL,
  expires_at      timestamptz NOT NULL,
  answer          json,
  PRIMARY KEY (principal, idempotency_key)
);
CREATE INDEX idempotency_keys_expiry_idx ON commands.idempotency_keys (expires_at);

-- Down Migration

DROP SCHEMA commands CASCADE;
