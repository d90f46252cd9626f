-- extend-syncd schema, version 19: runs claimed by a daemon that died are claimable at once (issue 21, item 6).
--
-- A daemon killed with SIGKILL (or its host lost) left its claimed runs to wait out sync.lease (300 s by
-- default).  Its row in sync_budget stops being renewed and expires within seconds; a claim now also takes the
-- pending runs leased to an owner with no live budget row.  This index holds only the leased rows (the runs in
-- flight, a few per daemon), so finding them reads no other row.  Building it reads the queue once and holds off
-- writes to it meanwhile; on a large queue it can be built beforehand (in the daemon's schema, "extend" by
-- default), and this then keeps it:
--   CREATE INDEX CONCURRENTLY sync_queue_leased ON extend.sync_queue (lease_owner) WHERE lease_owner IS NOT NULL;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('sync_queue_leased') AND NOT indisvalid) THEN
        DROP INDEX sync_queue_leased;
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS sync_queue_leased ON sync_queue (lease_owner) WHERE lease_owner IS NOT NULL;

COMMENT ON COLUMN sync_queue.lease_owner IS
    'The daemon (host:pid:nonce) that holds the run; once its sync_budget row has expired (it died), the run is claimable at once';
