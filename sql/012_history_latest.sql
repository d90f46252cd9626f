-- extend-syncd schema, version 12: a run's latest status-history row found through an index of its own.
--
-- Every store asks, for each run it writes, for that run's last history row.  Asked as "WHERE run_id = ...
-- ORDER BY id DESC LIMIT 1", the planner may read the primary key backwards and filter on run_id (it did
-- with no statistics yet, as in a first backfill, and with a few long histories among them); for a run seen
-- for the first time, which has no rows, that reads the whole table.  Measured on drains of 1,000 new runs
-- into one database: the statement took 13 ms a drain with 1,000 runs stored, and 459 ms with 6,000.  The
-- store now asks in the order of this index (see sql_history in src/store.c), which the primary key cannot
-- give: one descent of it, whatever the statistics say.
--
-- Building it holds off writes to the table (not reads) while it lasts: 1.4 s for a million rows here.
-- On a large table it can be built beforehand without that (in the daemon's schema, "extend" by default),
-- and this then keeps it; one that a failed CONCURRENTLY build left invalid is built again.
--   CREATE INDEX CONCURRENTLY run_status_history_latest ON extend.run_status_history (run_id, id);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('run_status_history_latest') AND NOT indisvalid) THEN
        DROP INDEX run_status_history_latest;
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS run_status_history_latest ON run_status_history (run_id, id);
