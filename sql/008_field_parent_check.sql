-- extend-syncd schema, version 8: extracted_fields checked against processor_runs once per statement, not once
-- per row.
--
-- A run with a large extraction writes thousands of extracted_fields rows in one INSERT.  The foreign key to
-- processor_runs checked each of them on its own (a trigger call and an index probe per row): about half of the
-- time of that INSERT, measured with EXPLAIN ANALYZE on 3,000 rows ("Trigger for constraint ...": 30 ms of
-- 55 to 65 ms).  The daemon writes a run's processor runs and their fields in one transaction, so the check
-- never fails for it; but the table must stay as safe for everyone else, so the key is replaced by triggers
-- that keep what it gave:
--   - deleting a processor run (directly, or by deleting its run: workflow_runs -> processor_runs still
--     cascades by its own key) deletes its fields, as ON DELETE CASCADE did;
--   - an INSERT or UPDATE of extracted_fields whose processor run does not exist fails with SQLSTATE 23503
--     (foreign_key_violation), as before; the processor runs named are locked FOR KEY SHARE, as the key's
--     check locked them, so a concurrent delete of one waits for the writing transaction;
--   - changing the key of a processor run that has fields fails (the key was ON UPDATE NO ACTION).
-- Not kept: TRUNCATE processor_runs alone no longer refuses while extracted_fields has rows.
-- The check reads the new rows as one set (a transition table): one anti-join per statement.
--
-- The index extracted_fields_path (processor_name, path) stays, although it costs about a sixth of the INSERT
-- and neither the views nor docs/queries.md use it (field_quality reads the whole table; "WHERE path = ..."
-- alone cannot use an index led by processor_name): a look-up of one extractor's field across runs does
-- (at 300,000 fields: 0.6 ms with it, 52 ms without).

ALTER TABLE extracted_fields DROP CONSTRAINT extracted_fields_run_id_processor_ordinal_fkey;

CREATE FUNCTION extracted_fields_parent_check() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    orphan record;
BEGIN
    -- each processor run named, once, locked as the key's check locked it; the first one missing
    SELECT n.run_id, n.processor_ordinal INTO orphan
    FROM (SELECT DISTINCT run_id, processor_ordinal FROM new_rows) n
    LEFT JOIN LATERAL (SELECT true AS present FROM processor_runs p
                       WHERE p.run_id = n.run_id AND p.ordinal = n.processor_ordinal FOR KEY SHARE) l ON true
    WHERE l.present IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'insert or update on table "extracted_fields" violates foreign key constraint "extracted_fields_parent_check"',
            DETAIL = format('Key (run_id, processor_ordinal)=(%s, %s) is not present in table "processor_runs".',
                            orphan.run_id, orphan.processor_ordinal),
            TABLE = 'extracted_fields', CONSTRAINT = 'extracted_fields_parent_check';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION extracted_fields_parent_check() IS
    'Every extracted_fields row of a statement has its processor run (locked FOR KEY SHARE), else SQLSTATE 23503';

CREATE TRIGGER extracted_fields_parent_insert AFTER INSERT ON extracted_fields
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION extracted_fields_parent_check();
CREATE TRIGGER extracted_fields_parent_update AFTER UPDATE ON extracted_fields
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION extracted_fields_parent_check();

-- Per processor run, not per field: a run has a few processor runs.
CREATE FUNCTION extracted_fields_cascade() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM extracted_fields WHERE run_id = OLD.run_id AND processor_ordinal = OLD.ordinal;
    ELSIF EXISTS (SELECT 1 FROM extracted_fields WHERE run_id = OLD.run_id AND processor_ordinal = OLD.ordinal) THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'update on table "processor_runs" violates foreign key constraint "extracted_fields_parent_check" on table "extracted_fields"',
            DETAIL = format('Key (run_id, ordinal)=(%s, %s) is still referenced from table "extracted_fields".',
                            OLD.run_id, OLD.ordinal),
            TABLE = 'processor_runs', CONSTRAINT = 'extracted_fields_parent_check';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION extracted_fields_cascade() IS
    'A deleted processor run takes its extracted_fields rows with it; its key cannot change while it has some';

CREATE TRIGGER extracted_fields_cascade AFTER DELETE ON processor_runs
    FOR EACH ROW EXECUTE FUNCTION extracted_fields_cascade();
CREATE TRIGGER extracted_fields_key_update AFTER UPDATE OF run_id, ordinal ON processor_runs
    FOR EACH ROW WHEN (OLD.run_id IS DISTINCT FROM NEW.run_id OR OLD.ordinal IS DISTINCT FROM NEW.ordinal)
    EXECUTE FUNCTION extracted_fields_cascade();

COMMENT ON TABLE extracted_fields IS
    'One row per extracted leaf value of every EXTRACT output (current {value, metadata} and legacy per-field forms); each row''s processor run exists (checked per statement by extracted_fields_parent_check, deleted with it)';
