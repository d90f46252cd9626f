-- extend-syncd schema, version 2: claim order.  Never-fetched runs go first, then runs in motion (and retries)
-- that are due, then parked runs, each oldest due first, so a backlog of parked runs cannot starve new ones.

ALTER TABLE sync_queue ADD COLUMN priority smallint NOT NULL DEFAULT 0;
COMMENT ON COLUMN sync_queue.priority IS
    'Claim order among due runs: 0 never fetched (or re-enqueued), 1 in motion or retrying, 2 parked (NEEDS_REVIEW or an unknown status)';

UPDATE sync_queue SET priority = CASE
    WHEN last_status IS NULL THEN 0
    WHEN last_status IN ('PENDING', 'PROCESSING', 'CANCELLING') OR attempts > 0 THEN 1
    ELSE 2 END;

DROP INDEX sync_queue_due;
CREATE INDEX sync_queue_due ON sync_queue (priority, next_attempt_at) WHERE state = 'pending';

CREATE OR REPLACE FUNCTION enqueue(p_run_id text) RETURNS void
LANGUAGE sql SET search_path FROM CURRENT AS $$
    INSERT INTO sync_queue AS q (run_id) VALUES (p_run_id)
    ON CONFLICT (run_id) DO UPDATE
    SET state = 'pending',
        priority = 0,
        attempts = 0,
        polls = 0,
        finished_at = NULL,
        enqueued_at = now(),
        enqueue_gen = q.enqueue_gen + 1,
        next_attempt_at = CASE WHEN q.lease_owner IS NOT NULL AND q.lease_expires_at > now()
                               THEN q.next_attempt_at ELSE now() END;
$$;
