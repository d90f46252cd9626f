-- extend-syncd schema, version 11: the large values of the synced tables are compressed with lz4.
--
-- A run's raw JSON and its processors' outputs are kilobytes of JSON each, compressed on every write;
-- PostgreSQL's own pglz makes their COPY take about 1.7 times as long as with lz4,
-- and reads of them come back faster too, for about a quarter more space.  Only new values change; a
-- server built without lz4 (or older than 14) keeps pglz.  ALTER ... SET COMPRESSION pglz undoes it.

DO $$
DECLARE
    c record;
BEGIN
    IF current_setting('server_version_num')::int < 140000 THEN
        RAISE NOTICE 'PostgreSQL % has no per-column compression: the synced tables keep pglz',
            current_setting('server_version');
        RETURN;
    END IF;
    FOR c IN
        SELECT a.attrelid::regclass AS tab, a.attname AS col
        FROM pg_attribute a
        WHERE a.attrelid = ANY (ARRAY['workflow_runs', 'workflow_run_files', 'workflow_run_file_pages',
                                      'workflow_run_file_sheets', 'processor_runs', 'step_runs',
                                      'step_run_rules', 'extracted_fields']::regclass[])
          AND a.attnum > 0 AND NOT a.attisdropped
          AND a.atttypid IN ('jsonb'::regtype, 'text'::regtype)
        ORDER BY a.attrelid, a.attnum
    LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET COMPRESSION lz4', c.tab, c.col);
    END LOOP;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this server was built without lz4: the synced tables keep pglz';
END
$$;
