-- extend-syncd schema, version 7: discovery.  Runs are found by listing them (GET /workflow_runs, newest
-- updatedAt first), and a run covered by discovery is fetched when a list summary shows it changed.

ALTER TABLE sync_queue
    ADD COLUMN listed_status text,
    ADD COLUMN listed_updated_at timestamptz,
    ADD COLUMN fetched_updated_at timestamptz,
    ADD COLUMN workflow_id text;
COMMENT ON COLUMN sync_queue.listed_status IS 'The status the newest list summary of the run showed (NULL: never listed)';
COMMENT ON COLUMN sync_queue.listed_updated_at IS 'The updatedAt the newest list summary of the run showed (NULL: never listed)';
COMMENT ON COLUMN sync_queue.fetched_updated_at IS
    'The listed updatedAt that was current when the run was last claimed for a fetch: a later one in a list summary means the run changed since (API times are only compared with API times)';
COMMENT ON COLUMN sync_queue.workflow_id IS 'The workflow of the run, as a list summary gave it (NULL: never listed)';

ALTER TABLE workflow_runs ADD COLUMN content_hash text;
COMMENT ON COLUMN workflow_runs.content_hash IS
    'SHA-256 of the stored snapshot (raw, and what shaped its rows): a fetch that brings the same snapshot rewrites nothing';

CREATE TABLE discovery_state (
    source                 text        PRIMARY KEY,
    high_water             timestamptz,
    last_sweep_at          timestamptz,
    last_error             text,
    runs_listed            bigint      NOT NULL DEFAULT 0,
    next_sweep_at          timestamptz NOT NULL DEFAULT now(),
    failures               integer     NOT NULL DEFAULT 0,
    sweep_owner            text,
    sweep_lease_expires_at timestamptz
);
COMMENT ON TABLE discovery_state IS 'One row per discovery source: how far its sweeps got, and which daemon sweeps it now';
COMMENT ON COLUMN discovery_state.source IS 'all (every run the key can see), or workflow:<workflow ID>';
COMMENT ON COLUMN discovery_state.high_water IS 'The newest updatedAt seen by a whole sweep; the next sweep stops at high_water - discover.overlap';
COMMENT ON COLUMN discovery_state.last_sweep_at IS 'When the last whole sweep ended';
COMMENT ON COLUMN discovery_state.last_error IS 'Why the last sweep failed, NULL after a whole sweep';
COMMENT ON COLUMN discovery_state.runs_listed IS 'Run summaries the last whole sweep read';
COMMENT ON COLUMN discovery_state.next_sweep_at IS 'When any daemon should sweep the source next (after discover.interval, or a retry delay)';
COMMENT ON COLUMN discovery_state.failures IS 'Consecutive failed sweeps (drives the retry delay)';
COMMENT ON COLUMN discovery_state.sweep_owner IS 'The daemon (host:pid:nonce) sweeping the source now, if any';
COMMENT ON COLUMN discovery_state.sweep_lease_expires_at IS 'Until when sweep_owner holds the source; after that another daemon may sweep it';

-- Dashboards may show how discovery is doing (see 006_readers.sql).
SELECT grant_reader('discovery_state');
