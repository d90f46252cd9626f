-- extend-syncd schema, version 14: the dashboards' views read what they show, not every queue row.
--
-- sync_health counted every row of sync_queue on each read: at 10 M runs, a full scan for each poll of a
-- dashboard.  Now the pending runs' columns come from the pending rows only (the partial claim indexes
-- hold them); failed runs through a partial index of their own (failed_last_hour too, and --drain's
-- counts); last_successful_sync from an index on last_synced_at (one descent); done runs are counted while
-- the queue holds up to 100,000 rows, and above that estimated as the planner does (the table's rows less
-- the pending and failed ones), as the daemon's own status line does.  Building the two indexes holds off
-- writes to the queue while it lasts; on a large queue they can be built beforehand (in the daemon's
-- schema, "extend" by default), and this then keeps them:
--   CREATE INDEX CONCURRENTLY sync_queue_last_synced ON extend.sync_queue (last_synced_at);
--   CREATE INDEX CONCURRENTLY sync_queue_failed ON extend.sync_queue (finished_at) WHERE state = 'failed';
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('sync_queue_last_synced') AND NOT indisvalid) THEN
        DROP INDEX sync_queue_last_synced;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('sync_queue_failed') AND NOT indisvalid) THEN
        DROP INDEX sync_queue_failed;
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS sync_queue_last_synced ON sync_queue (last_synced_at);
CREATE INDEX IF NOT EXISTS sync_queue_failed ON sync_queue (finished_at) WHERE state = 'failed';

CREATE OR REPLACE VIEW sync_health AS
WITH p AS (
    SELECT count(*) AS pending,
           count(*) FILTER (WHERE attempts = 0 AND last_status IN ('PENDING', 'PROCESSING', 'CANCELLING')) AS in_motion,
           count(*) FILTER (WHERE attempts = 0 AND priority = 2) AS parked,
           count(*) FILTER (WHERE attempts > 0) AS retrying,
           count(*) FILTER (WHERE lease_owner IS NOT NULL AND lease_expires_at > now()) AS leased,
           coalesce(max(now() - next_attempt_at) FILTER (WHERE next_attempt_at <= now()), interval '0')
               AS oldest_due_lateness
    FROM sync_queue WHERE state = 'pending'),
f AS (
    SELECT count(*) AS failed, count(*) FILTER (WHERE finished_at > now() - interval '1 hour') AS failed_last_hour
    FROM sync_queue WHERE state = 'failed'),
-- the table's rows now: reltuples (-1 before the first ANALYZE) scaled to its size now
r AS (
    SELECT CASE WHEN c.relpages > 0
                THEN c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::float8)
                ELSE c.reltuples END AS est
    FROM pg_class c WHERE c.oid = 'sync_queue'::regclass)
SELECT p.pending,
       CASE WHEN r.est > 100000 THEN greatest(round(r.est)::bigint - p.pending - f.failed, 0)
            ELSE (SELECT count(*) FROM sync_queue WHERE state = 'done') END AS done,
       f.failed, p.in_motion, p.parked, p.retrying, p.leased, p.oldest_due_lateness,
       (SELECT max(last_synced_at) FROM sync_queue) AS last_successful_sync,
       f.failed_last_hour
FROM p, f, r;

COMMENT ON COLUMN sync_health.done IS
    'Runs that reached a final status (counted up to 100,000 queue rows, estimated from the table''s size above)';

-- review_backlog asked for a run's latest NEEDS_REVIEW row as "run_id = ... ORDER BY id DESC LIMIT 1",
-- which the planner may answer by reading the primary key backwards (the whole table, for a run whose rows
-- are few and old).  Asked in the order of run_status_history_latest (012), as the store asks: one descent
-- of it.  A run now in NEEDS_REVIEW has its move into it as its latest history row (rows are written when
-- the status changes, in the transaction that stores it).
CREATE OR REPLACE VIEW review_backlog AS
SELECT r.id AS run_id, r.name, r.workflow_id, r.workflow_name, r.batch_id, r.initial_run_at,
       h.observed_at AS in_review_since,
       now() - h.observed_at AS in_review_for
FROM workflow_runs r
LEFT JOIN LATERAL (
    SELECT CASE WHEN l.run_id = r.id AND l.status = 'NEEDS_REVIEW' THEN l.observed_at END AS observed_at
    FROM run_status_history l
    WHERE l.run_id <= r.id ORDER BY l.run_id DESC, l.id DESC LIMIT 1) h ON true
WHERE r.status = 'NEEDS_REVIEW';
