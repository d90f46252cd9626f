-- extend-syncd schema, version 16: what analysts met in the views, besides the typed views of issue 20.
--
-- * run_overview.sync_state says in_review for a pending run whose last snapshot is NEEDS_REVIEW (it said
--   pending, as for a run about to be fetched); sync_health counts such runs in a column of its own.
-- * Every interval column gets a numeric <name>_seconds beside it (BI tools chart intervals badly).
-- * Seconds, percentiles and averages are numeric rounded to milliseconds (3 decimals): percentile_cont
--   works in float8 and showed 221.49999999999997.  workflow_daily's percentiles change type (float8 to
--   numeric), which CREATE OR REPLACE VIEW cannot do: that view is dropped and made again, with its
--   comments and its grant.  The other views keep their columns in order and append new ones.
-- * Runs deleted at Extend (workflow_runs.deleted_at, 015) are left out of the readers' views;
--   run_overview_all shows every run, with deleted_at, and the tables keep everything.

-- Every run, deleted at Extend or not; run_overview is this without the deleted ones.
CREATE VIEW run_overview_all AS
SELECT r.id AS run_id, r.name, r.status, r.workflow_id, r.workflow_name, r.workflow_version, r.batch_id,
       r.initial_run_at, r.start_time, r.end_time,
       CASE WHEN r.end_time >= r.start_time THEN round(extract(epoch FROM r.end_time - r.start_time), 3) END
           AS processing_seconds,
       CASE WHEN r.start_time >= r.initial_run_at THEN round(extract(epoch FROM r.start_time - r.initial_run_at), 3) END
           AS queue_seconds,
       r.credits,
       (SELECT count(*) FROM workflow_run_files f WHERE f.run_id = r.id) AS files,
       (SELECT count(*) FROM workflow_run_file_pages p WHERE p.run_id = r.id) AS pages,
       (SELECT coalesce(sum(f.page_count), 0) FROM workflow_run_files f WHERE f.run_id = r.id) AS page_count,
       (SELECT count(*) FROM processor_runs p WHERE p.run_id = r.id) AS processor_runs,
       (SELECT count(*) FROM step_run_rules u WHERE u.run_id = r.id AND u.valid IS FALSE) AS failed_rules,
       r.reviewed, r.reviewed_by, r.reviewed_at, r.rejection_note, r.failure_reason, r.failure_message,
       CASE WHEN q.state = 'pending' AND r.status = 'NEEDS_REVIEW' THEN 'in_review' ELSE q.state END AS sync_state,
       q.last_synced_at, q.attempts AS sync_attempts, q.last_error AS sync_error,
       r.deleted_at
FROM workflow_runs r
LEFT JOIN sync_queue q ON q.run_id = r.id;

CREATE OR REPLACE VIEW run_overview AS
SELECT run_id, name, status, workflow_id, workflow_name, workflow_version, batch_id,
       initial_run_at, start_time, end_time, processing_seconds, queue_seconds, credits,
       files, pages, page_count, processor_runs, failed_rules,
       reviewed, reviewed_by, reviewed_at, rejection_note, failure_reason, failure_message,
       sync_state, last_synced_at, sync_attempts, sync_error
FROM run_overview_all
WHERE deleted_at IS NULL;

COMMENT ON VIEW run_overview IS 'One row per run (runs deleted at Extend left out: see run_overview_all): status, workflow, times, credits, counts, review facts and sync state';
COMMENT ON VIEW run_overview_all IS 'run_overview with the runs deleted at Extend too, and when the daemon learned of it (deleted_at)';
COMMENT ON COLUMN run_overview.processing_seconds IS 'end_time - start_time in seconds (3 decimals); NULL when either is missing or the end is before the start';
COMMENT ON COLUMN run_overview.queue_seconds IS 'start_time - initial_run_at in seconds (3 decimals); NULL when either is missing or the start is before the initial run';
COMMENT ON COLUMN run_overview.sync_state IS 'Queue state of the run: pending (to be fetched), in_review (pending, last seen NEEDS_REVIEW: checked slowly until a reviewer acts), done or failed';

-- run_overview_all's columns say what run_overview's say, and deleted_at
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT a.attname, d.description
             FROM pg_attribute a JOIN pg_description d ON d.objoid = a.attrelid AND d.objsubid = a.attnum
             WHERE a.attrelid = 'run_overview'::regclass AND a.attnum > 0 LOOP
        EXECUTE format('COMMENT ON COLUMN run_overview_all.%I IS %L', c.attname, c.description);
    END LOOP;
END $$;
COMMENT ON COLUMN run_overview_all.deleted_at IS 'When the API first answered 404 for this stored run (deleted at Extend); NULL while it exists';

DROP VIEW workflow_daily;
CREATE VIEW workflow_daily AS
SELECT (r.initial_run_at AT TIME ZONE 'UTC')::date AS day,
       r.workflow_id, max(r.workflow_name) AS workflow_name,
       count(*) AS runs,
       count(*) FILTER (WHERE r.status = 'PROCESSED') AS processed,
       count(*) FILTER (WHERE r.status = 'FAILED') AS failed,
       count(*) FILTER (WHERE r.status = 'REJECTED') AS rejected,
       count(*) FILTER (WHERE r.status = 'NEEDS_REVIEW') AS in_review,
       coalesce(sum(r.credits), 0) AS credits,
       -- finished runs only; an end before the start is bad data, not a fast run
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.end_time - r.start_time))
           FILTER (WHERE r.status IN ('PROCESSED', 'FAILED', 'CANCELLED', 'REJECTED') AND r.end_time >= r.start_time)
           ::numeric, 3) AS median_processing_seconds,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM r.end_time - r.start_time))
           FILTER (WHERE r.status IN ('PROCESSED', 'FAILED', 'CANCELLED', 'REJECTED') AND r.end_time >= r.start_time)
           ::numeric, 3) AS p95_processing_seconds
FROM workflow_runs r
WHERE r.deleted_at IS NULL
GROUP BY 1, 2;

COMMENT ON VIEW workflow_daily IS 'Per day (UTC, of initialRunAt) and workflow: runs by outcome, credits, median and 95th percentile processing seconds of finished runs (runs deleted at Extend left out)';
COMMENT ON COLUMN workflow_daily.day IS 'Day (UTC) of initial_run_at';
COMMENT ON COLUMN workflow_daily.workflow_id IS 'The workflow';
COMMENT ON COLUMN workflow_daily.workflow_name IS 'Name of the workflow';
COMMENT ON COLUMN workflow_daily.runs IS 'Runs started that day';
COMMENT ON COLUMN workflow_daily.processed IS 'Of them, PROCESSED';
COMMENT ON COLUMN workflow_daily.failed IS 'Of them, FAILED';
COMMENT ON COLUMN workflow_daily.rejected IS 'Of them, REJECTED';
COMMENT ON COLUMN workflow_daily.in_review IS 'Of them, NEEDS_REVIEW now';
COMMENT ON COLUMN workflow_daily.credits IS 'Credits they used';
COMMENT ON COLUMN workflow_daily.median_processing_seconds IS 'Median end_time - start_time in seconds (3 decimals) of the finished ones with consistent times';
COMMENT ON COLUMN workflow_daily.p95_processing_seconds IS '95th percentile of end_time - start_time in seconds (3 decimals) of the finished ones with consistent times';
SELECT grant_reader('workflow_daily', 'run_overview_all');

CREATE OR REPLACE VIEW review_backlog AS
SELECT r.id AS run_id, r.name, r.workflow_id, r.workflow_name, r.batch_id, r.initial_run_at,
       h.observed_at AS in_review_since,
       now() - h.observed_at AS in_review_for,
       round(extract(epoch FROM now() - h.observed_at), 3) AS in_review_for_seconds
FROM workflow_runs r
LEFT JOIN LATERAL (
    SELECT CASE WHEN l.run_id = r.id AND l.status = 'NEEDS_REVIEW' THEN l.observed_at END AS observed_at
    FROM run_status_history l
    WHERE l.run_id <= r.id ORDER BY l.run_id DESC, l.id DESC LIMIT 1) h ON true
WHERE r.status = 'NEEDS_REVIEW' AND r.deleted_at IS NULL;

COMMENT ON VIEW review_backlog IS 'Runs now in NEEDS_REVIEW, and since when (from run_status_history); runs deleted at Extend left out';
COMMENT ON COLUMN review_backlog.in_review_for_seconds IS 'in_review_for in seconds (3 decimals)';

CREATE OR REPLACE VIEW field_quality AS
SELECT e.processor_name, e.path,
       count(*) AS values_seen,
       count(*) FILTER (WHERE e.value_text IS NOT NULL) AS values_present,
       round(avg(e.ocr_confidence), 3) AS avg_ocr_confidence,
       round(avg(e.logprobs_confidence), 3) AS avg_logprobs_confidence,
       round(avg(e.review_agent_score), 3) AS avg_review_agent_score,
       round(avg(e.edited::int), 3) AS share_edited
FROM extracted_fields e
WHERE NOT EXISTS (SELECT 1 FROM workflow_runs r WHERE r.id = e.run_id AND r.deleted_at IS NOT NULL)
GROUP BY e.processor_name, e.path;

COMMENT ON VIEW field_quality IS 'Per processor and field path: values seen, average confidences, share edited by reviewers (3 decimals; runs deleted at Extend left out)';

-- sync_health as in 014, with in_review (of pending) and oldest_due_lateness in seconds appended
CREATE OR REPLACE VIEW sync_health AS
WITH p AS (
    SELECT count(*) AS pending,
           count(*) FILTER (WHERE attempts = 0 AND last_status IN ('PENDING', 'PROCESSING', 'CANCELLING')) AS in_motion,
           count(*) FILTER (WHERE attempts = 0 AND priority = 2) AS parked,
           count(*) FILTER (WHERE attempts > 0) AS retrying,
           count(*) FILTER (WHERE lease_owner IS NOT NULL AND lease_expires_at > now()) AS leased,
           coalesce(max(now() - next_attempt_at) FILTER (WHERE next_attempt_at <= now()), interval '0')
               AS oldest_due_lateness,
           count(*) FILTER (WHERE last_status = 'NEEDS_REVIEW') AS in_review
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
       f.failed_last_hour,
       p.in_review,
       round(extract(epoch FROM p.oldest_due_lateness), 3) AS oldest_due_lateness_seconds
FROM p, f, r;

COMMENT ON COLUMN sync_health.pending IS 'Runs that will be fetched when due (in_review ones included)';
COMMENT ON COLUMN sync_health.in_review IS 'Of the pending runs, those last seen NEEDS_REVIEW (run_overview.sync_state in_review)';
COMMENT ON COLUMN sync_health.oldest_due_lateness_seconds IS 'oldest_due_lateness in seconds (3 decimals)';

-- extracted_fields: a leaf's value as a date when it is a real ISO date (YYYY-MM-DD; 2025-02-31 is not, and is
-- NULL, never an error), and as a boolean when it is a JSON boolean.  The daemon writes both (src/normalize.c);
-- the rows stored before are filled here, validated before the cast (CASE keeps the order) so that no row
-- raises.  Adding the columns rewrites nothing; the UPDATE rewrites only the rows it fills (strings shaped as
-- dates, and booleans): on a large table, count on that many row versions and their index entries.
ALTER TABLE extracted_fields ADD COLUMN value_date date, ADD COLUMN value_boolean boolean;
COMMENT ON COLUMN extracted_fields.value_date IS 'The leaf when it is a string holding a real ISO date YYYY-MM-DD (2025-02-31 is NULL)';
COMMENT ON COLUMN extracted_fields.value_boolean IS 'The leaf when it is a JSON boolean';

UPDATE extracted_fields
SET value_date = CASE
        WHEN jsonb_typeof(value) = 'string'
             AND value_text ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$'
             AND left(value_text, 4) <> '0000' THEN
            CASE WHEN substr(value_text, 9, 2)::int <= CASE substr(value_text, 6, 2)::int
                          WHEN 2 THEN CASE WHEN left(value_text, 4)::int % 4 = 0
                                                AND (left(value_text, 4)::int % 100 <> 0
                                                     OR left(value_text, 4)::int % 400 = 0)
                                           THEN 29 ELSE 28 END
                          WHEN 4 THEN 30 WHEN 6 THEN 30 WHEN 9 THEN 30 WHEN 11 THEN 30
                          ELSE 31 END
                 THEN value_text::date END
    END,
    value_boolean = CASE WHEN jsonb_typeof(value) = 'boolean' THEN value = 'true'::jsonb END
WHERE jsonb_typeof(value) = 'boolean'
   OR (jsonb_typeof(value) = 'string' AND value_text ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$');
