-- extend-syncd schema, version 17: shares of the API budget follow demand (issue 18, item 9).
--
-- Each daemon claims a number of whole tokens (one request a second each, or below one a second the single token
-- of api.rate_limit); a daemon raises its claim only into what the others' claims leave free, under the budget's
-- lock, and a lowered claim still counts at its old size until the requests sent under it are a window old.

ALTER TABLE sync_budget
    ADD COLUMN claim         integer     NOT NULL DEFAULT 0 CHECK (claim >= 0),
    ADD COLUMN claim_was     integer     NOT NULL DEFAULT 0 CHECK (claim_was >= 0),
    ADD COLUMN lowered_at    timestamptz,
    ADD COLUMN demand        integer     NOT NULL DEFAULT 0 CHECK (demand >= 0),
    ADD COLUMN hungry_since  timestamptz,
    ADD COLUMN holding_since timestamptz;

COMMENT ON COLUMN sync_budget.joined_at IS 'When its membership began; a membership begins with no claim';
COMMENT ON COLUMN sync_budget.claim IS 'The whole tokens it may send at now (one request a second each, or the one token of a rate below one a second)';
COMMENT ON COLUMN sync_budget.claim_was IS 'Its claim before the last lowering: counted until that lowering has drained';
COMMENT ON COLUMN sync_budget.lowered_at IS 'When it last lowered its claim, after it had stopped sending above it';
COMMENT ON COLUMN sync_budget.demand IS 'The requests it could send now if it had the tokens (its backlog and the runs due)';
COMMENT ON COLUMN sync_budget.hungry_since IS 'Since when it has had demand and no claim: the longest waiting is served first';
COMMENT ON COLUMN sync_budget.holding_since IS 'Since when it has held a claim: its turn, when tokens are fewer than the daemons wanting them';
