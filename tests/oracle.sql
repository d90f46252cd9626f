-- An independent check of normalization: compares every column of every table with the JSON the mock served,
-- using PostgreSQL's own JSON operators (not the daemon's C code).  Expects test.fixture(name, body jsonb)
-- holding the fixture files; prints one line per mismatch ("fixture table[key] column"), nothing when all agree.

CREATE OR REPLACE FUNCTION test.strip(j jsonb) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    -- what the daemon must do to raw and every jsonb column: no presigned URLs anywhere
    RETURN CASE jsonb_typeof(j)
        WHEN 'object' THEN (SELECT coalesce(jsonb_object_agg(k, test.strip(v)), '{}')
                            FROM jsonb_each(j) AS e(k, v) WHERE k <> 'presignedUrl')
        WHEN 'array' THEN (SELECT coalesce(jsonb_agg(test.strip(v) ORDER BY i), '[]')
                           FROM jsonb_array_elements(j) WITH ORDINALITY AS a(v, i))
        ELSE j END;
END
$$;

-- JSON null and absent both mean SQL NULL
CREATE OR REPLACE FUNCTION test.val(j jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE
    AS $$ SELECT CASE WHEN j IS NULL OR j = 'null'::jsonb THEN NULL ELSE test.strip(j) END $$;

CREATE OR REPLACE VIEW test.runs AS
    SELECT name AS fixture, body->'workflowRun' AS w, body->'workflowRun'->>'id' AS id FROM test.fixture;

CREATE OR REPLACE VIEW test.files AS
    SELECT r.fixture, r.id, (o - 1)::int AS ordinal, f
    FROM test.runs r, jsonb_array_elements(r.w->'files') WITH ORDINALITY AS a(f, o);

CREATE OR REPLACE VIEW test.outputs AS
    SELECT r.fixture, r.id, (o - 1)::int AS ordinal, p
    FROM test.runs r, jsonb_array_elements(r.w->'outputs') WITH ORDINALITY AS a(p, o);

CREATE OR REPLACE VIEW test.steps AS
    SELECT r.fixture, r.id, (o - 1)::int AS ordinal, s
    FROM test.runs r, jsonb_array_elements(r.w->'stepRuns') WITH ORDINALITY AS a(s, o);

WITH checks(fixture, what, ok) AS (
    SELECT r.fixture, 'workflow_runs.' || c.col, c.ok
    FROM test.runs r LEFT JOIN extend.workflow_runs t ON t.id = r.id,
    LATERAL (VALUES
        ('present', t.id IS NOT NULL),
        ('name', t.name IS NOT DISTINCT FROM r.w->>'name'),
        ('url', t.url IS NOT DISTINCT FROM r.w->>'url'),
        ('status', t.status IS NOT DISTINCT FROM r.w->>'status'),
        ('workflow_id', t.workflow_id IS NOT DISTINCT FROM r.w->'workflow'->>'id'),
        ('workflow_version', t.workflow_version IS NOT DISTINCT FROM r.w->'workflow'->>'version'),
        ('workflow_name', t.workflow_name IS NOT DISTINCT FROM r.w->'workflow'->>'name'),
        ('batch_id', t.batch_id IS NOT DISTINCT FROM r.w->>'batchId'),
        ('reviewed', t.reviewed IS NOT DISTINCT FROM (r.w->>'reviewed')::boolean),
        ('reviewed_by', t.reviewed_by IS NOT DISTINCT FROM r.w->>'reviewedBy'),
        ('reviewed_at', t.reviewed_at IS NOT DISTINCT FROM (r.w->>'reviewedAt')::timestamptz),
        ('rejection_note', t.rejection_note IS NOT DISTINCT FROM r.w->>'rejectionNote'),
        ('failure_reason', t.failure_reason IS NOT DISTINCT FROM r.w->>'failureReason'),
        ('failure_message', t.failure_message IS NOT DISTINCT FROM r.w->>'failureMessage'),
        ('initial_run_at', t.initial_run_at IS NOT DISTINCT FROM (r.w->>'initialRunAt')::timestamptz),
        ('start_time', t.start_time IS NOT DISTINCT FROM (r.w->>'startTime')::timestamptz),
        ('end_time', t.end_time IS NOT DISTINCT FROM (r.w->>'endTime')::timestamptz),
        ('credits', t.credits IS NOT DISTINCT FROM (r.w->'usage'->>'credits')::numeric),
        ('metadata', t.metadata IS NOT DISTINCT FROM test.val(r.w->'metadata')),
        ('raw', t.raw IS NOT DISTINCT FROM test.strip(r.w)),
        ('synced_at', t.synced_at IS NOT NULL AND t.synced_at <= now())
    ) AS c(col, ok)

    UNION ALL
    SELECT f.fixture, format('workflow_run_files[%s].%s', f.ordinal, c.col), c.ok
    FROM test.files f LEFT JOIN extend.workflow_run_files t ON (t.run_id, t.ordinal) = (f.id, f.ordinal),
    LATERAL (VALUES
        ('present', t.run_id IS NOT NULL),
        ('file_id', t.file_id IS NOT DISTINCT FROM f.f->>'id'),
        ('name', t.name IS NOT DISTINCT FROM f.f->>'name'),
        ('type', t.type IS NOT DISTINCT FROM f.f->>'type'),
        ('parent_file_id', t.parent_file_id IS NOT DISTINCT FROM f.f->>'parentFileId'),
        ('page_count', t.page_count IS NOT DISTINCT FROM (f.f->'metadata'->>'pageCount')::int),
        ('parent_split_id', t.parent_split_id IS NOT DISTINCT FROM f.f->'metadata'->'parentSplit'->>'id'),
        ('parent_split_type', t.parent_split_type IS NOT DISTINCT FROM f.f->'metadata'->'parentSplit'->>'type'),
        ('parent_split_identifier',
         t.parent_split_identifier IS NOT DISTINCT FROM f.f->'metadata'->'parentSplit'->>'identifier'),
        ('parent_split_start_page',
         t.parent_split_start_page IS NOT DISTINCT FROM (f.f->'metadata'->'parentSplit'->>'startPage')::int),
        ('parent_split_end_page',
         t.parent_split_end_page IS NOT DISTINCT FROM (f.f->'metadata'->'parentSplit'->>'endPage')::int),
        ('created_at', t.created_at IS NOT DISTINCT FROM (f.f->>'createdAt')::timestamptz),
        ('updated_at', t.updated_at IS NOT DISTINCT FROM (f.f->>'updatedAt')::timestamptz),
        ('credits', t.credits IS NOT DISTINCT FROM (f.f->'usage'->>'credits')::numeric),
        ('raw_text', t.raw_text IS NOT DISTINCT FROM f.f->'contents'->>'rawText'),
        ('markdown', t.markdown IS NOT DISTINCT FROM f.f->'contents'->>'markdown'),
        ('metadata', t.metadata IS NOT DISTINCT FROM test.val(f.f->'metadata'))
    ) AS c(col, ok)

    UNION ALL
    SELECT f.fixture, format('workflow_run_file_pages[%s,%s].%s', f.ordinal, o - 1, c.col), c.ok
    FROM test.files f CROSS JOIN LATERAL jsonb_array_elements(f.f->'contents'->'pages') WITH ORDINALITY AS a(p, o)
    LEFT JOIN extend.workflow_run_file_pages t ON (t.run_id, t.file_ordinal, t.ordinal) = (f.id, f.ordinal, o - 1),
    LATERAL (VALUES
        ('present', t.run_id IS NOT NULL),
        ('page_number', t.page_number IS NOT DISTINCT FROM (p->>'pageNumber')::int),
        ('page_height', t.page_height IS NOT DISTINCT FROM (p->>'pageHeight')::numeric),
        ('page_width', t.page_width IS NOT DISTINCT FROM (p->>'pageWidth')::numeric),
        ('raw_text', t.raw_text IS NOT DISTINCT FROM p->>'rawText'),
        ('markdown', t.markdown IS NOT DISTINCT FROM p->>'markdown'),
        ('html', t.html IS NOT DISTINCT FROM p->>'html')
    ) AS c(col, ok)

    UNION ALL
    SELECT f.fixture, format('workflow_run_file_sheets[%s,%s].%s', f.ordinal, o - 1, c.col), c.ok
    FROM test.files f CROSS JOIN LATERAL jsonb_array_elements(f.f->'contents'->'sheets') WITH ORDINALITY AS a(s, o)
    LEFT JOIN extend.workflow_run_file_sheets t ON (t.run_id, t.file_ordinal, t.ordinal) = (f.id, f.ordinal, o - 1),
    LATERAL (VALUES
        ('present', t.run_id IS NOT NULL),
        ('sheet_name', t.sheet_name IS NOT DISTINCT FROM s->>'sheetName'),
        ('raw_text', t.raw_text IS NOT DISTINCT FROM s->>'rawText')
    ) AS c(col, ok)

    UNION ALL
    SELECT p.fixture, format('processor_runs[%s].%s', p.ordinal, c.col), c.ok
    FROM test.outputs p LEFT JOIN extend.processor_runs t ON (t.run_id, t.ordinal) = (p.id, p.ordinal),
    LATERAL (VALUES
        ('present', t.run_id IS NOT NULL),
        ('id', t.id IS NOT DISTINCT FROM p.p->>'id'),
        ('processor_id', t.processor_id IS NOT DISTINCT FROM p.p->>'processorId'),
        ('processor_version_id', t.processor_version_id IS NOT DISTINCT FROM p.p->>'processorVersionId'),
        ('processor_name', t.processor_name IS NOT DISTINCT FROM p.p->>'processorName'),
        ('status', t.status IS NOT DISTINCT FROM p.p->>'status'),
        ('type', t.type IS NOT DISTINCT FROM p.p->>'type'),
        ('reviewed', t.reviewed IS NOT DISTINCT FROM (p.p->>'reviewed')::boolean),
        ('edited', t.edited IS NOT DISTINCT FROM (p.p->>'edited')::boolean),
        ('url', t.url IS NOT DISTINCT FROM p.p->>'url'),
        ('failure_reason', t.failure_reason IS NOT DISTINCT FROM p.p->>'failureReason'),
        ('failure_message', t.failure_message IS NOT DISTINCT FROM p.p->>'failureMessage'),
        ('credits', t.credits IS NOT DISTINCT FROM (p.p->'usage'->>'credits')::numeric),
        ('output', t.output IS NOT DISTINCT FROM test.val(p.p->'output')),
        ('initial_output', t.initial_output IS NOT DISTINCT FROM test.val(p.p->'initialOutput')),
        ('reviewed_output', t.reviewed_output IS NOT DISTINCT FROM test.val(p.p->'reviewedOutput')),
        ('edits', t.edits IS NOT DISTINCT FROM test.val(p.p->'edits')),
        ('config', t.config IS NOT DISTINCT FROM test.val(p.p->'config')),
        ('metadata', t.metadata IS NOT DISTINCT FROM test.val(p.p->'metadata'))
    ) AS c(col, ok)

    UNION ALL
    SELECT p.fixture, format('processor_run_files[%s,%s].%s', p.ordinal, o - 1, c.col), c.ok
    FROM test.outputs p CROSS JOIN LATERAL jsonb_array_elements(p.p->'files') WITH ORDINALITY AS a(f, o)
    LEFT JOIN extend.processor_run_files t ON (t.run_id, t.processor_ordinal, t.ordinal) = (p.id, p.ordinal, o - 1),
    LATERAL (VALUES
        ('present', t.run_id IS NOT NULL),
        ('file_id', t.file_id IS NOT DISTINCT FROM f->>'id'),
        ('name', t.name IS NOT DISTINCT FROM f->>'name'),
        ('type', t.type IS NOT DISTINCT FROM f->>'type'),
        ('parent_file_id', t.parent_file_id IS NOT DISTINCT FROM f->>'parentFileId'),
        ('page_count', t.page_count IS NOT DISTINCT FROM (f->'metadata'->>'pageCount')::int)
    ) AS c(col, ok)

    UNION ALL
    SELECT p.fixture, format('processor_run_merged_processors[%s,%s].%s', p.ordinal, o - 1, c.col), c.ok
    FROM test.outputs p CROSS JOIN LATERAL jsonb_array_elements(p.p->'mergedProcessors') WITH ORDINALITY AS a(m, o)
    LEFT JOIN extend.processor_run_merged_processors t
        ON (t.run_id, t.processor_ordinal, t.ordinal) = (p.id, p.ordinal, o - 1),
    LATERAL (VALUES
        ('present', t.run_id IS NOT NULL),
        ('processor_id', t.processor_id IS NOT DISTINCT FROM m->>'processorId'),
        ('processor_version_id', t.processor_version_id IS NOT DISTINCT FROM m->>'processorVersionId'),
        ('processor_name', t.processor_name IS NOT DISTINCT FROM m->>'processorName')
    ) AS c(col, ok)

    UNION ALL
    SELECT s.fixture, format('step_runs[%s].%s', s.ordinal, c.col), c.ok
    FROM test.steps s LEFT JOIN extend.step_runs t ON (t.run_id, t.ordinal) = (s.id, s.ordinal),
    LATERAL (VALUES
        ('present', t.run_id IS NOT NULL),
        ('id', t.id IS NOT DISTINCT FROM s.s->>'id'),
        ('status', t.status IS NOT DISTINCT FROM s.s->>'status'),
        ('step_id', t.step_id IS NOT DISTINCT FROM s.s->'step'->>'id'),
        ('step_name', t.step_name IS NOT DISTINCT FROM s.s->'step'->>'name'),
        ('step_type', t.step_type IS NOT DISTINCT FROM s.s->'step'->>'type'),
        ('output', t.output IS NOT DISTINCT FROM test.val(s.s->'output'))
    ) AS c(col, ok)

    UNION ALL
    SELECT s.fixture, format('step_run_rules[%s,%s].%s', s.ordinal, o - 1, c.col), c.ok
    FROM test.steps s CROSS JOIN LATERAL jsonb_array_elements(s.s->'output'->'rules') WITH ORDINALITY AS a(u, o)
    LEFT JOIN extend.step_run_rules t ON (t.run_id, t.step_ordinal, t.ordinal) = (s.id, s.ordinal, o - 1),
    LATERAL (VALUES
        ('present', t.run_id IS NOT NULL),
        ('name', t.name IS NOT DISTINCT FROM u->>'name'),
        ('valid', t.valid IS NOT DISTINCT FROM (u->>'valid')::boolean),
        ('valid_array', t.valid_array IS NOT DISTINCT FROM test.val(u->'validArray')),
        ('failure_reason', t.failure_reason IS NOT DISTINCT FROM u->>'failureReason'),
        ('error', t.error IS NOT DISTINCT FROM u->>'error')
    ) AS c(col, ok)

    -- and no row that the JSON does not have
    UNION ALL
    SELECT r.fixture, c.tbl || ' row count', c.have = c.want
    FROM test.runs r,
    LATERAL (VALUES
        ('workflow_run_files', (SELECT count(*) FROM extend.workflow_run_files WHERE run_id = r.id),
         (SELECT count(*) FROM test.files f WHERE f.id = r.id)),
        ('workflow_run_file_pages', (SELECT count(*) FROM extend.workflow_run_file_pages WHERE run_id = r.id),
         (SELECT coalesce(sum(jsonb_array_length(f.f->'contents'->'pages')), 0) FROM test.files f
          WHERE f.id = r.id AND jsonb_typeof(f.f->'contents'->'pages') = 'array')),
        ('workflow_run_file_sheets', (SELECT count(*) FROM extend.workflow_run_file_sheets WHERE run_id = r.id),
         (SELECT coalesce(sum(jsonb_array_length(f.f->'contents'->'sheets')), 0) FROM test.files f
          WHERE f.id = r.id AND jsonb_typeof(f.f->'contents'->'sheets') = 'array')),
        ('processor_runs', (SELECT count(*) FROM extend.processor_runs WHERE run_id = r.id),
         (SELECT count(*) FROM test.outputs p WHERE p.id = r.id)),
        ('processor_run_files', (SELECT count(*) FROM extend.processor_run_files WHERE run_id = r.id),
         (SELECT coalesce(sum(jsonb_array_length(p.p->'files')), 0) FROM test.outputs p WHERE p.id = r.id)),
        ('processor_run_merged_processors',
         (SELECT count(*) FROM extend.processor_run_merged_processors WHERE run_id = r.id),
         (SELECT coalesce(sum(jsonb_array_length(p.p->'mergedProcessors')), 0) FROM test.outputs p
          WHERE p.id = r.id)),
        ('step_runs', (SELECT count(*) FROM extend.step_runs WHERE run_id = r.id),
         (SELECT count(*) FROM test.steps s WHERE s.id = r.id)),
        ('step_run_rules', (SELECT count(*) FROM extend.step_run_rules WHERE run_id = r.id),
         (SELECT coalesce(sum(jsonb_array_length(s.s->'output'->'rules')), 0) FROM test.steps s
          WHERE s.id = r.id AND jsonb_typeof(s.s->'output'->'rules') = 'array'))
    ) AS c(tbl, have, want)
)
SELECT fixture || ' ' || what FROM checks WHERE ok IS NOT TRUE ORDER BY 1;
