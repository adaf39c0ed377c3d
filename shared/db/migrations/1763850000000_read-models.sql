-- Up Migration

-- Movie metadata as last set by an admin; `version` counts the changes applied.
CREATE TABLE movies (
  movie_id    text PRIMARY KEY,
  title       text NOT NULL,
  description text NOT NULL,
  director    text NOT NULL,
  year        integer,
  actors      jsonb NOT NULL,
  version     integer NOT NULL CHECK (version > 0),
  updated_at  timestamptz NOT NULL
);
CREATE INDEX movies_director_idx ON movies (director, movie_id);

-- The current rating of each user for each record.
CREATE TABLE ratings (
  record_type text NOT NULL,
  record_id   text NOT NULL,
  user_id     text NOT NULL,
  value       smallint NOT NULL CHECK (value BETWEEN 1 AND 5),
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (record_type, record_id, user_id)
);

-- Kept in step with `ratings` in the same transaction, so a read never scans a record's ratings.
-- Batches add signed deltas through INSERT .. ON CONFLICT, whose proposed row must pass every
-- CHECK even when it only updates: hence no non-negative checks on the counts.
CREATE TABLE rating_aggregates (
  record_type text NOT NULL,
  record_id   text NOT NULL,
  count       integer NOT NULL,
  sum         bigint NOT NULL,
  count_1     integer NOT NULL,
  count_2     integer NOT NULL,
  count_3     integer NOT NULL,
  count_4     integer NOT NULL,
  count_5     integer NOT NULL,
  PRIMARY KEY (record_type, record_id)
);

-- Next offset to apply per projection and partition, written in the read model's transaction.
CREATE TABLE projection_offsets (
  projection  text NOT NULL,
  topic       text NOT NULL,
  partition   integer NOT NULL,
  next_offset bigint NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, topic, partition)
);

-- Down Migration

DROP TABLE projection_offsets;
DROP TABLE rating_aggregates;
DROP TABLE ratings;
DROP TABLE movies;
