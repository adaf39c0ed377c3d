-- Up Migration

-- The key store of crypto-shredding, apart from the projections: no rebuild drops or swaps it, and
-- losing it loses every subject's link to their events. Subjects are found by a keyed hash of
-- their id, so neither table holds an id in clear.
CREATE SCHEMA privacy;

-- One data key per subject that has personal fields in the log. Forgetting a subject deletes its
-- row: the events sealed under the key can no longer be read by anyone.
CREATE TABLE privacy.subject_keys (
  subject_hash text PRIMARY KEY,
  key_id       uuid NOT NULL UNIQUE,
  data_key     bytea NOT NULL CHECK (length(data_key) = 32),
  created_at   timestamptz NOT NULL DEFAULT now()
);

-- When each forgotten subject was forgotten, for `GET /v1/users/{userId}/erasure`.
CREATE TABLE privacy.erasures (
  subject_hash text PRIMARY KEY,
  forgotten_at timestamptz NOT NULL
);

-- Down Migration

DROP SCHEMA privacy CASCADE;
