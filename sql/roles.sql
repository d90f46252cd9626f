-- Roles for extend-syncd, run once by an administrator, as a superuser, in the daemon's database:
--
--     sudo -u postgres psql -d extend -v schema=extend -f /usr/share/extend-syncd/roles.sql
--
-- (add -v extracted_schema=NAME when database.extracted_schema is not extend_extracted)
--
-- extend_syncd:  the daemon.  Owns its schema (and everything in it), so it creates and upgrades the schema
--                at every start and writes its tables; it owns nothing else and needs no other right.
-- extend_reader: dashboards.  Reads the data tables and the views, present and future; cannot read the
--                queue's internals (sync_queue, schema_migrations, internal tables) nor write anywhere.
--                run_overview, runs_in_trouble and sync_health show what a dashboard needs of the queue.
--
-- Order does not matter.  Before the daemon's first start, it makes the schema for extend_syncd, and the
-- daemon's migrations grant extend_reader what they add.  After a start by another role (an earlier install
-- that ran as a superuser or as the database owner), it hands the schema and its objects to extend_syncd
-- and grants extend_reader what the migrations declared readable.  Running it again changes nothing.
-- Upgrades need not run it again: each migration declares its own readable relations (grant_reader()).
--
-- The service connects over the Unix socket with peer authentication: its unit runs as the system user
-- extend_syncd, the same name as the role, so the default "local all all peer" line of pg_hba.conf lets it in.
-- Give extend_reader a password or a peer mapping as your site does (ALTER ROLE ... PASSWORD, pg_ident.conf).

\set ON_ERROR_STOP on
\if :{?schema}
\else
\set schema extend
\endif
\if :{?extracted_schema}
\else
\set extracted_schema extend_extracted
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
-- The typed views of the extractors (database.extracted_schema): the daemon makes and replaces them there.
CREATE SCHEMA IF NOT EXISTS :"extracted_schema" AUTHORIZATION extend_syncd;
ALTER SCHEMA :"extracted_schema" OWNER TO extend_syncd;
GRANT USAGE ON SCHEMA :"extracted_schema" TO extend_reader;

-- Objects made by another role (an earlier start with more rights) go to extend_syncd, so its migrations
-- may alter them.  Sequences that belong to a column follow their table.
SELECT format('ALTER %s %I.%I OWNER TO extend_syncd',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                             WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :'schema' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND c.relowner <> 'extend_syncd'::regrole
  AND NOT EXISTS (SELECT FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
ORDER BY c.oid \gexec
SELECT format('ALTER ROUTINE %s OWNER TO extend_syncd', p.oid::regprocedure)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = :'schema' AND p.proowner <> 'extend_syncd'::regrole \gexec

GRANT USAGE ON SCHEMA :"schema" TO extend_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA :"schema" FROM PUBLIC;

-- What the migrations so far declared readable (nothing yet before the daemon's first start).
SELECT to_regprocedure(format('%I.grant_reader(text[])', :'schema')) IS NOT NULL AS have_grant_reader \gset
\if :have_grant_reader
-- as its owner, not as the superuser running this: the daemon's role owns (and may have changed) that code
SET ROLE extend_syncd;
SELECT format('SELECT %I.grant_reader()', :'schema') \gexec
RESET ROLE;
\endif
