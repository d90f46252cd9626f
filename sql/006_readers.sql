-- extend-syncd schema, version 6: what extend_reader may read, runs in trouble, honest durations.
--
-- Who reads what.  The role extend_reader (made by roles.sql, before or after this migration) may read the
-- relations named in reader_relations, and nothing else: not sync_queue, not schema_migrations, not any
-- internal table.  A relation is readable only once it is declared, so a new internal table stays hidden
-- without anyone remembering to hide it.  A later migration that adds a table or view for readers (or
-- drops and re-creates one, which loses its grants) declares it with one line:
--
--     SELECT grant_reader('discovery_state');
--
-- grant_reader() records the names and, when the role extend_reader exists, grants SELECT on every
-- declared relation (and USAGE on the schema).  roles.sql calls grant_reader() without arguments, so
-- running it after the migrations grants what they declared while the role did not exist yet.

CREATE TABLE reader_relations (
    relname     text        PRIMARY KEY,
    declared_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE reader_relations IS 'Tables and views of this schema that the role extend_reader may read (see grant_reader)';
COMMENT ON COLUMN reader_relations.relname IS 'Name of the table or view, in this schema';
COMMENT ON COLUMN reader_relations.declared_at IS 'When a migration declared it readable';

CREATE FUNCTION grant_reader(VARIADIC p_relnames text[] DEFAULT '{}') RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    rel text;
BEGIN
    INSERT INTO reader_relations (relname) SELECT unnest(p_relnames) ON CONFLICT DO NOTHING;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'extend_reader') THEN
        RETURN;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO extend_reader', current_schema());
    FOR rel IN SELECT relname FROM reader_relations ORDER BY relname LOOP
        IF to_regclass(format('%I.%I', current_schema(), rel)) IS NOT NULL THEN
            EXECUTE format('GRANT SELECT ON %I.%I TO extend_reader', current_schema(), rel);
        END IF;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION grant_reader(text[]) FROM PUBLIC;
COMMENT ON FUNCTION grant_reader(text[]) IS 'Declare tables or views readable by extend_reader, and grant SELECT on every declared one if that role exists';

-- Durations from the API's times are NULL, not negative, when the times are inconsistent (an end before
-- its start): such a run is bad data, not a fast one, and it stays visible.  Same columns, same order.
CREATE OR REPLACE VIEW run_overview AS
SELECT r.id AS run_id, r.name, r.status, r.workflow_id, r.workflow_name, r.workflow_version, r.batch_id,
       r.initial_run_at, r.start_time, r.end_time,
       CASE WHEN r.end_time >= r.start_time THEN extract(epoch FROM r.end_time - r.start_time) END
           AS processing_seconds,
       CASE WHEN r.start_time >= r.initial_run_at THEN extract(epoch FROM r.start_time - r.initial_run_at) END
           AS queue_seconds,
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

-- Runs the sync is having trouble with, including those that never landed in workflow_runs: readers
-- cannot read sync_queue, so this is where they see them.
CREATE VIEW runs_in_trouble AS
SELECT q.run_id,
       CASE WHEN q.state = 'failed' THEN 'failed' ELSE 'retrying' END AS trouble,
       q.attempts, q.last_http_status, q.last_error,
       CASE WHEN q.state = 'failed' THEN q.finished_at
            ELSE greatest(q.last_synced_at, q.enqueued_at) END AS since,
       CASE WHEN q.state = 'pending' THEN q.next_attempt_at END AS next_attempt_at,
       q.last_status, q.enqueued_at, q.last_synced_at,
       r.workflow_id, r.workflow_name
FROM sync_queue q
LEFT JOIN workflow_runs r ON r.id = q.run_id
WHERE q.state = 'failed' OR (q.state = 'pending' AND q.attempts > 0);

COMMENT ON VIEW runs_in_trouble IS 'Runs the sync gave up on (failed) or is retrying (attempts > 0), whether or not a snapshot of them was ever written';
COMMENT ON COLUMN runs_in_trouble.run_id IS 'The workflow run ID';
COMMENT ON COLUMN runs_in_trouble.trouble IS 'failed: given up, re-enqueue to try again; retrying: the last attempt failed, another is scheduled';
COMMENT ON COLUMN runs_in_trouble.attempts IS 'Consecutive failed attempts';
COMMENT ON COLUMN runs_in_trouble.last_http_status IS 'HTTP status of the last attempt (NULL when there was no answer)';
COMMENT ON COLUMN runs_in_trouble.last_error IS 'The last failure, readable by a person';
COMMENT ON COLUMN runs_in_trouble.since IS 'failed: when it was given up on; retrying: the last successful fetch or enqueue, after which every attempt failed';
COMMENT ON COLUMN runs_in_trouble.next_attempt_at IS 'retrying: when the next attempt is due (NULL when failed)';
COMMENT ON COLUMN runs_in_trouble.last_status IS 'API status of the run at the last successful fetch (NULL if never fetched)';
COMMENT ON COLUMN runs_in_trouble.enqueued_at IS 'When the run was last enqueued';
COMMENT ON COLUMN runs_in_trouble.last_synced_at IS 'When a snapshot of the run was last written (NULL if never)';
COMMENT ON COLUMN runs_in_trouble.workflow_id IS 'Workflow of the run, from its last snapshot (NULL if none was written)';
COMMENT ON COLUMN runs_in_trouble.workflow_name IS 'Workflow name, from the last snapshot (NULL if none was written)';

-- Every view column has a comment, as every table column does (BI tools show them).
COMMENT ON COLUMN run_overview.run_id IS 'The workflow run ID (workflow_runs.id)';
COMMENT ON COLUMN run_overview.name IS 'Name of the run';
COMMENT ON COLUMN run_overview.status IS 'API status at the last fetch';
COMMENT ON COLUMN run_overview.workflow_id IS 'The workflow';
COMMENT ON COLUMN run_overview.workflow_name IS 'Name of the workflow';
COMMENT ON COLUMN run_overview.workflow_version IS 'Version of the workflow that ran';
COMMENT ON COLUMN run_overview.batch_id IS 'The batch the run belongs to, if any';
COMMENT ON COLUMN run_overview.initial_run_at IS 'When the run was first started';
COMMENT ON COLUMN run_overview.start_time IS 'When processing started';
COMMENT ON COLUMN run_overview.end_time IS 'When processing ended';
COMMENT ON COLUMN run_overview.processing_seconds IS 'end_time - start_time in seconds; NULL when either is missing or the end is before the start';
COMMENT ON COLUMN run_overview.queue_seconds IS 'start_time - initial_run_at in seconds; NULL when either is missing or the start is before the initial run';
COMMENT ON COLUMN run_overview.credits IS 'Credits the run used';
COMMENT ON COLUMN run_overview.files IS 'Files of the run (workflow_run_files rows)';
COMMENT ON COLUMN run_overview.pages IS 'Pages stored (workflow_run_file_pages rows; 0 with store_file_contents = false)';
COMMENT ON COLUMN run_overview.page_count IS 'Sum of the files'' page counts as the API reports them';
COMMENT ON COLUMN run_overview.processor_runs IS 'Processor outputs of the run (processor_runs rows)';
COMMENT ON COLUMN run_overview.failed_rules IS 'Validation rules of the run''s steps that did not hold';
COMMENT ON COLUMN run_overview.reviewed IS 'Whether a person reviewed the run';
COMMENT ON COLUMN run_overview.reviewed_by IS 'Who reviewed it';
COMMENT ON COLUMN run_overview.reviewed_at IS 'When it was reviewed';
COMMENT ON COLUMN run_overview.rejection_note IS 'The reviewer''s note when the run was rejected';
COMMENT ON COLUMN run_overview.failure_reason IS 'Why the run failed (API code)';
COMMENT ON COLUMN run_overview.failure_message IS 'Why the run failed (readable)';
COMMENT ON COLUMN run_overview.sync_state IS 'Queue state of the run: pending, done or failed';
COMMENT ON COLUMN run_overview.last_synced_at IS 'When this snapshot was written';
COMMENT ON COLUMN run_overview.sync_attempts IS 'Consecutive failed fetches since this snapshot';
COMMENT ON COLUMN run_overview.sync_error IS 'The last fetch failure, if the last attempt failed';

COMMENT ON COLUMN workflow_daily.day IS 'Day (UTC) of initial_run_at';
COMMENT ON COLUMN workflow_daily.workflow_id IS 'The workflow';
COMMENT ON COLUMN workflow_daily.workflow_name IS 'Name of the workflow';
COMMENT ON COLUMN workflow_daily.runs IS 'Runs started that day';
COMMENT ON COLUMN workflow_daily.processed IS 'Of them, PROCESSED';
COMMENT ON COLUMN workflow_daily.failed IS 'Of them, FAILED';
COMMENT ON COLUMN workflow_daily.rejected IS 'Of them, REJECTED';
COMMENT ON COLUMN workflow_daily.in_review IS 'Of them, NEEDS_REVIEW now';
COMMENT ON COLUMN workflow_daily.credits IS 'Credits they used';
COMMENT ON COLUMN workflow_daily.median_processing_seconds IS 'Median end_time - start_time of the finished ones with consistent times';
COMMENT ON COLUMN workflow_daily.p95_processing_seconds IS '95th percentile of end_time - start_time of the finished ones with consistent times';

COMMENT ON COLUMN review_backlog.run_id IS 'The workflow run ID';
COMMENT ON COLUMN review_backlog.name IS 'Name of the run';
COMMENT ON COLUMN review_backlog.workflow_id IS 'The workflow';
COMMENT ON COLUMN review_backlog.workflow_name IS 'Name of the workflow';
COMMENT ON COLUMN review_backlog.batch_id IS 'The batch, if any';
COMMENT ON COLUMN review_backlog.initial_run_at IS 'When the run was first started';
COMMENT ON COLUMN review_backlog.in_review_since IS 'When a fetch first saw it in NEEDS_REVIEW (its latest move there)';
COMMENT ON COLUMN review_backlog.in_review_for IS 'How long it has waited for review';

COMMENT ON COLUMN field_quality.processor_name IS 'The extractor';
COMMENT ON COLUMN field_quality.path IS 'Field path (vendor.name, line_items[1].amount)';
COMMENT ON COLUMN field_quality.values_seen IS 'extracted_fields rows for the path';
COMMENT ON COLUMN field_quality.values_present IS 'Of them, with a value';
COMMENT ON COLUMN field_quality.avg_ocr_confidence IS 'Average OCR confidence';
COMMENT ON COLUMN field_quality.avg_logprobs_confidence IS 'Average logprobs confidence';
COMMENT ON COLUMN field_quality.avg_review_agent_score IS 'Average review agent score';
COMMENT ON COLUMN field_quality.share_edited IS 'Share of values a reviewer edited (0 to 1)';

-- What readers may read today; later migrations add theirs with one line each.
SELECT grant_reader('workflow_runs', 'workflow_run_files', 'workflow_run_file_pages', 'workflow_run_file_sheets',
                    'processor_runs', 'processor_run_files', 'processor_run_merged_processors', 'step_runs',
                    'step_run_rules', 'extracted_fields', 'classifications', 'splits', 'run_status_history',
                    'sync_health', 'run_overview', 'workflow_daily', 'review_backlog', 'field_quality',
                    'runs_in_trouble');
