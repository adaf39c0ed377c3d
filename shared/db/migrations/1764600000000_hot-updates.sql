-- Up Migration

-- Aggregates are rewritten by nearly every batch that touches their record, and ratings on
-- every re-rating; room left free on each page lets Postgres update them in place (HOT),
-- without a new index entry per update.
ALTER TABLE ratings.rating_aggregates SET (fillfactor = 50);
ALTER TABLE ratings.ratings SET (fillfactor = 90);

-- Down Migration

ALTER TABLE ratings.rating_aggregates RESET (fillfactor);
ALTER TABLE ratings.ratings RESET (fillfactor);
