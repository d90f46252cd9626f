-- Roles for extend-syncd, run once by an administrator (and again after an upgrade adds tables):
--
--     psql -v schema=extend -f /usr/share/extend-syncd/roles.sql
--
-- extend_syncd:  the daemon.  Owns its schema, so it can migrate it and write its tables; nothing else.
-- extend_reader: dashboards.  Reads the data tables and the views; cannot read the queue's internals
--                (sync_queue, schema_migrations) nor write anywhere.  run_overview and sync_health show what
--                a dashboard needs of the queue.
-- Give them passwords or peer mappings as your site does (ALTER ROLE ... PASSWORD, pg_hba.conf, pg_ident.conf).

\if :{?schema}
\else
\set schema extend
\endif

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'extend_syncd') THEN
        CREATE ROLE extend_syncd LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'extend_reader') THEN
        CREATE ROLE extend_reader LOGIN;
    END IF;
END
$$;

SELECT format('GRANT CONNECT ON DATABASE %I TO extend_syncd, extend_reader', current_database()) \gexec
CREATE SCHEMA IF NOT EXISTS :"schema" AUTHORIZATION extend_syncd;
ALTER SCHEMA :"schema" OWNER TO extend_syncd;
GRANT USAGE ON SCHEMA :"schema" TO extend_reader;

-- every table and view the schema has now, but the queue's internals
SELECT format('GRANT SELECT ON %I.%I TO extend_reader', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :'schema' AND c.relkind IN ('r', 'v', 'm')
  AND c.relname NOT IN ('sync_queue', 'schema_migrations', 'discovery_state') \gexec
REVOKE ALL ON ALL TABLES IN SCHEMA :"schema" FROM PUBLIC;
