-- Up Migration

-- One schema per projection, holding its read model and its bookkeeping together, so that a
-- rebuild can fill a shadow schema of the same shape and swap it in as a whole.
CREATE SCHEMA movie_details;
CREATE SCHEMA ratings;
ALTER TABLE public.movies SET SCHEMA movie_details;
ALTER TABLE public.ratings SET SCHEMA ratings;
ALTER TABLE public.rating_aggregates SET SCHEMA ratings;

DO $$
DECLARE
  target text;
BEGIN
  FOREACH target IN ARRAY ARRAY['movie_details', 'ratings'] LOOP
    -- Next offset to read per partition, written in the read model's transaction.
    EXECUTE format($sql$
      CREATE TABLE %I.projection_offsets (
        topic       text NOT NULL,
        partition   integer NOT NULL,
        next_offset bigint NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (topic, partition)
      )$sql$, target);

    -- What became of every event the projection has seen, by eventId: the dedup guard and the
    -- answer to "what happened to my command". Parked events keep their position for a redrive.
    EXECUTE format($sql$
      CREATE TABLE %I.event_outcomes (
        event_id    uuid PRIMARY KEY,
        status      text NOT NULL CHECK (status IN ('applied', 'rejected', 'dead_lettered', 'parked')),
        reason      text,
        topic       text NOT NULL,
        partition   integer NOT NULL,
        "offset"    bigint NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now()
      )$sql$, target);
    EXECUTE format('CREATE INDEX event_outcomes_unsettled_idx ON %I.event_outcomes (topic, partition, "offset") WHERE status <> ''applied''', target);

    -- Keys with a dead-lettered event: their later events are parked until a redrive releases them.
    -- Per partition, as Kafka orders a key's records only within one.
    EXECUTE format($sql$
      CREATE TABLE %I.parked_keys (
        topic        text NOT NULL,
        key          bytea NOT NULL,
        partition    integer NOT NULL,
        since_offset bigint NOT NULL,
        reason       text NOT NULL,
        parked_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (topic, partition, key)
      )$sql$, target);

    -- Every record sent to the dead-letter topic and why; the log keeps the record itself at its offset.
    EXECUTE format($sql$
      CREATE TABLE %I.dead_letters (
        topic            text NOT NULL,
        partition        integer NOT NULL,
        "offset"         bigint NOT NULL,
        key              bytea,
        event_id         uuid,
        error_code       text NOT NULL,
        message          text NOT NULL,
        dlq_topic        text NOT NULL,
        dead_lettered_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (topic, partition, "offset")
      )$sql$, target);
  END LOOP;
END $$;

INSERT INTO movie_details.projection_offsets (topic, partition, next_offset, updated_at)
  SELECT topic, partition, next_offset, updated_at FROM public.projection_offsets WHERE projection = 'movie-details';
INSERT INTO ratings.projection_offsets (topic, partition, next_offset, updated_at)
  SELECT topic, partition, next_offset, updated_at FROM public.projection_offsets WHERE projection = 'ratings';
DROP TABLE public.projection_offsets;

-- Down Migration

CREATE TABLE public.projection_offsets (
  projection  text NOT NULL,
  topic       text NOT NULL,
  partition   integer NOT NULL,
  next_offset bigint NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, topic, partition)
);
INSERT INTO public.projection_offsets SELECT 'movie-details', topic, partition, next_offset, updated_at FROM movie_details.projection_offsets;
INSERT INTO public.projection_offsets SELECT 'ratings', topic, partition, next_offset, updated_at FROM ratings.projection_offsets;
ALTER TABLE movie_details.movies SET SCHEMA public;
ALTER TABLE ratings.ratings SET SCHEMA public;
ALTER TABLE ratings.rating_aggregates SET SCHEMA public;
DROP SCHEMA movie_details CASCADE;
DROP SCHEMA ratings CASCADE;
