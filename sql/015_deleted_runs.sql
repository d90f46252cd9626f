-- extend-syncd schema, version 15: runs deleted at Extend.
--
-- A run that answers 404 after it was stored was deleted at Extend (or by someone with the key).  Its rows
-- stay, for the history they tell; deleted_at says when the daemon learned of it, and the readers' views
-- leave such runs out unless asked.
ALTER TABLE workflow_runs ADD COLUMN deleted_at timestamptz;
COMMENT ON COLUMN workflow_runs.deleted_at IS 'When the API first answered 404 for this stored run (deleted at Extend); NULL while it exists';
