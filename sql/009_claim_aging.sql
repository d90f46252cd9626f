-- extend-syncd schema, version 9: claim order with aging.  A due run sorts by when it was due plus a delay
-- for its priority (never fetched 0 s, in motion or retrying 60 s, parked 600 s): never-fetched runs still go
-- first among runs due about as long, but a run in motion waits behind new enqueues for at most 60 s (a parked
-- one 600 s) past its due time, however steady the stream of new runs.

-- Adding seconds (no days, no months) to a timestamptz does not depend on the time zone: immutable, so it can
-- be indexed.
CREATE FUNCTION claim_key(p_priority smallint, p_due timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_due + make_interval(secs => CASE p_priority WHEN 0 THEN 0 WHEN 1 THEN 60 ELSE 600 END)
$$;
COMMENT ON FUNCTION claim_key(smallint, timestamptz) IS
    'Claim order of a due run: next_attempt_at plus 0 s (never fetched), 60 s (in motion, retrying) or 600 s (parked) for its priority';

-- The claim reads this index in order and stops after its LIMIT; the range is bounded by now() + 600 s.
CREATE INDEX sync_queue_claim ON sync_queue (claim_key(priority, next_attempt_at)) WHERE state = 'pending';

COMMENT ON COLUMN sync_queue.priority IS
    'Kind of due run, for the claim order (claim_key): 0 never fetched (or re-enqueued), 1 in motion or retrying, 2 parked (NEEDS_REVIEW or an unknown status)';
