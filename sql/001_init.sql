-- extend-syncd schema, version 1: the queue and the relational copy of each workflow run.
--
-- Applied by extend-syncd at start (or by --migrate) inside one transaction, with search_path set to the
-- configured schema (database.schema, default "extend"); names below are therefore unqualified.

CREATE TABLE sync_queue (
    run_id           text        PRIMARY KEY,
    state            text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    attempts         integer     NOT NULL DEFAULT 0,
    polls            integer     NOT NULL DEFAULT 0,
    last_status      text,
    last_error       text,
    last_http_status integer,
    enqueued_at      timestamptz NOT NULL DEFAULT now(),
    last_synced_at   timestamptz,
    finished_at      timestamptz,
    lease_owner      text,
    lease_expires_at timestamptz,
    enqueue_gen      bigint      NOT NULL DEFAULT 0
);

-- The claim query reads due pending rows in due order; nothing else needs to be fast on this table.
CREATE INDEX sync_queue_due ON sync_queue (next_attempt_at) WHERE state = 'pending';

COMMENT ON TABLE sync_queue IS 'One row per workflow run extend-syncd keeps in step; add rows with enqueue(run_id)';
COMMENT ON COLUMN sync_queue.run_id IS 'The workflow run ID (workflow_run_...)';
COMMENT ON COLUMN sync_queue.state IS 'pending: fetched when due; done: reached a final status; failed: gave up, see last_error';
COMMENT ON COLUMN sync_queue.next_attempt_at IS 'When the run is due; while a daemon holds the lease, when the lease expires';
COMMENT ON COLUMN sync_queue.attempts IS 'Consecutive failed attempts (0 after a successful fetch)';
COMMENT ON COLUMN sync_queue.polls IS 'Consecutive fetches that saw the same in-motion status (drives the growing poll delay)';
COMMENT ON COLUMN sync_queue.last_status IS 'API status of the run at the last successful fetch';
COMMENT ON COLUMN sync_queue.last_error IS 'The last failure, readable by a person; cleared by a successful fetch';
COMMENT ON COLUMN sync_queue.last_http_status IS 'HTTP status of the last attempt (NULL when there was no answer)';
COMMENT ON COLUMN sync_queue.enqueued_at IS 'When the run was last enqueued';
COMMENT ON COLUMN sync_queue.last_synced_at IS 'When a snapshot of the run was last written';
COMMENT ON COLUMN sync_queue.finished_at IS 'When the row became done or failed';
COMMENT ON COLUMN sync_queue.lease_owner IS 'The daemon (host:pid:nonce) fetching the run now, if any';
COMMENT ON COLUMN sync_queue.lease_expires_at IS 'Until when lease_owner holds the run; after that any daemon may claim it';
COMMENT ON COLUMN sync_queue.enqueue_gen IS 'Bumped by every enqueue(), so a fetch already in flight cannot swallow a newer request';

-- Wake idle daemons (LISTEN "<schema>.sync_queue") whenever runs are enqueued.
CREATE FUNCTION sync_queue_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '.sync_queue', '');
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION sync_queue_notify() IS 'Sends NOTIFY "<schema>.sync_queue" after rows are added to the queue';

CREATE TRIGGER sync_queue_notify AFTER INSERT ON sync_queue
    FOR EACH STATEMENT EXECUTE FUNCTION sync_queue_notify();

-- Enqueue a run, or make a known one due now (a done or failed run becomes pending again).
-- A run a daemon is fetching right now keeps its lease; the bumped enqueue_gen makes that daemon leave
-- the run pending and due instead of done, so the request is never lost.
CREATE FUNCTION enqueue(p_run_id text) RETURNS void
LANGUAGE sql SET search_path FROM CURRENT AS $$
    INSERT INTO sync_queue AS q (run_id) VALUES (p_run_id)
    ON CONFLICT (run_id) DO UPDATE
    SET state = 'pending',
        attempts = 0,
        polls = 0,
        finished_at = NULL,
        enqueued_at = now(),
        enqueue_gen = q.enqueue_gen + 1,
        next_attempt_at = CASE WHEN q.lease_owner IS NOT NULL AND q.lease_expires_at > now()
                               THEN q.next_attempt_at ELSE now() END;
$$;
COMMENT ON FUNCTION enqueue(text) IS 'Add a workflow run ID to the queue, or make a known run pending and due now';

-- The data: one snapshot per run, replaced whole by each fetch.

CREATE TABLE workflow_runs (
    id               text        PRIMARY KEY,
    name             text,
    url              text,
    status           text        NOT NULL,
    workflow_id      text,
    workflow_version text,
    workflow_name    text,
    batch_id         text,
    reviewed         boolean,
    reviewed_by      text,
    reviewed_at      timestamptz,
    rejection_note   text,
    failure_reason   text,
    failure_message  text,
    initial_run_at   timestamptz,
    start_time       timestamptz,
    end_time         timestamptz,
    credits          numeric,
    metadata         jsonb,
    raw              jsonb       NOT NULL,
    synced_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflow_runs_status ON workflow_runs (status);
CREATE INDEX workflow_runs_workflow ON workflow_runs (workflow_id, initial_run_at);
CREATE INDEX workflow_runs_batch ON workflow_runs (batch_id) WHERE batch_id IS NOT NULL;

COMMENT ON TABLE workflow_runs IS 'Workflow runs (GET /workflow_runs/{id}, API version 2025-04-21), the latest snapshot of each';
COMMENT ON COLUMN workflow_runs.id IS 'workflowRun.id';
COMMENT ON COLUMN workflow_runs.name IS 'workflowRun.name (can change after the run is final)';
COMMENT ON COLUMN workflow_runs.url IS 'workflowRun.url: the run in the Extend dashboard';
COMMENT ON COLUMN workflow_runs.status IS 'workflowRun.status: PENDING, PROCESSING, NEEDS_REVIEW, REJECTED, PROCESSED, FAILED, CANCELLED, CANCELLING, or a newer value';
COMMENT ON COLUMN workflow_runs.workflow_id IS 'workflowRun.workflow.id';
COMMENT ON COLUMN workflow_runs.workflow_version IS 'workflowRun.workflow.version ("3", "draft", ...)';
COMMENT ON COLUMN workflow_runs.workflow_name IS 'workflowRun.workflow.name';
COMMENT ON COLUMN workflow_runs.batch_id IS 'workflowRun.batchId';
COMMENT ON COLUMN workflow_runs.reviewed IS 'workflowRun.reviewed';
COMMENT ON COLUMN workflow_runs.reviewed_by IS 'workflowRun.reviewedBy (an email address)';
COMMENT ON COLUMN workflow_runs.reviewed_at IS 'workflowRun.reviewedAt';
COMMENT ON COLUMN workflow_runs.rejection_note IS 'workflowRun.rejectionNote';
COMMENT ON COLUMN workflow_runs.failure_reason IS 'workflowRun.failureReason (free text such as INTERNAL_ERROR)';
COMMENT ON COLUMN workflow_runs.failure_message IS 'workflowRun.failureMessage';
COMMENT ON COLUMN workflow_runs.initial_run_at IS 'workflowRun.initialRunAt';
COMMENT ON COLUMN workflow_runs.start_time IS 'workflowRun.startTime (NULL until started)';
COMMENT ON COLUMN workflow_runs.end_time IS 'workflowRun.endTime (NULL until finished)';
COMMENT ON COLUMN workflow_runs.credits IS 'workflowRun.usage.credits';
COMMENT ON COLUMN workflow_runs.metadata IS 'workflowRun.metadata: the user''s own JSON';
COMMENT ON COLUMN workflow_runs.raw IS 'The whole workflowRun object as received, presignedUrl fields removed (and file contents when sync.store_file_contents is false)';
COMMENT ON COLUMN workflow_runs.synced_at IS 'When this snapshot was written';

CREATE TABLE workflow_run_files (
    run_id                  text    NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    ordinal                 integer NOT NULL,
    file_id                 text,
    name                    text,
    type                    text,
    parent_file_id          text,
    page_count              integer,
    parent_split_id         text,
    parent_split_type       text,
    parent_split_identifier text,
    parent_split_start_page integer,
    parent_split_end_page   integer,
    created_at              timestamptz,
    updated_at              timestamptz,
    credits                 numeric,
    raw_text                text,
    markdown                text,
    metadata                jsonb,
    PRIMARY KEY (run_id, ordinal)
);
CREATE INDEX workflow_run_files_file ON workflow_run_files (file_id);

COMMENT ON TABLE workflow_run_files IS 'workflowRun.files[]: the files of each run';
COMMENT ON COLUMN workflow_run_files.run_id IS 'The run (workflow_runs.id)';
COMMENT ON COLUMN workflow_run_files.ordinal IS 'Position in files[], from 0';
COMMENT ON COLUMN workflow_run_files.file_id IS 'files[].id';
COMMENT ON COLUMN workflow_run_files.name IS 'files[].name';
COMMENT ON COLUMN workflow_run_files.type IS 'files[].type: PDF, CSV, IMG, TXT, DOCX, EXCEL, XML, HTML, or a newer value';
COMMENT ON COLUMN workflow_run_files.parent_file_id IS 'files[].parentFileId: the file a splitter cut this one from';
COMMENT ON COLUMN workflow_run_files.page_count IS 'files[].metadata.pageCount';
COMMENT ON COLUMN workflow_run_files.parent_split_id IS 'files[].metadata.parentSplit.id';
COMMENT ON COLUMN workflow_run_files.parent_split_type IS 'files[].metadata.parentSplit.type';
COMMENT ON COLUMN workflow_run_files.parent_split_identifier IS 'files[].metadata.parentSplit.identifier';
COMMENT ON COLUMN workflow_run_files.parent_split_start_page IS 'files[].metadata.parentSplit.startPage';
COMMENT ON COLUMN workflow_run_files.parent_split_end_page IS 'files[].metadata.parentSplit.endPage';
COMMENT ON COLUMN workflow_run_files.created_at IS 'files[].createdAt';
COMMENT ON COLUMN workflow_run_files.updated_at IS 'files[].updatedAt';
COMMENT ON COLUMN workflow_run_files.credits IS 'files[].usage.credits';
COMMENT ON COLUMN workflow_run_files.raw_text IS 'files[].contents.rawText (NULL when sync.store_file_contents is false)';
COMMENT ON COLUMN workflow_run_files.markdown IS 'files[].contents.markdown (NULL when sync.store_file_contents is false)';
COMMENT ON COLUMN workflow_run_files.metadata IS 'files[].metadata as received';

CREATE TABLE workflow_run_file_pages (
    run_id       text    NOT NULL,
    file_ordinal integer NOT NULL,
    ordinal      integer NOT NULL,
    page_number  integer,
    page_height  numeric,
    page_width   numeric,
    raw_text     text,
    markdown     text,
    html         text,
    PRIMARY KEY (run_id, file_ordinal, ordinal),
    FOREIGN KEY (run_id, file_ordinal) REFERENCES workflow_run_files (run_id, ordinal) ON DELETE CASCADE
);

COMMENT ON TABLE workflow_run_file_pages IS 'workflowRun.files[].contents.pages[] (empty when sync.store_file_contents is false)';
COMMENT ON COLUMN workflow_run_file_pages.run_id IS 'The run (workflow_runs.id)';
COMMENT ON COLUMN workflow_run_file_pages.file_ordinal IS 'The file (workflow_run_files.ordinal)';
COMMENT ON COLUMN workflow_run_file_pages.ordinal IS 'Position in pages[], from 0';
COMMENT ON COLUMN workflow_run_file_pages.page_number IS 'pages[].pageNumber';
COMMENT ON COLUMN workflow_run_file_pages.page_height IS 'pages[].pageHeight';
COMMENT ON COLUMN workflow_run_file_pages.page_width IS 'pages[].pageWidth';
COMMENT ON COLUMN workflow_run_file_pages.raw_text IS 'pages[].rawText';
COMMENT ON COLUMN workflow_run_file_pages.markdown IS 'pages[].markdown';
COMMENT ON COLUMN workflow_run_file_pages.html IS 'pages[].html';

CREATE TABLE workflow_run_file_sheets (
    run_id       text    NOT NULL,
    file_ordinal integer NOT NULL,
    ordinal      integer NOT NULL,
    sheet_name   text,
    raw_text     text,
    PRIMARY KEY (run_id, file_ordinal, ordinal),
    FOREIGN KEY (run_id, file_ordinal) REFERENCES workflow_run_files (run_id, ordinal) ON DELETE CASCADE
);

COMMENT ON TABLE workflow_run_file_sheets IS 'workflowRun.files[].contents.sheets[] (empty when sync.store_file_contents is false)';
COMMENT ON COLUMN workflow_run_file_sheets.run_id IS 'The run (workflow_runs.id)';
COMMENT ON COLUMN workflow_run_file_sheets.file_ordinal IS 'The file (workflow_run_files.ordinal)';
COMMENT ON COLUMN workflow_run_file_sheets.ordinal IS 'Position in sheets[], from 0';
COMMENT ON COLUMN workflow_run_file_sheets.sheet_name IS 'sheets[].sheetName';
COMMENT ON COLUMN workflow_run_file_sheets.raw_text IS 'sheets[].rawText';

CREATE TABLE processor_runs (
    run_id               text    NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    ordinal              integer NOT NULL,
    id                   text,
    processor_id         text,
    processor_version_id text,
    processor_name       text,
    status               text,
    type                 text,
    reviewed             boolean,
    edited               boolean,
    url                  text,
    failure_reason       text,
    failure_message      text,
    credits              numeric,
    output               jsonb,
    initial_output       jsonb,
    reviewed_output      jsonb,
    edits                jsonb,
    config               jsonb,
    metadata             jsonb,
    PRIMARY KEY (run_id, ordinal)
);
CREATE INDEX processor_runs_processor ON processor_runs (processor_id);

COMMENT ON TABLE processor_runs IS 'workflowRun.outputs[]: the document processor runs of each workflow run';
COMMENT ON COLUMN processor_runs.run_id IS 'The run (workflow_runs.id)';
COMMENT ON COLUMN processor_runs.ordinal IS 'Position in outputs[], from 0';
COMMENT ON COLUMN processor_runs.id IS 'outputs[].id (dpr_...)';
COMMENT ON COLUMN processor_runs.processor_id IS 'outputs[].processorId';
COMMENT ON COLUMN processor_runs.processor_version_id IS 'outputs[].processorVersionId';
COMMENT ON COLUMN processor_runs.processor_name IS 'outputs[].processorName';
COMMENT ON COLUMN processor_runs.status IS 'outputs[].status: PENDING, PROCESSING, PROCESSED, FAILED, CANCELLED, or a newer value';
COMMENT ON COLUMN processor_runs.type IS 'outputs[].type: EXTRACT, CLASSIFY, SPLITTER, or a newer value; says what output holds';
COMMENT ON COLUMN processor_runs.reviewed IS 'outputs[].reviewed';
COMMENT ON COLUMN processor_runs.edited IS 'outputs[].edited';
COMMENT ON COLUMN processor_runs.url IS 'outputs[].url: the processor run in the Extend dashboard';
COMMENT ON COLUMN processor_runs.failure_reason IS 'outputs[].failureReason';
COMMENT ON COLUMN processor_runs.failure_message IS 'outputs[].failureMessage';
COMMENT ON COLUMN processor_runs.credits IS 'outputs[].usage.credits';
COMMENT ON COLUMN processor_runs.output IS 'outputs[].output: the final result, shaped by type';
COMMENT ON COLUMN processor_runs.initial_output IS 'outputs[].initialOutput: the result before review';
COMMENT ON COLUMN processor_runs.reviewed_output IS 'outputs[].reviewedOutput: the result after review';
COMMENT ON COLUMN processor_runs.edits IS 'outputs[].edits: field -> {originalValue, editedValue, notes, page, fieldType}';
COMMENT ON COLUMN processor_runs.config IS 'outputs[].config: the processor configuration used';
COMMENT ON COLUMN processor_runs.metadata IS 'outputs[].metadata';

CREATE TABLE processor_run_files (
    run_id            text    NOT NULL,
    processor_ordinal integer NOT NULL,
    ordinal           integer NOT NULL,
    file_id           text,
    name              text,
    type              text,
    parent_file_id    text,
    page_count        integer,
    PRIMARY KEY (run_id, processor_ordinal, ordinal),
    FOREIGN KEY (run_id, processor_ordinal) REFERENCES processor_runs (run_id, ordinal) ON DELETE CASCADE
);

COMMENT ON TABLE processor_run_files IS 'workflowRun.outputs[].files[]: the files each processor run read';
COMMENT ON COLUMN processor_run_files.run_id IS 'The run (workflow_runs.id)';
COMMENT ON COLUMN processor_run_files.processor_ordinal IS 'The processor run (processor_runs.ordinal)';
COMMENT ON COLUMN processor_run_files.ordinal IS 'Position in outputs[].files[], from 0';
COMMENT ON COLUMN processor_run_files.file_id IS 'outputs[].files[].id';
COMMENT ON COLUMN processor_run_files.name IS 'outputs[].files[].name';
COMMENT ON COLUMN processor_run_files.type IS 'outputs[].files[].type';
COMMENT ON COLUMN processor_run_files.parent_file_id IS 'outputs[].files[].parentFileId';
COMMENT ON COLUMN processor_run_files.page_count IS 'outputs[].files[].metadata.pageCount';

CREATE TABLE processor_run_merged_processors (
    run_id               text    NOT NULL,
    processor_ordinal    integer NOT NULL,
    ordinal              integer NOT NULL,
    processor_id         text,
    processor_version_id text,
    processor_name       text,
    PRIMARY KEY (run_id, processor_ordinal, ordinal),
    FOREIGN KEY (run_id, processor_ordinal) REFERENCES processor_runs (run_id, ordinal) ON DELETE CASCADE
);

COMMENT ON TABLE processor_run_merged_processors IS 'workflowRun.outputs[].mergedProcessors[]';
COMMENT ON COLUMN processor_run_merged_processors.run_id IS 'The run (workflow_runs.id)';
COMMENT ON COLUMN processor_run_merged_processors.processor_ordinal IS 'The processor run (processor_runs.ordinal)';
COMMENT ON COLUMN processor_run_merged_processors.ordinal IS 'Position in mergedProcessors[], from 0';
COMMENT ON COLUMN processor_run_merged_processors.processor_id IS 'mergedProcessors[].processorId';
COMMENT ON COLUMN processor_run_merged_processors.processor_version_id IS 'mergedProcessors[].processorVersionId';
COMMENT ON COLUMN processor_run_merged_processors.processor_name IS 'mergedProcessors[].processorName';

CREATE TABLE step_runs (
    run_id    text    NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    ordinal   integer NOT NULL,
    id        text,
    status    text,
    step_id   text,
    step_name text,
    step_type text,
    output    jsonb,
    PRIMARY KEY (run_id, ordinal)
);

COMMENT ON TABLE step_runs IS 'workflowRun.stepRuns[]: the validation steps of each run';
COMMENT ON COLUMN step_runs.run_id IS 'The run (workflow_runs.id)';
COMMENT ON COLUMN step_runs.ordinal IS 'Position in stepRuns[], from 0';
COMMENT ON COLUMN step_runs.id IS 'stepRuns[].id';
COMMENT ON COLUMN step_runs.status IS 'stepRuns[].status: PENDING, PROCESSING, PROCESSED, FAILED, CANCELLED, or a newer value';
COMMENT ON COLUMN step_runs.step_id IS 'stepRuns[].step.id';
COMMENT ON COLUMN step_runs.step_name IS 'stepRuns[].step.name';
COMMENT ON COLUMN step_runs.step_type IS 'stepRuns[].step.type: EXTERNAL_DATA_VALIDATION, RULE_VALIDATION, or a newer value';
COMMENT ON COLUMN step_runs.output IS 'stepRuns[].output as received';

CREATE TABLE step_run_rules (
    run_id         text    NOT NULL,
    step_ordinal   integer NOT NULL,
    ordinal        integer NOT NULL,
    name           text,
    valid          boolean,
    valid_array    jsonb,
    failure_reason text,
    error          text,
    PRIMARY KEY (run_id, step_ordinal, ordinal),
    FOREIGN KEY (run_id, step_ordinal) REFERENCES step_runs (run_id, ordinal) ON DELETE CASCADE
);

COMMENT ON TABLE step_run_rules IS 'workflowRun.stepRuns[].output.rules[]: the rules a validation step checked';
COMMENT ON COLUMN step_run_rules.run_id IS 'The run (workflow_runs.id)';
COMMENT ON COLUMN step_run_rules.step_ordinal IS 'The step run (step_runs.ordinal)';
COMMENT ON COLUMN step_run_rules.ordinal IS 'Position in rules[], from 0';
COMMENT ON COLUMN step_run_rules.name IS 'rules[].name';
COMMENT ON COLUMN step_run_rules.valid IS 'rules[].valid';
COMMENT ON COLUMN step_run_rules.valid_array IS 'rules[].validArray';
COMMENT ON COLUMN step_run_rules.failure_reason IS 'rules[].failureReason: RULE_FAILED, PARSE_ERROR, VALUE_ERROR, or a newer value';
COMMENT ON COLUMN step_run_rules.error IS 'rules[].error';
