-- extend-syncd schema, version 13: list summaries that a sweep could not read whole, and fetches that disagree
-- with the list.
--
-- A summary without a valid "id" is skipped; one with a valid ID but no usable "status" or "updatedAt" is
-- kept for what it says (its run is enqueued and its fetch tells the truth).  Either way the sweep goes on,
-- and the source counts it here (and in extend_syncd_discovery_malformed_summaries_total).

ALTER TABLE discovery_state
    ADD COLUMN malformed_summaries bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_sweep_malformed bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_malformed text,
    ADD COLUMN last_malformed_at timestamptz;
COMMENT ON COLUMN discovery_state.malformed_summaries IS
    'Malformed list summaries read, all sweeps together (a summary read again by a later sweep counts again)';
COMMENT ON COLUMN discovery_state.last_sweep_malformed IS 'Malformed list summaries the last whole sweep read (0: none)';
COMMENT ON COLUMN discovery_state.last_malformed IS 'What was wrong with the last malformed summary read, naming its run ID when it had one';
COMMENT ON COLUMN discovery_state.last_malformed_at IS 'When the last malformed summary was read';

-- A list ahead of the run endpoint (API replicas lag): a fetch whose status is not the one the run's newest list
-- summary showed leaves the run due again soon, a few times, before its status is taken as it is.
ALTER TABLE sync_queue ADD COLUMN listed_rechecks smallint NOT NULL DEFAULT 0;
COMMENT ON COLUMN sync_queue.listed_rechecks IS
    'Fetches in a row whose status was not listed_status, each followed by another soon: 1 to 5 (a re-check pending), 6 (the status fetched was taken as it is), 0 after a fetch that agreed or a newer listing';
