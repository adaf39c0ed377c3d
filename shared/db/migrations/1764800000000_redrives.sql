-- Up Migration

-- Operators' bookkeeping, apart from the projections: a rebuild swaps a projection's schema, and
-- must find here the redrives it re-reads in the log.
CREATE SCHEMA operations;

-- One row per redrive: copies of a dead-lettered record and of the events parked behind it,
-- written again to the same partition with a `dlq.redrive` header naming this row. A projection
-- that reads a copy of a redrive registered for its key releases the key there (the copies apply
-- in order) and lets the copied events through its eventId dedup once more. `outcome` is what
-- became of the first copy, the dead letter itself; null until the projection got there.
CREATE TABLE operations.redrives (
  redrive_id         uuid PRIMARY KEY,
  projection         text NOT NULL,
  topic              text NOT NULL,
  partition          integer NOT NULL,
  key                bytea,
  dead_letter_offset bigint NOT NULL,
  records            integer NOT NULL,
  requested_by       text NOT NULL,
  requested_at       timestamptz NOT NULL DEFAULT now(),
  outcome            text,
  settled_at         timestamptz
);

-- Down Migration

DROP SCHEMA operations CASCADE;
