-- extend-syncd schema, version 4: processor outputs as rows and columns, and the history of run statuses.
-- The first three tables are written with their run, in the same transaction, and replaced whole with it.

CREATE TABLE extracted_fields (
    run_id              text    NOT NULL,
    processor_ordinal   integer NOT NULL,
    ordinal             integer NOT NULL,
    processor_run_id    text,
    processor_name      text,
    path                text    NOT NULL,
    value               jsonb,
    value_text          text,
    value_number        numeric,
    ocr_confidence      numeric,
    logprobs_confidence numeric,
    review_agent_score  numeric,
    citation_pages      integer[],
    edited              boolean NOT NULL,
    initial_value       jsonb,
    PRIMARY KEY (run_id, processor_ordinal, ordinal),
    FOREIGN KEY (run_id, processor_ordinal) REFERENCES processor_runs (run_id, ordinal) ON DELETE CASCADE
);
CREATE INDEX extracted_fields_path ON extracted_fields (processor_name, path);

COMMENT ON TABLE extracted_fields IS 'One row per extracted leaf value of every EXTRACT output (current {value, metadata} and legacy per-field forms)';
COMMENT ON COLUMN extracted_fields.run_id IS 'The run (workflow_runs.id)';
COMMENT ON COLUMN extracted_fields.processor_ordinal IS 'The processor run (processor_runs.ordinal)';
COMMENT ON COLUMN extracted_fields.ordinal IS 'Position of the leaf in the output, from 0';
COMMENT ON COLUMN extracted_fields.processor_run_id IS 'outputs[].id';
COMMENT ON COLUMN extracted_fields.processor_name IS 'outputs[].processorName';
COMMENT ON COLUMN extracted_fields.path IS 'Object keys joined by ".", array items as [i]: vendor.name, line_items[1].amount';
COMMENT ON COLUMN extracted_fields.value IS 'The leaf as JSON (null for JSON null)';
COMMENT ON COLUMN extracted_fields.value_text IS 'The leaf as text; NULL for JSON null';
COMMENT ON COLUMN extracted_fields.value_number IS 'The leaf when it is a number';
COMMENT ON COLUMN extracted_fields.ocr_confidence IS 'metadata[path].ocrConfidence, else of the nearest ancestor path that has metadata; legacy form: the field''s confidence';
COMMENT ON COLUMN extracted_fields.logprobs_confidence IS 'metadata[path].logprobsConfidence (nearest ancestor likewise)';
COMMENT ON COLUMN extracted_fields.review_agent_score IS 'metadata[path].reviewAgentScore, 1 to 5 (nearest ancestor likewise)';
COMMENT ON COLUMN extracted_fields.citation_pages IS 'Pages of metadata[path].citations[] (legacy: of references[])';
COMMENT ON COLUMN extracted_fields.edited IS 'True when outputs[].edits names this field or an ancestor';
COMMENT ON COLUMN extracted_fields.initial_value IS 'The value at the same path in initialOutput, when it differs';

CREATE TABLE classifications (
    run_id              text    NOT NULL,
    processor_ordinal   integer NOT NULL,
    processor_run_id    text,
    classification_id   text,
    classification_type text,
    confidence          numeric,
    PRIMARY KEY (run_id, processor_ordinal),
    FOREIGN KEY (run_id, processor_ordinal) REFERENCES processor_runs (run_id, ordinal) ON DELETE CASCADE
);

COMMENT ON TABLE classifications IS 'One row per CLASSIFY output that has a result';
COMMENT ON COLUMN classifications.run_id IS 'The run (workflow_runs.id)';
COMMENT ON COLUMN classifications.processor_ordinal IS 'The processor run (processor_runs.ordinal)';
COMMENT ON COLUMN classifications.processor_run_id IS 'outputs[].id';
COMMENT ON COLUMN classifications.classification_id IS 'outputs[].output.id';
COMMENT ON COLUMN classifications.classification_type IS 'outputs[].output.type';
COMMENT ON COLUMN classifications.confidence IS 'outputs[].output.confidence, 0 to 1';

CREATE TABLE splits (
    run_id            text    NOT NULL,
    processor_ordinal integer NOT NULL,
    ordinal           integer NOT NULL,
    split_id          text,
    type              text,
    identifier        text,
    name              text,
    observation       text,
    start_page        integer,
    end_page          integer,
    classification_id text,
    file_id           text,
    PRIMARY KEY (run_id, processor_ordinal, ordinal),
    FOREIGN KEY (run_id, processor_ordinal) REFERENCES processor_runs (run_id, ordinal) ON DELETE CASCADE
);

COMMENT ON TABLE splits IS 'One row per split of every SPLITTER output';
COMMENT ON COLUMN splits.run_id IS 'The run (workflow_runs.id)';
COMMENT ON COLUMN splits.processor_ordinal IS 'The processor run (processor_runs.ordinal)';
COMMENT ON COLUMN splits.ordinal IS 'Position in output.splits[], from 0';
COMMENT ON COLUMN splits.split_id IS 'splits[].id';
COMMENT ON COLUMN splits.type IS 'splits[].type';
COMMENT ON COLUMN splits.identifier IS 'splits[].identifier';
COMMENT ON COLUMN splits.name IS 'splits[].name';
COMMENT ON COLUMN splits.observation IS 'splits[].observation';
COMMENT ON COLUMN splits.start_page IS 'splits[].startPage';
COMMENT ON COLUMN splits.end_page IS 'splits[].endPage';
COMMENT ON COLUMN splits.classification_id IS 'splits[].classificationId';
COMMENT ON COLUMN splits.file_id IS 'splits[].fileId: the file cut from this split';

-- Appended, never replaced: it outlives the snapshots of its run.
CREATE TABLE run_status_history (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      text        NOT NULL,
    status      text        NOT NULL,
    observed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX run_status_history_run ON run_status_history (run_id, observed_at);

COMMENT ON TABLE run_status_history IS 'A row the first time a run is seen, and each time a fetch sees a status other than the last recorded one';
COMMENT ON COLUMN run_status_history.id IS 'Order of observation';
COMMENT ON COLUMN run_status_history.run_id IS 'The run (workflow_runs.id)';
COMMENT ON COLUMN run_status_history.status IS 'The status seen';
COMMENT ON COLUMN run_status_history.observed_at IS 'When the fetch that saw it was stored';
