-- extend-syncd schema, version 5: views for dashboards.  No JSON path expressions needed downstream.

CREATE VIEW run_overview AS
SELECT r.id AS run_id, r.name, r.status, r.workflow_id, r.workflow_name, r.workflow_version, r.batch_id,
       r.initial_run_at, r.start_time, r.end_time,
       extract(epoch FROM r.end_time - r.start_time) AS processing_seconds,
       extract(epoch FROM r.start_time - r.initial_run_at) AS queue_seconds,
       r.credits,
       (SELECT count(*) FROM workflow_run_files f WHERE f.run_id = r.id) AS files,
       (SELECT count(*) FROM workflow_run_file_pages p WHERE p.run_id = r.id) AS pages,
       (SELECT coalesce(sum(f.page_count), 0) FROM workflow_run_files f WHERE f.run_id = r.id) AS page_count,
       (SELECT count(*) FROM processor_runs p WHERE p.run_id = r.id) AS processor_runs,
       (SELECT count(*) FROM step_run_rules u WHERE u.run_id = r.id AND u.valid IS FALSE) AS failed_rules,
       r.reviewed, r.reviewed_by, r.reviewed_at, r.rejection_note, r.failure_reason, r.failure_message,
       q.state AS sync_state, q.last_synced_at, q.attempts AS sync_attempts, q.last_error AS sync_error
FROM workflow_runs r
LEFT JOIN sync_queue q ON q.run_id = r.id;

COMMENT ON VIEW run_overview IS 'One row per run: status, workflow, times, credits, counts, review facts and sync state';

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
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.end_time - r.start_time))
           FILTER (WHERE r.status IN ('PROCESSED', 'FAILED', 'CANCELLED', 'REJECTED') AND r.end_time >= r.start_time)
           AS median_processing_seconds,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM r.end_time - r.start_time))
           FILTER (WHERE r.status IN ('PROCESSED', 'FAILED', 'CANCELLED', 'REJECTED') AND r.end_time >= r.start_time)
           AS p95_processing_seconds
FROM workflow_runs r
GROUP BY 1, 2;

COMMENT ON VIEW workflow_daily IS 'Per day (UTC, of initialRunAt) and workflow: runs by outcome, credits, median and 95th percentile processing seconds of finished runs';

CREATE VIEW review_backlog AS
SELECT r.id AS run_id, r.name, r.workflow_id, r.workflow_name, r.batch_id, r.initial_run_at,
       h.observed_at AS in_review_since,
       now() - h.observed_at AS in_review_for
FROM workflow_runs r
LEFT JOIN LATERAL (
    -- the latest move into NEEDS_REVIEW: history rows are written only when the status changes
    SELECT observed_at FROM run_status_history
    WHERE run_id = r.id AND status = 'NEEDS_REVIEW' ORDER BY id DESC LIMIT 1) h ON true
WHERE r.status = 'NEEDS_REVIEW';

COMMENT ON VIEW review_backlog IS 'Runs now in NEEDS_REVIEW, and since when (from run_status_history)';

CREATE VIEW field_quality AS
SELECT processor_name, path,
       count(*) AS values_seen,
       count(*) FILTER (WHERE value_text IS NOT NULL) AS values_present,
       avg(ocr_confidence) AS avg_ocr_confidence,
       avg(logprobs_confidence) AS avg_logprobs_confidence,
       avg(review_agent_score) AS avg_review_agent_score,
       avg(edited::int) AS share_edited
FROM extracted_fields
GROUP BY processor_name, path;

COMMENT ON VIEW field_quality IS 'Per processor and field path: values seen, average confidences, share edited by reviewers';
