-- extend-syncd schema, version 10: the daemons on one database share one API budget (api.rate_limit).
--
-- Each running daemon holds a row here under a short lease, renewed about once a second; its share of the
-- budget follows the live rows.  Internal to the daemons: dashboards have nothing to read here.

CREATE TABLE sync_budget (
    owner      text             PRIMARY KEY,
    joined_at  timestamptz      NOT NULL DEFAULT now(),
    expires_at timestamptz      NOT NULL,
    rate_limit double precision NOT NULL CHECK (rate_limit > 0),
    leaving    boolean          NOT NULL DEFAULT false
);

COMMENT ON TABLE sync_budget IS 'The daemons sharing the API budget now, one row each under a short lease (extend-syncd internal)';
COMMENT ON COLUMN sync_budget.owner IS 'The daemon (host:pid:nonce), as in sync_queue.lease_owner';
COMMENT ON COLUMN sync_budget.joined_at IS 'When its membership began: the order in which whole requests left over by an uneven split go out';
COMMENT ON COLUMN sync_budget.expires_at IS 'Until when it counts; a daemon that cannot renew its row has stopped sending well before this';
COMMENT ON COLUMN sync_budget.rate_limit IS 'Its api.rate_limit: the budget shared is the smallest of the live rows';
COMMENT ON COLUMN sync_budget.leaving IS 'It stopped and sends nothing more; the row counts only until its last second of requests is over';
