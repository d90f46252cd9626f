-- extend-syncd schema, version 3: one row that says how the sync is doing, for dashboards and alerts.

CREATE VIEW sync_health AS
SELECT
    count(*) FILTER (WHERE state = 'pending') AS pending,
    count(*) FILTER (WHERE state = 'done') AS done,
    count(*) FILTER (WHERE state = 'failed') AS failed,
    count(*) FILTER (WHERE state = 'pending' AND attempts = 0
                     AND last_status IN ('PENDING', 'PROCESSING', 'CANCELLING')) AS in_motion,
    count(*) FILTER (WHERE state = 'pending' AND attempts = 0 AND priority = 2) AS parked,
    count(*) FILTER (WHERE state = 'pending' AND attempts > 0) AS retrying,
    count(*) FILTER (WHERE state = 'pending' AND lease_owner IS NOT NULL AND lease_expires_at > now()) AS leased,
    coalesce(max(now() - next_attempt_at) FILTER (WHERE state = 'pending' AND next_attempt_at <= now()),
             interval '0') AS oldest_due_lateness,
    max(last_synced_at) AS last_successful_sync,
    count(*) FILTER (WHERE state = 'failed' AND finished_at > now() - interval '1 hour') AS failed_last_hour
FROM sync_queue;

COMMENT ON VIEW sync_health IS 'How the sync is doing, in one row (extend-syncd)';
COMMENT ON COLUMN sync_health.pending IS 'Runs that will be fetched when due';
COMMENT ON COLUMN sync_health.done IS 'Runs that reached a final status';
COMMENT ON COLUMN sync_health.failed IS 'Runs given up on (see sync_queue.last_error)';
COMMENT ON COLUMN sync_health.in_motion IS 'Pending runs last seen PENDING, PROCESSING or CANCELLING (not retrying)';
COMMENT ON COLUMN sync_health.parked IS 'Pending runs last seen in NEEDS_REVIEW or a status unknown to this version (not retrying, not re-enqueued)';
COMMENT ON COLUMN sync_health.retrying IS 'Pending runs whose last attempt failed';
COMMENT ON COLUMN sync_health.leased IS 'Runs a daemon is fetching now';
COMMENT ON COLUMN sync_health.oldest_due_lateness IS 'How late the longest-waiting due run is (0 when none is due)';
COMMENT ON COLUMN sync_health.last_successful_sync IS 'When a run snapshot was last written';
COMMENT ON COLUMN sync_health.failed_last_hour IS 'Runs given up on in the last hour';
