-- extend-syncd schema, version 11: the large values of the synced tables are compressed with lz4.
--
-- A run's raw JSON and its processors' outputs are kilobytes of JSON each, compressed on every write;
-- PostgreSQL's own pglz makes their COPY take about 1.7 times as long as with lz4, and reads of them come
-- back faster too, for about a quarter more space.  Only new values change.  Speed only, so nothing here
-- may keep the daemon from starting: a server built without lz4 (or older than 14) keeps pglz, and so does
-- a table that another session holds for more than a few seconds (a long dashboard query) or that this
-- role may not alter; ALTER TABLE ... ALTER COLUMN ... SET COMPRESSION lz4 does it later by hand, and
-- SET COMPRESSION pglz undoes it.

DO $$
DECLARE
    t regclass;
    c name;
BEGIN
    IF current_setting('server_version_num')::int < 140000 THEN
        RAISE WARNING 'PostgreSQL % has no per-column compression: the synced tables keep pglz',
            current_setting('server_version');
        RETURN;
    END IF;
    PERFORM set_config('lock_timeout', '5s', true);
    FOREACH t IN ARRAY ARRAY['workflow_runs', 'workflow_run_files', 'workflow_run_file_pages',
                             'workflow_run_file_sheets', 'processor_runs', 'processor_run_files',
                             'processor_run_merged_processors', 'step_runs', 'step_run_rules',
                             'extracted_fields', 'classifications', 'splits', 'run_status_history']::regclass[]
    LOOP
        BEGIN
            FOR c IN
                SELECT attname FROM pg_attribute
                WHERE attrelid = t AND attnum > 0 AND NOT attisdropped
                  AND atttypid IN ('jsonb'::regtype, 'text'::regtype)
                ORDER BY attnum
            LOOP
                EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET COMPRESSION lz4', t, c);
            END LOOP;
        EXCEPTION
            WHEN feature_not_supported THEN
                RAISE WARNING 'this server was built without lz4: the synced tables keep pglz';
                RETURN;
            WHEN lock_not_available OR insufficient_privilege THEN
                RAISE WARNING 'table % keeps pglz: %', t, SQLERRM;
        END;
    END LOOP;
END
$$;
