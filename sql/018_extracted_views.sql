-- extend-syncd schema, version 18: one typed view per extractor (issue 20; contract.md, "Extracted views").
--
-- Each EXTRACT processor (an "extractor") gets a view in a schema of its own (database.extracted_schema,
-- extend_extracted by default), one row per processor run, with a typed column per field its versions
-- declared.  The views are generated in plpgsql from each version's config (config.schema, or the legacy
-- config.fields), which this schema keeps, one per version seen:
--
--     extracted_views          processor id -> view name, given once and never changed
--     extracted_view_versions  one config per (processor, version) seen
--
-- The daemon calls note_extractor_version() in the transaction that stores the first run of a version it has
-- not seen (a run of a known version costs no statement); refresh_extracted_views() rebuilds the views from
-- what is stored (--refresh-views, and at start for the views that are missing).
--
-- Every identifier is quoted with format('%I') and every value with format('%L') (DDL takes no parameters);
-- nothing from a config or an output is pasted into SQL text unquoted.
--
-- Casts never raise: each typed column goes through one of the extracted_* functions below, which validate
-- the JSON value and then cast it (a value that does not fit is NULL; it stays in the view's output).  They are
-- IMMUTABLE single-expression SQL functions without SET, so the planner inlines them into the view's query:
-- no function call per row.
--
-- The main views read typed tables.  A view that casts the JSON of every row as it is read answers "sum of total__amount by month" over 100,000
-- runs in 0.4 s where a table with the same typed columns takes 0.03 s: the validations (a date's regular
-- expression above all) and the JSON lookups cost per row and per read.  So each extractor's main view reads a
-- table that holds its field columns already cast, one row per processor run, and answers as fast as that
-- table: the casts are paid once, when the run is stored.
--
--     xt_<view>   _run_id, _ordinal (the processor run's key), _processor_run_id, _processor_version_id,
--                 _reviewed, _edited, then the view's field columns with their names and types
--
-- Field columns never begin with "_" (the character rule trims it), so the two never meet.  Triggers on
-- processor_runs keep it: rows inserted (one call per statement the daemon sends, whatever its row count, with
-- the statement's rows as a transition table) are cast into it, rows deleted (a run stored again, or deleted
-- with its workflow run) taken out of it, rows updated both, a TRUNCATE empties it.  The daemon sends no
-- statement more and no DDL for a run of a known version.  No foreign key: adding one would lock processor_runs
-- against the stores of every other daemon while a view is rebuilt.
--
-- When the columns of a view change (a new version declares new fields or other types), extracted_build makes
-- a new table, fills it from processor_runs, points the view at it and drops the old one, in the transaction
-- that rebuilds the view and under the extractor's advisory lock.  The trigger takes that lock shared before it
-- reads where to write: a statement storing rows of the extractor waits for a rebuild under way and then writes
-- into the new table; a rebuild waits for the statements that took it before (their rows are then committed and
-- in its fill).  The child views (arrays of objects) still cast per row.
--
-- The typed tables live in this schema, not in the views' schema (which extend_reader reads whole); the views
-- read them with their owner's rights.

-- The character rule of the contract: lowercased, each run of characters other than a-z0-9 one "_", leading and
-- trailing "_" trimmed.  Empty when nothing is left.
CREATE FUNCTION extracted_name_part(p_name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.lower(coalesce($1, '')), '[^a-z0-9]+', '_', 'g'), '_')
$$;
COMMENT ON FUNCTION extracted_name_part(text) IS 'The character rule of extracted view and column names: lowercased, runs of other characters than a-z0-9 one "_", trimmed of "_"';

-- PostgreSQL cuts identifiers at 63 bytes (NAMEDATALEN - 1), and two long names that share their first 63
-- bytes would then be one.  A name longer than that keeps its first 54 characters, then "_" and the first 8
-- hex digits of the MD5 of the whole name: 63 bytes, the same every time for the same name, and distinct for
-- names that differ anywhere (up to MD5 collisions of 32 bits, which the callers' uniqueness checks catch).
-- Names made by the character rule are ASCII, so characters are bytes.
CREATE FUNCTION extracted_ident(p_name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN pg_catalog.octet_length($1) <= 63 THEN $1
            ELSE pg_catalog.left($1, 54) || '_' || pg_catalog.left(pg_catalog.md5($1), 8) END
$$;
COMMENT ON FUNCTION extracted_ident(text) IS 'An identifier cut to 63 bytes deterministically: longer names keep 54 characters, "_" and 8 hex digits of their MD5';

-- The casts of the typed columns: validate, then cast; NULL when the value does not fit.
CREATE FUNCTION extracted_text(p_value jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN pg_catalog.jsonb_typeof($1) IN ('string', 'number', 'boolean') THEN $1 #>> '{}' END
$$;
COMMENT ON FUNCTION extracted_text(jsonb) IS 'A JSON string, number or boolean as text; NULL for null, objects and arrays';

CREATE FUNCTION extracted_numeric(p_value jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN pg_catalog.jsonb_typeof($1) = 'number' THEN $1::numeric END
$$;
COMMENT ON FUNCTION extracted_numeric(jsonb) IS 'A JSON number as numeric; NULL for anything else (a string of digits too)';

CREATE FUNCTION extracted_bigint(p_value jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN pg_catalog.jsonb_typeof($1) IS DISTINCT FROM 'number' THEN NULL
            WHEN $1::numeric <> pg_catalog.trunc($1::numeric) THEN NULL
            WHEN $1::numeric < -9223372036854775808 OR $1::numeric > 9223372036854775807 THEN NULL
            ELSE $1::numeric::bigint END
$$;
COMMENT ON FUNCTION extracted_bigint(jsonb) IS 'A JSON number that is integral and fits bigint, as bigint; NULL for anything else';

CREATE FUNCTION extracted_boolean(p_value jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN pg_catalog.jsonb_typeof($1) = 'boolean' THEN $1::boolean END
$$;
COMMENT ON FUNCTION extracted_boolean(jsonb) IS 'A JSON boolean as boolean; NULL for anything else';

-- A date: one regular expression accepts exactly the real dates YYYY-MM-DD of years 0001 to 9999 (the day
-- checked against its month, 29 February against the leap years of the Gregorian calendar), then make_date()
-- (immutable, unlike text::date) builds it; no call can raise.  One expression, without calls to functions
-- of this schema (an inlined body is parsed with the reader's search_path), and the JSON value used three
-- times after the check: the day-by-day checks with substr() took twice as long over 100,000 runs.
CREATE FUNCTION extracted_date(p_value jsonb) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN pg_catalog.jsonb_typeof($1) = 'string'
             AND ($1 #>> '{}') ~ '^(?!0000)(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)$'
            THEN pg_catalog.make_date(pg_catalog.substr($1 #>> '{}', 1, 4)::integer,
                                      pg_catalog.substr($1 #>> '{}', 6, 2)::integer,
                                      pg_catalog.substr($1 #>> '{}', 9, 2)::integer) END
$$;
COMMENT ON FUNCTION extracted_date(jsonb) IS 'A JSON string YYYY-MM-DD naming a real date, as date; NULL for anything else (2025-02-31, 31/02/2025)';

-- The extracted value of each EXTRACT processor run, stored beside its output: output is TOASTed (kilobytes of
-- lz4 with the metadata of every field), and a view that read it decompressed it for every row; the value
-- alone is a few hundred bytes, kept in the row.  Over 100,000 runs, sum of an amount by month of a date: 1.0 s
-- reading output once per row, 0.5 s reading this (the hand-made table: 0.1 s).  Legacy outputs (config.fields)
-- are keyed by field name, each entry holding "value": their value maps each name to that.
CREATE FUNCTION extracted_value_of(p_type text, p_config jsonb, p_output jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN $1 IS DISTINCT FROM 'EXTRACT' THEN NULL
            WHEN pg_catalog.jsonb_typeof($2 -> 'schema') = 'object' OR pg_catalog.jsonb_typeof($2 -> 'fields') IS DISTINCT FROM 'array'
            THEN $3 -> 'value'
            ELSE (SELECT pg_catalog.jsonb_object_agg(l.key, l.value -> 'value')
                  FROM pg_catalog.jsonb_each(CASE WHEN pg_catalog.jsonb_typeof($3) = 'object' THEN $3 END) l) END
$$;
COMMENT ON FUNCTION extracted_value_of(text, jsonb, jsonb) IS 'The extracted value of a processor run: output.value, or for a legacy config.fields each entry''s value by field name; NULL but for EXTRACT';

-- (rewrites processor_runs once, at this upgrade: 9 s for 100,000 runs here)
ALTER TABLE processor_runs ADD COLUMN extracted_value jsonb
    GENERATED ALWAYS AS (extracted_value_of(type, config, output)) STORED;
COMMENT ON COLUMN processor_runs.extracted_value IS 'EXTRACT runs: the extracted value (output.value; legacy: each field''s value by name), which the extracted views read';
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        ALTER TABLE processor_runs ALTER COLUMN extracted_value SET COMPRESSION lz4;
    END IF;
EXCEPTION WHEN feature_not_supported THEN
    NULL;  -- a server without lz4 keeps pglz, as migration 011 says
END
$$;

-- The views leave deleted runs out with an anti-join on this index, which holds only those (usually none).
CREATE INDEX workflow_runs_deleted ON workflow_runs (id) WHERE deleted_at IS NOT NULL;

CREATE TABLE extracted_views (
    processor_id  text        PRIMARY KEY,
    view_name     text        NOT NULL UNIQUE,
    first_seen_at timestamptz NOT NULL,
    built_at      timestamptz,
    build_error   text,
    relations     text[],
    typed_table     text,
    typed_signature text,
    typed_insert    text
);
COMMENT ON TABLE extracted_views IS 'The typed view of each extractor (EXTRACT processor), in the schema database.extracted_schema';
COMMENT ON COLUMN extracted_views.processor_id IS 'The extractor (processor_runs.processor_id)';
COMMENT ON COLUMN extracted_views.view_name IS 'Its view, named by the extractor''s name when first seen; never changes (child views: view_name__field)';
COMMENT ON COLUMN extracted_views.first_seen_at IS 'When the first run of the extractor was stored';
COMMENT ON COLUMN extracted_views.built_at IS 'When its views were last (re)built';
COMMENT ON COLUMN extracted_views.relations IS 'Its views at the last rebuild: the main view, then the child views (view__field)';
COMMENT ON COLUMN extracted_views.build_error IS 'Why the last rebuild kept an old view or made none (a view of yours depends on it, ...); NULL when it went through';
COMMENT ON COLUMN extracted_views.typed_table IS 'The table in this schema that holds the main view''s field columns already cast (NULL: the view casts the JSON per row)';
COMMENT ON COLUMN extracted_views.typed_signature IS 'MD5 of the typed table''s columns and casts: a rebuild that leaves it the same keeps the table';
COMMENT ON COLUMN extracted_views.typed_insert IS 'The statement with which the trigger on processor_runs fills the typed table from the rows of a statement (new_rows)';

CREATE TABLE extracted_view_versions (
    processor_id         text        NOT NULL REFERENCES extracted_views (processor_id) ON DELETE CASCADE,
    processor_version_id text        NOT NULL,
    processor_name       text,
    config               jsonb,
    first_seen_at        timestamptz NOT NULL,
    built                boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (processor_id, processor_version_id)
);
COMMENT ON TABLE extracted_view_versions IS 'The config of each version of each extractor seen, from which its view''s columns are made';
COMMENT ON COLUMN extracted_view_versions.processor_id IS 'The extractor';
COMMENT ON COLUMN extracted_view_versions.processor_version_id IS 'The version (processor_runs.processor_version_id)';
COMMENT ON COLUMN extracted_view_versions.processor_name IS 'The extractor''s name in the first run of this version seen';
COMMENT ON COLUMN extracted_view_versions.config IS 'The version''s config (config.schema or the legacy config.fields declare the columns)';
COMMENT ON COLUMN extracted_view_versions.first_seen_at IS 'When the first run of this version was stored';
COMMENT ON COLUMN extracted_view_versions.built IS 'Whether the extractor''s views were rebuilt with this version since it was recorded (false: recorded without, as record_extractor_versions() does; the start-up refresh rebuilds them)';

-- The type of a JSON Schema node: its "type", or the first of its "type" array that is not "null"; "string" for
-- an enum without a type; NULL when it has none.
CREATE FUNCTION extracted_schema_type(p_node jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN pg_catalog.jsonb_typeof($1 -> 'type') = 'string' THEN $1 ->> 'type'
            WHEN pg_catalog.jsonb_typeof($1 -> 'type') = 'array'
            THEN (SELECT t.value #>> '{}' FROM pg_catalog.jsonb_array_elements($1 -> 'type') WITH ORDINALITY t (value, n)
                  WHERE pg_catalog.jsonb_typeof(t.value) = 'string' AND t.value #>> '{}' <> 'null'
                  ORDER BY t.n LIMIT 1)
            WHEN pg_catalog.jsonb_typeof($1 -> 'enum') = 'array' THEN 'string' END
$$;
COMMENT ON FUNCTION extracted_schema_type(jsonb) IS 'The type a JSON Schema node declares, leaving out "null"';

-- A scalar JSON Schema type (or legacy field type) as a column type; jsonb for what is not a known scalar.
CREATE FUNCTION extracted_scalar_type(p_type text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE $1 WHEN 'string' THEN 'text' WHEN 'enum' THEN 'text' WHEN 'integer' THEN 'bigint'
               WHEN 'number' THEN 'numeric' WHEN 'boolean' THEN 'boolean' WHEN 'date' THEN 'date'
               ELSE 'jsonb' END
$$;
COMMENT ON FUNCTION extracted_scalar_type(text) IS 'The column type of a scalar JSON Schema or legacy field type';

-- The columns one version declares, in order: the properties of each object in key order (jsonb keeps no
-- declaration order), legacy fields in their order.  Each row is one column of one relation:
--   tbl    the array chain that leads to the relation: [] for the main view, [["line_items"]] for the child
--          view of line_items[], [["line_items"], ["taxes"]] for line_items[].taxes[], [["vendor", "contacts"]]
--          for vendor.contacts[] (an array inside an object);
--   path   the JSON path of the value within the extracted value (main view) or within the array's item;
--   names  the parts of the column's name (the path's keys, but currency's iso_4217_currency_code is
--          "currency"), joined with "__" after the character rule;
--   typ    text, bigint, numeric, boolean, date, jsonb, one of those with [] (an array of scalars), or "*": no
--          column, the mark that the relation tbl (an array of objects) exists.
CREATE FUNCTION extracted_schema_columns(p_node jsonb, p_tbl jsonb, p_path text[], p_names text[], p_depth integer,
                                         OUT tbl jsonb, OUT path text[], OUT names text[], OUT typ text,
                                         OUT descr text)
RETURNS SETOF record
LANGUAGE plpgsql IMMUTABLE SET search_path FROM CURRENT AS $$
DECLARE
    k text;
    prop jsonb;
    t text;
    it text;
    items jsonb;
    ctbl jsonb;
BEGIN
    IF jsonb_typeof(p_node -> 'properties') IS DISTINCT FROM 'object' THEN
        RETURN;
    END IF;
    FOR k, prop IN SELECT e.key, e.value FROM jsonb_each(p_node -> 'properties') e ORDER BY e.key COLLATE "C" LOOP
        tbl := p_tbl;
        path := p_path || k;
        names := p_names || k;
        descr := CASE WHEN jsonb_typeof(prop -> 'description') = 'string' THEN prop ->> 'description' END;
        t := extracted_schema_type(prop);
        IF prop ->> 'extend:type' = 'date' THEN
            typ := 'date';
            RETURN NEXT;
        ELSIF prop ->> 'extend:type' = 'currency' THEN
            RETURN QUERY SELECT p_tbl, p_path || k || x.key, p_names || k || x.name, x.typ, descr
                         FROM (VALUES ('amount', 'amount', 'numeric', 1),
                                      ('iso_4217_currency_code', 'currency', 'text', 2)) x (key, name, typ, n)
                         ORDER BY x.n;
        ELSIF prop ->> 'extend:type' = 'signature' THEN
            RETURN QUERY SELECT p_tbl, p_path || k || x.key, p_names || k || x.key, x.typ, descr
                         FROM (VALUES ('is_signed', 'boolean', 1), ('printed_name', 'text', 2),
                                      ('signatory_title', 'text', 3), ('signature_date', 'date', 4)) x (key, typ, n)
                         ORDER BY x.n;
        ELSIF t = 'object' AND p_depth < 8 AND jsonb_typeof(prop -> 'properties') = 'object' THEN
            RETURN QUERY SELECT * FROM extracted_schema_columns(prop, p_tbl, p_path || k, p_names || k, p_depth + 1);
        ELSIF t = 'array' THEN
            items := prop -> 'items';
            it := extracted_schema_type(items);
            IF it = 'object' AND p_depth < 8 THEN
                -- an array of objects: a child relation, its columns relative to the item
                ctbl := p_tbl || jsonb_build_array(to_jsonb(p_path || k));
                tbl := ctbl;
                path := '{}';
                names := '{}';
                typ := '*';
                RETURN NEXT;
                RETURN QUERY SELECT * FROM extracted_schema_columns(items, ctbl, '{}', '{}', p_depth + 1);
            ELSE
                typ := CASE WHEN items ->> 'extend:type' = 'date' THEN 'date'
                            ELSE extracted_scalar_type(it) END;
                typ := CASE WHEN typ = 'jsonb' THEN 'jsonb' ELSE typ || '[]' END;
                RETURN NEXT;
            END IF;
        ELSE
            typ := extracted_scalar_type(t);
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION extracted_schema_columns(jsonb, jsonb, text[], text[], integer) IS 'The columns a config.schema node declares (see extracted_version_columns)';

-- The columns a legacy config.fields declares (rows as extracted_schema_columns): a field's value is the
-- output's entry of its name, under "value"; the view's extracted value maps each name to that (extracted_output).
CREATE FUNCTION extracted_legacy_columns(p_fields jsonb, p_tbl jsonb, p_path text[], p_names text[], p_depth integer,
                                         OUT tbl jsonb, OUT path text[], OUT names text[], OUT typ text,
                                         OUT descr text)
RETURNS SETOF record
LANGUAGE plpgsql IMMUTABLE SET search_path FROM CURRENT AS $$
DECLARE
    f jsonb;
    k text;
    t text;
    ctbl jsonb;
BEGIN
    IF jsonb_typeof(p_fields) IS DISTINCT FROM 'array' THEN
        RETURN;
    END IF;
    FOR f IN SELECT e.value FROM jsonb_array_elements(p_fields) WITH ORDINALITY e (value, n) ORDER BY e.n LOOP
        CONTINUE WHEN jsonb_typeof(f -> 'name') IS DISTINCT FROM 'string';
        k := f ->> 'name';
        t := f ->> 'type';
        tbl := p_tbl;
        path := p_path || k;
        names := p_names || k;
        descr := CASE WHEN jsonb_typeof(f -> 'description') = 'string' THEN f ->> 'description' END;
        IF t = 'currency' THEN
            RETURN QUERY SELECT p_tbl, p_path || k || x.key, p_names || k || x.name, x.typ, descr
                         FROM (VALUES ('amount', 'amount', 'numeric', 1),
                                      ('iso_4217_currency_code', 'currency', 'text', 2)) x (key, name, typ, n)
                         ORDER BY x.n;
        ELSIF t = 'signature' THEN
            RETURN QUERY SELECT p_tbl, p_path || k || x.key, p_names || k || x.key, x.typ, descr
                         FROM (VALUES ('is_signed', 'boolean', 1), ('printed_name', 'text', 2),
                                      ('signatory_title', 'text', 3), ('signature_date', 'date', 4)) x (key, typ, n)
                         ORDER BY x.n;
        ELSIF t = 'object' AND jsonb_typeof(f -> 'schema') = 'array' AND p_depth < 8 THEN
            RETURN QUERY SELECT * FROM extracted_legacy_columns(f -> 'schema', p_tbl, p_path || k, p_names || k,
                                                                p_depth + 1);
        ELSIF t = 'array' AND jsonb_typeof(f -> 'schema') = 'array' AND jsonb_array_length(f -> 'schema') > 0
              AND p_depth < 8 THEN
            ctbl := p_tbl || jsonb_build_array(to_jsonb(p_path || k));
            tbl := ctbl;
            path := '{}';
            names := '{}';
            typ := '*';
            RETURN NEXT;
            RETURN QUERY SELECT * FROM extracted_legacy_columns(f -> 'schema', ctbl, '{}', '{}', p_depth + 1);
        ELSIF t = 'array' THEN
            typ := 'text[]';
            RETURN NEXT;
        ELSE
            typ := extracted_scalar_type(t);
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION extracted_legacy_columns(jsonb, jsonb, text[], text[], integer) IS 'The columns a legacy config.fields declares (see extracted_version_columns)';

-- The columns of one version's config, in order (see extracted_schema_columns for the rows).
CREATE FUNCTION extracted_version_columns(p_config jsonb,
                                          OUT tbl jsonb, OUT path text[], OUT names text[], OUT typ text,
                                          OUT descr text)
RETURNS SETOF record
LANGUAGE plpgsql IMMUTABLE SET search_path FROM CURRENT AS $$
BEGIN
    IF jsonb_typeof(p_config -> 'schema') = 'object' THEN
        RETURN QUERY SELECT * FROM extracted_schema_columns(p_config -> 'schema', '[]', '{}', '{}', 1);
    ELSE
        RETURN QUERY SELECT * FROM extracted_legacy_columns(p_config -> 'fields', '[]', '{}', '{}', 1);
    END IF;
END
$$;
COMMENT ON FUNCTION extracted_version_columns(jsonb) IS 'The columns an extractor version''s config declares, in order: relation (array chain), JSON path, name parts, type, description';

-- The typed column of a JSON value given as the SQL expression p_src: one of the casts above (qualified with
-- this schema, p_me), or for an array type the array of the cast elements (NULL when the value is no array).
CREATE FUNCTION extracted_cast(p_src text, p_typ text, p_me text) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path FROM CURRENT AS $$
BEGIN
    IF p_typ LIKE '%[]' THEN
        RETURN format('CASE WHEN pg_catalog.jsonb_typeof(%s) = ''array'' THEN ARRAY(SELECT %s FROM '
                      'pg_catalog.jsonb_array_elements(%s) WITH ORDINALITY el (e, n) ORDER BY el.n) END',
                      p_src, extracted_cast('el.e', left(p_typ, -2), p_me), p_src);
    ELSIF p_typ IN ('text', 'bigint', 'numeric', 'boolean', 'date') THEN
        RETURN format('%I.%I(%s)', p_me, 'extracted_' || p_typ, p_src);
    END IF;
    RETURN p_src;
END
$$;
COMMENT ON FUNCTION extracted_cast(text, text, text) IS 'SQL expression of a typed column from the SQL expression of a JSON value';

-- COMMENTs of the fixed columns of a main view (p_depth 0) or of a child view at p_depth arrays deep.
CREATE FUNCTION extracted_comment_fixed(p_schema text, p_view text, p_depth integer) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT * FROM (VALUES
            ('run_id', 'The workflow run (workflow_runs.id)'),
            ('processor_run_id', 'The processor run (processor_runs.id)'),
            ('processor_version_id', 'Version of the extractor that ran'),
            ('workflow_id', 'The workflow'),
            ('workflow_name', 'Name of the workflow'),
            ('run_status', 'API status of the workflow run at the last fetch'),
            ('reviewed', 'Whether a person reviewed the processor run'),
            ('edited', 'Whether a reviewer edited its output'),
            ('initial_run_at', 'When the workflow run was first started'),
            ('end_time', 'When the workflow run''s processing ended'),
            ('synced_at', 'When the workflow run was last written (workflow_runs.synced_at)'),
            ('output', 'The whole extracted value (jsonb), with what the columns do not hold or could not type')) f (col, txt)
        WHERE p_depth = 0
        UNION ALL
        SELECT * FROM (VALUES
            ('run_id', 'The workflow run (workflow_runs.id)'),
            ('processor_run_id', 'The processor run (processor_runs.id)'),
            ('ordinal', 'Position of the item in its array, from 0'),
            ('item', 'The whole item (jsonb), with what the columns do not hold or could not type')) f (col, txt)
        WHERE p_depth > 0
        UNION ALL
        SELECT (ARRAY['parent_ordinal', 'grandparent_ordinal', 'ancestor3_ordinal', 'ancestor4_ordinal',
                      'ancestor5_ordinal', 'ancestor6_ordinal', 'ancestor7_ordinal', 'ancestor8_ordinal'])[g],
               format('Position, from 0, of the item %s levels up that holds this array', g)
        FROM generate_series(1, p_depth - 1) g
    LOOP
        EXECUTE format('COMMENT ON COLUMN %I.%I.%I IS %L', p_schema, p_view, c.col, c.txt);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION extracted_comment_fixed(text, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION extracted_comment_fixed(text, text, integer) IS 'Comment the fixed columns of an extracted view';

-- The statement that fills the typed table p_table from the processor runs of p_processor_id in p_source (a
-- relation with the columns of processor_runs): the key, then the casts p_exprs of the extracted value x.v.
CREATE FUNCTION extracted_typed_fill(p_table text, p_processor_id text, p_names text[], p_exprs text[],
                                     p_source text) RETURNS text
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
SELECT format('INSERT INTO %I.%I (_run_id, _ordinal, _processor_run_id, _processor_version_id, _reviewed, _edited%s) '
              'SELECT p.run_id, p.ordinal, p.id, p.processor_version_id, p.reviewed, p.edited%s '
              'FROM %s p CROSS JOIN LATERAL (SELECT p.extracted_value AS v OFFSET 0) x '
              'WHERE p.processor_id = %L AND p.type = ''EXTRACT''',
              current_schema(), p_table,
              (SELECT coalesce(string_agg(format(', %I', n), '' ORDER BY k), '')
                 FROM unnest(p_names) WITH ORDINALITY u (n, k)),
              (SELECT coalesce(string_agg(', ' || e, '' ORDER BY k), '')
                 FROM unnest(p_exprs) WITH ORDINALITY u (e, k)),
              p_source, p_processor_id)
$$;
REVOKE ALL ON FUNCTION extracted_typed_fill(text, text, text[], text[], text) FROM PUBLIC;

-- Drop the table p_table of this schema when there is one (DROP TABLE IF EXISTS would say NOTICE when not).
CREATE FUNCTION extracted_typed_drop(p_table text) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF p_table IS NOT NULL AND to_regclass(format('%I.%I', current_schema(), p_table)) IS NOT NULL THEN
        EXECUTE format('DROP TABLE %I.%I', current_schema(), p_table);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION extracted_typed_drop(text) FROM PUBLIC;

-- lz4 for the text and jsonb columns of the table p_table (feature_not_supported on a server without it).
CREATE FUNCTION extracted_typed_lz4(p_table text) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    c text;
BEGIN
    IF current_setting('server_version_num')::int < 140000 THEN
        RETURN;
    END IF;
    FOR c IN SELECT a.attname FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = format('%I.%I', current_schema(), p_table)::regclass AND a.attnum > 0
               AND NOT a.attisdropped AND a.atttypid IN ('text'::regtype, 'jsonb'::regtype) ORDER BY a.attnum LOOP
        EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN %I SET COMPRESSION lz4', current_schema(), p_table, c);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION extracted_typed_lz4(text) FROM PUBLIC;

-- The typed table a rebuild of p_processor_id's main view reads (called by extracted_build, which holds the
-- extractor's lock): the one it has when its columns and casts are the same and p_refill is false (fresh
-- false), else a new one made and filled from processor_runs under a name no view's table can have (fresh
-- true), which extracted_typed_finish() keeps or drops.  tbl NULL when it could not be made (err says why,
-- also as a WARNING): the view then casts the JSON per row.
--
-- The fill costs about 5 us a processor run, under the extractor's lock, which the stores of every daemon wait
-- for (up to their lock_timeout, 2 s) and in a transaction that may be a store's (statement_timeout 20 s).  So
-- but for --refresh-views (p_refill), an extractor of more than 100,000 stored runs is not filled here: its view
-- casts per row, build_error says to run --refresh-views, and the start-up refresh leaves it so too.
CREATE FUNCTION extracted_typed_prepare(p_processor_id text, p_view text, p_names text[], p_types text[],
                                        p_exprs text[], p_comments text[], p_refill boolean,
                                        OUT tbl text, OUT fresh boolean, OUT sig text, OUT err text)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    me text := current_schema();
    cur text;
    cur_sig text;
    owner text;
    i integer;
BEGIN
    fresh := false;
    sig := md5(concat_ws(E'\n', p_processor_id, array_to_string(p_names, E'\n'), array_to_string(p_types, E'\n'),
                         array_to_string(p_exprs, E'\n')));
    SELECT v.typed_table, v.typed_signature INTO cur, cur_sig FROM extracted_views v
     WHERE v.processor_id = p_processor_id;
    IF NOT p_refill AND cur IS NOT NULL AND cur_sig = sig AND to_regclass(format('%I.%I', me, cur)) IS NOT NULL THEN
        tbl := cur;
        RETURN;
    END IF;
    -- "-" never survives the character rule: no view's table is named so
    tbl := extracted_ident('new-' || p_view);
    IF NOT p_refill AND (SELECT count(*) FROM (SELECT FROM processor_runs p WHERE p.processor_id = p_processor_id
                                               AND p.type = 'EXTRACT' LIMIT 100001) n) > 100000 THEN
        err := format('view %s casts per row: its typed table is filled from more than 100,000 runs only by '
                      'extend-syncd --refresh-views', p_view);
        RAISE WARNING '%', err;
        tbl := NULL;
        RETURN;
    END IF;
    BEGIN
        IF EXISTS (SELECT FROM unnest(p_types) t WHERE t !~ '^(text|bigint|numeric|boolean|date|jsonb)(\[\])?$') THEN
            RAISE EXCEPTION 'a column type is not one of the extracted types: %', p_types;
        END IF;
        PERFORM extracted_typed_drop(tbl);
        EXECUTE format('CREATE TABLE %I.%I (_run_id text NOT NULL, _ordinal integer NOT NULL, _processor_run_id text, '
                       '_processor_version_id text, _reviewed boolean, _edited boolean%s)', me, tbl,
                       (SELECT coalesce(string_agg(format(', %I %s', n, t), '' ORDER BY k), '')
                          FROM unnest(p_names, p_types) WITH ORDINALITY u (n, t, k)));
        -- as every synced table (migration 011): lz4 for text and jsonb, on a server that has it
        BEGIN
            PERFORM extracted_typed_lz4(tbl);
        EXCEPTION WHEN feature_not_supported THEN
            NULL;
        END;
        EXECUTE format('COMMENT ON TABLE %I.%I IS %L', me, tbl,
                       format('The field columns of extracted view %s, cast once as each run is stored (kept by '
                              'triggers on processor_runs; extracted_views.typed_table)', p_view));
        EXECUTE format('COMMENT ON COLUMN %I.%I._run_id IS %L', me, tbl, 'The processor run''s workflow run (processor_runs.run_id)');
        EXECUTE format('COMMENT ON COLUMN %I.%I._ordinal IS %L', me, tbl, 'The processor run (processor_runs.ordinal)');
        EXECUTE format('COMMENT ON COLUMN %I.%I._processor_run_id IS %L', me, tbl, 'processor_runs.id');
        EXECUTE format('COMMENT ON COLUMN %I.%I._processor_version_id IS %L', me, tbl, 'processor_runs.processor_version_id');
        EXECUTE format('COMMENT ON COLUMN %I.%I._reviewed IS %L', me, tbl, 'processor_runs.reviewed');
        EXECUTE format('COMMENT ON COLUMN %I.%I._edited IS %L', me, tbl, 'processor_runs.edited');
        FOR i IN 1 .. coalesce(array_length(p_names, 1), 0) LOOP
            EXECUTE format('COMMENT ON COLUMN %I.%I.%I IS %L', me, tbl, p_names[i], p_comments[i]);
        END LOOP;
        EXECUTE extracted_typed_fill(tbl, p_processor_id, p_names, p_exprs, format('%I.processor_runs', me));
        -- after the fill: an index built once is cheaper than one kept up row by row
        EXECUTE format('ALTER TABLE %I.%I ADD PRIMARY KEY (_run_id, _ordinal)', me, tbl);
        -- the trigger writes it with the rights of whoever stores runs: the owner of processor_runs at least
        SELECT c.relowner::regrole::text INTO owner FROM pg_catalog.pg_class c
         WHERE c.oid = format('%I.processor_runs', me)::regclass;
        IF owner IS DISTINCT FROM quote_ident(current_user::text) THEN
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON %I.%I TO %s', me, tbl, owner);
        END IF;
        fresh := true;
    EXCEPTION WHEN OTHERS THEN
        err := format('could not make the typed table of view %s (it casts per row): %s', p_view, SQLERRM);
        RAISE WARNING '%', err;
        tbl := NULL;
    END;
END
$$;
REVOKE ALL ON FUNCTION extracted_typed_prepare(text, text, text[], text[], text[], text[], boolean) FROM PUBLIC;

-- After the main view was (or was not) replaced: a fresh table the view now reads takes the table's name in
-- place of the old one; a fresh table the view does not read is dropped; a view that casts per row again frees
-- its old table.  Records what the trigger writes into (typed_insert) for the view as it now stands.  Called
-- with p_replaced in the same subtransaction as the view's replacement: an old table that cannot be dropped (an
-- object of yours depends on it, a reader holds it past lock_timeout) undoes the replacement, and the old view
-- stays with its table.
CREATE FUNCTION extracted_typed_finish(p_processor_id text, p_view text, p_tbl text, p_fresh boolean, p_sig text,
                                       p_replaced boolean, p_names text[], p_exprs text[]) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    me text := current_schema();
    final text := extracted_ident('xt_' || p_view);
    cur text;
    idx text;
BEGIN
    IF NOT p_replaced THEN
        -- the old view stands, with the table it reads and what fills it
        IF p_fresh THEN
            EXECUTE format('DROP TABLE %I.%I', me, p_tbl);
        END IF;
        RETURN;
    END IF;
    SELECT v.typed_table INTO cur FROM extracted_views v WHERE v.processor_id = p_processor_id;
    IF p_tbl IS NULL THEN
        PERFORM extracted_typed_drop(cur);
        UPDATE extracted_views v SET typed_table = NULL, typed_signature = NULL, typed_insert = NULL
         WHERE v.processor_id = p_processor_id;
        RETURN;
    END IF;
    IF p_fresh THEN
        PERFORM extracted_typed_drop(cur);
        IF to_regclass(format('%I.%I', me, final)) IS NOT NULL THEN
            RAISE EXCEPTION 'a table %.% is in the way of the typed table of view %', me, final, p_view;
        END IF;
        EXECUTE format('ALTER TABLE %I.%I RENAME TO %I', me, p_tbl, final);
        SELECT c.relname INTO idx FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid = format('%I.%I', me, final)::regclass AND i.indisprimary;
        IF idx IS NOT NULL AND to_regclass(format('%I.%I', me, extracted_ident(final || '_pkey'))) IS NULL THEN
            EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', me, idx, extracted_ident(final || '_pkey'));
        END IF;
        -- extend_reader reads it as it reads processor_runs (roles.sql grants it too when it comes later);
        -- not grant_reader(), which grants every relation again (two rebuilds at once: "tuple concurrently
        -- updated")
        INSERT INTO reader_relations (relname) VALUES (final) ON CONFLICT DO NOTHING;
        IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'extend_reader') THEN
            EXECUTE format('GRANT SELECT ON %I.%I TO extend_reader', me, final);
        END IF;
        UPDATE extracted_views v
           SET typed_table = final, typed_signature = p_sig,
               typed_insert = extracted_typed_fill(final, p_processor_id, p_names, p_exprs, 'new_rows')
         WHERE v.processor_id = p_processor_id;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION extracted_typed_finish(text, text, text, boolean, text, boolean, text[], text[]) FROM PUBLIC;

-- The triggers.  Every one first waits for a rebuild of the view of each extractor it touches (the extractor's
-- lock, shared; a statement takes them in order), then reads where its rows go: each statement sees what
-- committed before it, the rebuild it waited for included.
--
-- Rows inserted or updated, one call per statement: the typed rows of the rows updated are taken out, and
-- those inserted or updated cast in.
CREATE FUNCTION extracted_typed_store() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    pids text[];
    pid text;
    t record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT n.processor_id ORDER BY n.processor_id) INTO pids FROM new_rows n
         WHERE n.type = 'EXTRACT' AND n.processor_id IS NOT NULL;
    ELSE
        SELECT array_agg(DISTINCT r.processor_id ORDER BY r.processor_id) INTO pids
          FROM (SELECT o.processor_id, o.type FROM old_rows o UNION ALL SELECT n.processor_id, n.type FROM new_rows n) r
         WHERE r.type = 'EXTRACT' AND r.processor_id IS NOT NULL;
    END IF;
    IF pids IS NULL THEN
        RETURN NULL;
    END IF;
    FOREACH pid IN ARRAY pids LOOP
        PERFORM pg_advisory_xact_lock_shared(hashtext('extend-syncd extracted view'), hashtext(pid));
    END LOOP;
    FOR t IN
        SELECT v.typed_table, v.typed_insert FROM extracted_views v
        WHERE v.processor_id = ANY (pids) AND v.typed_table IS NOT NULL
        ORDER BY v.processor_id
    LOOP
        IF TG_OP = 'UPDATE' THEN
            EXECUTE format('DELETE FROM %I.%I x USING (SELECT o.run_id, o.ordinal FROM old_rows o UNION '
                           'SELECT n.run_id, n.ordinal FROM new_rows n) r '
                           'WHERE x._run_id = r.run_id AND x._ordinal = r.ordinal', current_schema(), t.typed_table);
        END IF;
        EXECUTE t.typed_insert;
    END LOOP;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION extracted_typed_store() FROM PUBLIC;
COMMENT ON FUNCTION extracted_typed_store() IS 'Trigger on processor_runs: cast the rows inserted or updated into the typed tables of the extracted views';

-- Rows deleted (a run stored again, or deleted with its workflow run), one call per EXTRACT row: the daemon
-- deletes each run's rows before it writes them, most often none, and a trigger per statement would be called
-- for every one of those.
CREATE FUNCTION extracted_typed_forget() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    tbl text;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('extend-syncd extracted view'), hashtext(OLD.processor_id));
    SELECT v.typed_table INTO tbl FROM extracted_views v WHERE v.processor_id = OLD.processor_id;
    IF tbl IS NOT NULL THEN
        EXECUTE format('DELETE FROM %I.%I WHERE _run_id = $1 AND _ordinal = $2', current_schema(), tbl)
          USING OLD.run_id, OLD.ordinal;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION extracted_typed_forget() FROM PUBLIC;
COMMENT ON FUNCTION extracted_typed_forget() IS 'Trigger on processor_runs: take a deleted row''s typed row out of its extracted view''s table';

-- TRUNCATE (of processor_runs, or of workflow_runs CASCADE): every typed table with it.
CREATE FUNCTION extracted_typed_truncate() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT v.typed_table FROM extracted_views v WHERE v.typed_table IS NOT NULL ORDER BY v.processor_id LOOP
        IF to_regclass(format('%I.%I', current_schema(), t.typed_table)) IS NOT NULL THEN
            EXECUTE format('TRUNCATE %I.%I', current_schema(), t.typed_table);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION extracted_typed_truncate() FROM PUBLIC;
COMMENT ON FUNCTION extracted_typed_truncate() IS 'Trigger on processor_runs: empty the typed tables of the extracted views with it';

-- The locks of the views of the extractors a store transaction will note (p_whole) and write rows of
-- (p_shared), taken in one pass in the order of their ids before any of them; see lock_views() in store.c.
CREATE FUNCTION extracted_lock_views(p_whole text[], p_shared text[]) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    k record;
BEGIN
    FOR k IN
        SELECT u.pid, bool_or(u.whole) AS whole
        FROM (SELECT w AS pid, true AS whole FROM unnest(p_whole) w
              UNION ALL SELECT s, false FROM unnest(p_shared) s) u
        WHERE u.pid IS NOT NULL
        GROUP BY u.pid ORDER BY u.pid
    LOOP
        IF k.whole THEN
            PERFORM pg_advisory_xact_lock(hashtext('extend-syncd extracted view'), hashtext(k.pid));
        ELSE
            PERFORM pg_advisory_xact_lock_shared(hashtext('extend-syncd extracted view'), hashtext(k.pid));
        END IF;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION extracted_lock_views(text[], text[]) FROM PUBLIC;
COMMENT ON FUNCTION extracted_lock_views(text[], text[]) IS 'Take the locks of the extracted views a store transaction notes (whole) and writes rows of (shared), in order';

CREATE TRIGGER processor_runs_typed_insert AFTER INSERT ON processor_runs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION extracted_typed_store();
CREATE TRIGGER processor_runs_typed_update AFTER UPDATE ON processor_runs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION extracted_typed_store();
CREATE TRIGGER processor_runs_typed_delete AFTER DELETE ON processor_runs
    FOR EACH ROW WHEN (OLD.type = 'EXTRACT' AND OLD.processor_id IS NOT NULL) EXECUTE FUNCTION extracted_typed_forget();
CREATE TRIGGER processor_runs_typed_truncate AFTER TRUNCATE ON processor_runs
    FOR EACH STATEMENT EXECUTE FUNCTION extracted_typed_truncate();

-- (Re)builds the views of one extractor in p_target_schema from the configs of all its versions seen: the
-- main view and one child view per array of objects.  Returns the main view's column count and the number of
-- child views.  Never raises for a view it cannot replace: it keeps the old one, records why in
-- extracted_views.build_error and says so with a WARNING (the caller may be storing a run).
--
-- Columns are the union over the versions, in order of first sight (versions by first_seen_at, then each
-- version's order), so a new version only appends and CREATE OR REPLACE VIEW does; a field typed differently by
-- two versions is text (text[] for two array types), which changes a column's type: then the view is dropped
-- and made again in the same transaction.  Column names: the path's keys by the character rule joined with
-- "__", cut by extracted_ident(), and "_2", "_3", ... after a name already taken in the same relation (the
-- fixed columns first, then the fields in order), so the same versions always give the same names.
--
-- The main view reads the typed table of extracted_typed_prepare(): the one it had when its columns and casts
-- are the same, else one made and filled anew (p_refill: always, as --refresh-views asks).
CREATE FUNCTION extracted_build(p_processor_id text, p_target_schema text, p_refill boolean DEFAULT false,
                                OUT columns integer, OUT child_views integer)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    me text := current_schema();
    v_view text;
    v_proc_name text;
    v_versions text;
    v_version_ids text[];
    c record;
    used jsonb := '{}';
    base text;
    cand text;
    i integer;
    tk text;
    -- relations, in order: key (tbl::text), name, array chain, JSON path shown in comments
    rel_key text[] := '{}';
    rel_name text[] := '{}';
    rel_tbl jsonb[] := '{}';
    rel_jpath text[] := '{}';
    -- columns, in order
    col_rel text[] := '{}';
    col_name text[] := '{}';
    col_typ text[] := '{}';
    col_path jsonb[] := '{}';
    col_comment text[] := '{}';
    fixed_main text[] := ARRAY['run_id', 'processor_run_id', 'processor_version_id', 'workflow_id', 'workflow_name',
                               'run_status', 'reviewed', 'edited', 'initial_run_at', 'end_time', 'synced_at',
                               'output'];
    ancestors text[] := ARRAY['parent_ordinal', 'grandparent_ordinal', 'ancestor3_ordinal', 'ancestor4_ordinal',
                              'ancestor5_ordinal', 'ancestor6_ordinal', 'ancestor7_ordinal', 'ancestor8_ordinal'];
    r integer;
    j integer;
    depth integer;
    sn text[];
    se text[];
    src text;
    x text;
    fro text;
    body text;
    errs text;
    vcomment text;
    reader boolean := EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'extend_reader');
    -- the main view's typed table (extracted_typed_prepare) and its field columns
    typed record;
    tn text[];
    tt text[];
    tx text[];
    tc text[];
    replaced boolean;
BEGIN
    SELECT v.view_name INTO v_view FROM extracted_views v WHERE v.processor_id = p_processor_id;
    IF v_view IS NULL THEN
        RAISE EXCEPTION 'extractor "%" has no view name', p_processor_id;
    END IF;
    SELECT string_agg(v.processor_version_id, ', ' ORDER BY v.first_seen_at, v.processor_version_id),
           (array_agg(v.processor_name ORDER BY v.first_seen_at DESC, v.processor_version_id DESC))[1],
           array_agg(v.processor_version_id)
      INTO v_versions, v_proc_name, v_version_ids
      FROM extracted_view_versions v WHERE v.processor_id = p_processor_id;

    -- the main relation and its fixed columns
    rel_key := ARRAY['[]'];
    rel_name := ARRAY[v_view];
    rel_tbl := ARRAY['[]'::jsonb];
    rel_jpath := ARRAY['$'];
    FOREACH cand IN ARRAY fixed_main LOOP
        used := used || jsonb_build_object('[]/' || cand, true);
    END LOOP;
    used := used || jsonb_build_object('/' || v_view, true);

    FOR c IN
        WITH v AS (
            SELECT v.config, row_number() OVER (ORDER BY v.first_seen_at, v.processor_version_id) AS vn
            FROM extracted_view_versions v WHERE v.processor_id = p_processor_id
        ), cols AS (
            SELECT v.vn, x.* FROM v, extracted_version_columns(v.config) WITH ORDINALITY x
        )
        SELECT cols.tbl, cols.path,
               (array_agg(to_jsonb(cols.names) ORDER BY cols.vn, cols.ordinality))[1] AS names,
               CASE WHEN count(DISTINCT cols.typ) = 1 THEN min(cols.typ)
                    WHEN bool_and(cols.typ LIKE '%[]') THEN 'text[]'
                    ELSE 'text' END AS typ,
               (array_agg(cols.descr ORDER BY cols.vn DESC) FILTER (WHERE cols.descr IS NOT NULL))[1] AS descr,
               min(cols.vn * 1000000 + cols.ordinality) AS first
        FROM cols
        GROUP BY cols.tbl, cols.path
        ORDER BY first
    LOOP
        IF c.typ = '*' THEN
            -- a child relation: <view>__<the array's path>, each level's keys joined with "__"
            SELECT string_agg(coalesce(nullif(extracted_name_part(k.value #>> '{}'), ''), 'field'), '__'
                              ORDER BY l.n, k.n),
                   '$' || string_agg('.' || (k.value #>> '{}') || CASE WHEN k.last THEN '[*]' ELSE '' END, ''
                                     ORDER BY l.n, k.n)
              INTO base, x
              FROM jsonb_array_elements(c.tbl) WITH ORDINALITY l (value, n),
                   LATERAL (SELECT e.value, e.n, e.n = jsonb_array_length(l.value) AS last
                            FROM jsonb_array_elements(l.value) WITH ORDINALITY e (value, n)) k;
            base := v_view || '__' || base;
            cand := extracted_ident(base);
            i := 1;
            WHILE used ? ('/' || cand) LOOP
                i := i + 1;
                cand := extracted_ident(base || '_' || i);
            END LOOP;
            used := used || jsonb_build_object('/' || cand, true);
            rel_key := rel_key || (c.tbl::text);
            rel_name := rel_name || cand;
            rel_tbl := rel_tbl || c.tbl;
            rel_jpath := rel_jpath || x;
            depth := jsonb_array_length(c.tbl);
            FOREACH cand IN ARRAY ARRAY['run_id', 'processor_run_id', 'ordinal', 'item'] || ancestors[1:depth - 1] LOOP
                used := used || jsonb_build_object(c.tbl::text || '/' || cand, true);
            END LOOP;
            CONTINUE;
        END IF;
        tk := c.tbl::text;
        SELECT string_agg(coalesce(nullif(extracted_name_part(k.part), ''), 'field'), '__' ORDER BY k.n)
          INTO base FROM jsonb_array_elements_text(c.names) WITH ORDINALITY k (part, n);
        cand := extracted_ident(base);
        i := 1;
        WHILE used ? (tk || '/' || cand) LOOP
            i := i + 1;
            cand := extracted_ident(base || '_' || i);
        END LOOP;
        used := used || jsonb_build_object(tk || '/' || cand, true);
        col_rel := col_rel || tk;
        col_name := col_name || cand;
        col_typ := col_typ || c.typ;
        col_path := col_path || to_jsonb(c.path);
        x := rel_jpath[array_position(rel_key, tk)] || '.' || array_to_string(c.path, '.');
        col_comment := col_comment || (CASE WHEN c.descr IS NOT NULL THEN c.descr || ' ' ELSE '' END
                                       || '(JSON path ' || x || ' of the extracted value)');
    END LOOP;

    -- The schema: roles.sql makes it for extend_syncd; without it, a role that may create schemas makes it.
    -- A role that may not (or may not use it) leaves the views unmade, said and recorded, the run stored.
    BEGIN
        IF to_regnamespace(p_target_schema) IS NULL THEN
            EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', p_target_schema);
        END IF;
        IF reader THEN
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO extend_reader', p_target_schema);
        END IF;
    EXCEPTION WHEN insufficient_privilege OR invalid_schema_name THEN
        errs := format('could not make schema %I for the views: %s', p_target_schema, SQLERRM);
        RAISE WARNING '%', errs;
        UPDATE extracted_views v SET built_at = now(), build_error = errs WHERE v.processor_id = p_processor_id;
        columns := 0;
        child_views := 0;
        RETURN;
    END;

    columns := 0;
    child_views := array_length(rel_key, 1) - 1;
    FOR r IN 1 .. array_length(rel_key, 1) LOOP
        depth := jsonb_array_length(rel_tbl[r]);
        -- where the values come from: the processor run's output (main view) or the innermost array's item
        IF depth = 0 THEN
            sn := ARRAY['run_id', 'processor_run_id', 'processor_version_id', 'workflow_id', 'workflow_name',
                        'run_status', 'reviewed', 'edited', 'initial_run_at', 'end_time', 'synced_at'];
            se := ARRAY['p.run_id', 'p.id', 'p.processor_version_id', 'r.workflow_id', 'r.workflow_name', 'r.status',
                        'p.reviewed', 'p.edited', 'r.initial_run_at', 'r.end_time', 'r.synced_at'];
        ELSE
            sn := ARRAY['run_id', 'processor_run_id', 'ordinal'];
            se := ARRAY['p.run_id', 'p.id', format('a%s.n - 1', depth)];
            FOR j IN REVERSE depth - 1 .. 1 LOOP
                sn := sn || ancestors[depth - j];
                se := se || format('a%s.n - 1', j);
            END LOOP;
        END IF;
        -- LEFT JOIN (every processor run has its workflow run): a query that reads none of r's columns does
        -- not join at all; deleted runs are left out by an anti-join on the partial index of them.
        fro := format('%I.processor_runs p LEFT JOIN %I.workflow_runs r ON r.id = p.run_id', me, me);
        -- The extracted value, once per row: a large one is TOASTed, and each reference would decompress it
        -- again (7 times for a date and an amount).  OFFSET 0 keeps the planner from pulling it up into every
        -- column; a query that reads no field column does not fetch it (an unused output of a subquery is
        -- dropped).  Over 100,000 runs, sum of an amount by month of a date read from output: 3.3 s so, 1.0 s
        -- once per row.
        fro := fro || ' CROSS JOIN LATERAL (SELECT p.extracted_value AS v OFFSET 0) x';
        FOR j IN 1 .. depth LOOP
            IF j = 1 THEN
                x := format('x.v #> %L', ARRAY(SELECT jsonb_array_elements_text(rel_tbl[r] -> 0)));
            ELSE
                x := format('a%s.e #> %L', j - 1, ARRAY(SELECT jsonb_array_elements_text(rel_tbl[r] -> (j - 1))));
            END IF;
            fro := fro || format(' CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(CASE WHEN '
                                 'pg_catalog.jsonb_typeof(%s) = ''array'' THEN %s END) WITH ORDINALITY a%s (e, n)',
                                 x, x, j);
        END LOOP;
        FOR i IN 1 .. coalesce(array_length(col_rel, 1), 0) LOOP
            CONTINUE WHEN col_rel[i] <> rel_key[r];
            IF depth = 0 THEN
                src := format('x.v #> %L', ARRAY(SELECT jsonb_array_elements_text(col_path[i])));
            ELSE
                src := format('a%s.e #> %L', depth, ARRAY(SELECT jsonb_array_elements_text(col_path[i])));
            END IF;
            sn := sn || col_name[i];
            se := se || extracted_cast(src, col_typ[i], me);
            IF depth = 0 THEN
                tn := tn || col_name[i];
                tt := tt || col_typ[i];
                tx := tx || extracted_cast(src, col_typ[i], me);
                tc := tc || col_comment[i];
            END IF;
        END LOOP;
        IF depth = 0 THEN
            sn := sn || 'output'::text;
            se := se || 'x.v'::text;
        ELSE
            sn := sn || 'item'::text;
            se := se || format('a%s.e', depth);
        END IF;
        fro := format('%s WHERE p.processor_id = %L AND p.type = ''EXTRACT'' AND NOT EXISTS '
                      '(SELECT FROM %I.workflow_runs d WHERE d.id = p.run_id AND d.deleted_at IS NOT NULL)',
                      fro, p_processor_id, me);
        IF depth = 0 THEN
            -- The main view reads the typed table when there is one: the same columns, the fields already
            -- cast.  The joins are LEFT on unique keys, so a query that reads only typed columns scans that
            -- table alone (the workflow run and the output are joined only when asked for).  Without the table
            -- (it could not be made), the view casts the JSON per row as the child views do.
            SELECT * INTO typed FROM extracted_typed_prepare(p_processor_id, v_view, tn, tt, tx, tc, p_refill);
            IF typed.tbl IS NOT NULL THEN
                se := ARRAY['t._run_id', 't._processor_run_id', 't._processor_version_id', 'r.workflow_id',
                            'r.workflow_name', 'r.status', 't._reviewed', 't._edited', 'r.initial_run_at',
                            'r.end_time', 'r.synced_at']
                      || ARRAY(SELECT format('t.%I', n) FROM unnest(tn) WITH ORDINALITY u (n, k) ORDER BY k)
                      || 'p.extracted_value'::text;
                fro := format('%I.%I t LEFT JOIN %I.workflow_runs r ON r.id = t._run_id '
                              'LEFT JOIN %I.processor_runs p ON p.run_id = t._run_id AND p.ordinal = t._ordinal '
                              'WHERE NOT EXISTS (SELECT FROM %I.workflow_runs d '
                              'WHERE d.id = t._run_id AND d.deleted_at IS NOT NULL)', me, typed.tbl, me, me, me);
            ELSE
                errs := concat_ws('; ', errs, typed.err);
            END IF;
        END IF;
        body := format('SELECT %s FROM %s', (SELECT string_agg(format('%s AS %I', x.e, x.n), ', ' ORDER BY x.i)
                                             FROM unnest(se, sn) WITH ORDINALITY x (e, n, i)), fro);
        IF depth = 0 THEN
            vcomment := format('Extractor %s (%s), one row per processor run of it (runs deleted at Extend left out); '
                               'versions %s.  Long column names are cut to 63 bytes: 54 characters, "_" and 8 hex '
                               'digits of the MD5 of the whole name', v_proc_name, p_processor_id, v_versions);
        ELSE
            vcomment := format('Items of %s of extractor %s (%s), one row per item (ordinal from 0); versions %s.  '
                               'Long names are cut to 63 bytes: 54 characters, "_" and 8 hex digits of the MD5 of '
                               'the whole name', rel_jpath[r], v_proc_name, p_processor_id, v_versions);
        END IF;
        replaced := false;
        BEGIN
            BEGIN
                EXECUTE format('CREATE OR REPLACE VIEW %I.%I AS %s', p_target_schema, rel_name[r], body);
            EXCEPTION WHEN invalid_table_definition OR datatype_mismatch THEN
                -- Not an append (new fields go before output, or a type changed): DROP and CREATE.  When a
                -- view of someone else depends on it, keep its columns in their order and append the new
                -- ones after them (after output), which CREATE OR REPLACE can do, unless a type changed.
                BEGIN
                    EXECUTE format('DROP VIEW %I.%I', p_target_schema, rel_name[r]);
                    EXECUTE format('CREATE VIEW %I.%I AS %s', p_target_schema, rel_name[r], body);
                EXCEPTION WHEN dependent_objects_still_exist THEN
                    SELECT format('SELECT %s FROM %s', string_agg(format('%s AS %I', x.e, x.n), ', '
                                                                  ORDER BY coalesce(a.attnum, 32767), x.i), fro)
                      INTO body
                      FROM unnest(se, sn) WITH ORDINALITY x (e, n, i)
                      LEFT JOIN pg_catalog.pg_attribute a
                        ON a.attrelid = format('%I.%I', p_target_schema, rel_name[r])::regclass
                       AND a.attname = x.n AND a.attnum > 0 AND NOT a.attisdropped;
                    BEGIN
                        EXECUTE format('CREATE OR REPLACE VIEW %I.%I AS %s', p_target_schema, rel_name[r], body);
                    EXCEPTION WHEN invalid_table_definition OR datatype_mismatch THEN
                        RAISE EXCEPTION 'other objects depend on it and a column changed: %', SQLERRM;
                    END;
                END;
            END;
            EXECUTE format('COMMENT ON VIEW %I.%I IS %L', p_target_schema, rel_name[r], vcomment);
            PERFORM extracted_comment_fixed(p_target_schema, rel_name[r], depth);
            FOR i IN 1 .. coalesce(array_length(col_rel, 1), 0) LOOP
                CONTINUE WHEN col_rel[i] <> rel_key[r];
                EXECUTE format('COMMENT ON COLUMN %I.%I.%I IS %L', p_target_schema, rel_name[r], col_name[i],
                               col_comment[i]);
            END LOOP;
            IF reader THEN
                EXECUTE format('GRANT SELECT ON %I.%I TO extend_reader', p_target_schema, rel_name[r]);
            END IF;
            IF depth = 0 THEN
                PERFORM extracted_typed_finish(p_processor_id, v_view, typed.tbl, typed.fresh, typed.sig, true,
                                               tn, tx);
            END IF;
            replaced := true;
        EXCEPTION WHEN OTHERS THEN
            errs := concat_ws('; ', errs, format('could not replace view %I.%I: %s', p_target_schema, rel_name[r],
                                                 SQLERRM));
            RAISE WARNING 'could not replace view %.%, kept as it was: %',
                quote_ident(p_target_schema), quote_ident(rel_name[r]), SQLERRM;
        END;
        IF depth = 0 THEN
            IF NOT replaced THEN
                PERFORM extracted_typed_finish(p_processor_id, v_view, typed.tbl, typed.fresh, typed.sig, false,
                                               tn, tx);
            END IF;
            SELECT count(*) INTO columns FROM pg_catalog.pg_attribute
             WHERE attrelid = to_regclass(format('%I.%I', p_target_schema, rel_name[r]))
               AND attnum > 0 AND NOT attisdropped;
        END IF;
    END LOOP;
    UPDATE extracted_views v SET built_at = now(), build_error = errs, relations = rel_name
     WHERE v.processor_id = p_processor_id;
    -- the versions this build read (not one recorded by another session meanwhile)
    UPDATE extracted_view_versions w SET built = true
     WHERE w.processor_id = p_processor_id AND NOT w.built AND w.processor_version_id = ANY (v_version_ids);
END
$$;
REVOKE ALL ON FUNCTION extracted_build(text, text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION extracted_build(text, text, boolean) IS 'Rebuild the views of one extractor in the given schema from the configs of its versions seen, and its typed table when its columns changed (p_refill: always)';

-- The view name of a processor, given when it is first seen (see the contract's naming rule) and recorded in
-- extracted_views; the name it already has if it has one.  The caller holds the advisory lock on names, so two
-- daemons that meet two new extractors of the same name at once give them different names.
CREATE FUNCTION extracted_assign_name(p_processor_id text, p_processor_name text, p_seen timestamptz) RETURNS text
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    base text := left(extracted_name_part(p_processor_name), 48);
    cand text;
    i integer := 1;
    v_view text;
BEGIN
    SELECT v.view_name INTO v_view FROM extracted_views v WHERE v.processor_id = p_processor_id;
    IF v_view IS NOT NULL THEN
        RETURN v_view;
    END IF;
    IF base = '' THEN
        base := 'extractor';
    ELSIF base ~ '^[0-9]' THEN
        base := 'x_' || base;
    END IF;
    cand := base;
    WHILE EXISTS (SELECT FROM extracted_views v WHERE v.view_name = cand) LOOP
        i := i + 1;
        cand := base || '_' || i;
    END LOOP;
    INSERT INTO extracted_views (processor_id, view_name, first_seen_at) VALUES (p_processor_id, cand, p_seen);
    RETURN cand;
END
$$;
REVOKE ALL ON FUNCTION extracted_assign_name(text, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION extracted_assign_name(text, text, timestamptz) IS 'Give a new extractor its view name (caller holds the names lock)';

-- Called by the daemon in the transaction that stores a run, for each EXTRACT processor run whose (processor,
-- version) it has not seen: records the version (and the processor's view name when new) and, when it recorded
-- something, rebuilds the extractor's views in p_target_schema under an advisory lock keyed on the processor
-- (a concurrent daemon waits here, rarely).  Returns the view name, or NULL when nothing was new.  A view that
-- cannot be replaced does not fail the transaction (see extracted_build).
CREATE FUNCTION note_extractor_version(p_processor_id text, p_version_id text, p_processor_name text,
                                       p_config jsonb, p_target_schema text) RETURNS text
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    v_view text;
    n integer;
BEGIN
    IF p_processor_id IS NULL OR p_version_id IS NULL OR p_target_schema IS NULL THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT FROM extracted_views v WHERE v.processor_id = p_processor_id) THEN
        PERFORM pg_advisory_xact_lock(hashtext('extend-syncd extracted view names'));
        PERFORM extracted_assign_name(p_processor_id, p_processor_name, now());
    END IF;
    INSERT INTO extracted_view_versions (processor_id, processor_version_id, processor_name, config, first_seen_at)
    VALUES (p_processor_id, p_version_id, p_processor_name, p_config, now())
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('extend-syncd extracted view'), hashtext(p_processor_id));
    PERFORM extracted_build(p_processor_id, p_target_schema);
    SELECT v.view_name INTO v_view FROM extracted_views v WHERE v.processor_id = p_processor_id;
    RETURN v_view;
END
$$;
REVOKE ALL ON FUNCTION note_extractor_version(text, text, text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION note_extractor_version(text, text, text, jsonb, text) IS 'Record a version of an extractor seen in a stored run and rebuild its views when it is new; returns the view name, NULL when nothing changed';

-- Records every (processor, version) of EXTRACT processor runs that extracted_view_versions lacks (first sight =
-- the earliest stored run of it: its workflow run's synced_at), naming new extractors in that order; returns
-- how many it recorded.  It reads every stored EXTRACT run.
CREATE FUNCTION record_extractor_versions() RETURNS integer
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    k record;
    cfg jsonb;
    pname text;
    added integer;
    n integer := 0;
BEGIN
    FOR k IN
        SELECT p.processor_id AS pid, p.processor_version_id AS vid, min(r.synced_at) AS seen
        FROM processor_runs p JOIN workflow_runs r ON r.id = p.run_id
        WHERE p.type = 'EXTRACT' AND p.processor_id IS NOT NULL AND p.processor_version_id IS NOT NULL
          AND NOT EXISTS (SELECT FROM extracted_view_versions v
                          WHERE v.processor_id = p.processor_id AND v.processor_version_id = p.processor_version_id)
        GROUP BY p.processor_id, p.processor_version_id
        ORDER BY seen, pid, vid
    LOOP
        SELECT p.config, p.processor_name INTO cfg, pname
        FROM processor_runs p JOIN workflow_runs r ON r.id = p.run_id
        WHERE p.processor_id = k.pid AND p.processor_version_id = k.vid AND p.type = 'EXTRACT'
        ORDER BY r.synced_at, p.run_id, p.ordinal LIMIT 1;
        IF NOT EXISTS (SELECT FROM extracted_views v WHERE v.processor_id = k.pid) THEN
            PERFORM pg_advisory_xact_lock(hashtext('extend-syncd extracted view names'));
            PERFORM extracted_assign_name(k.pid, pname, k.seen);
        END IF;
        INSERT INTO extracted_view_versions (processor_id, processor_version_id, processor_name, config,
                                             first_seen_at)
        VALUES (k.pid, k.vid, pname, cfg, k.seen)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS added = ROW_COUNT;
        n := n + added;
    END LOOP;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION record_extractor_versions() FROM PUBLIC;
COMMENT ON FUNCTION record_extractor_versions() IS 'Record the extractor versions of the stored runs not yet recorded; returns how many';

-- Rebuilds the extracted views from what is stored: first records the versions not yet recorded
-- (record_extractor_versions(); not with p_record false, the caller did); then (re)builds the views of every
-- extractor (p_missing_only: only those of which a view is missing in p_target_schema, whose last rebuild
-- failed, whose main view has no typed table or of which a version was recorded without a rebuild,
-- re-granting extend_reader SELECT on the others), one row per extractor built.  With p_processor_id, only
-- that extractor's, without recording: --refresh-views records in a transaction, then rebuilds each extractor
-- in one of its own, so that the stores of the others do not wait for the whole refresh.  The daemon's
-- start-up also records in a transaction of its own first: a version recorded here, uncommitted, while the
-- rebuild waits for the extractor's lock, would block a store that holds it and notes the same version.
CREATE FUNCTION refresh_extracted_views(p_target_schema text, p_missing_only boolean DEFAULT false,
                                        p_processor_id text DEFAULT NULL, p_record boolean DEFAULT true)
RETURNS TABLE (processor_id text, view_name text, columns integer, child_views integer, versions integer)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    e record;
    b record;
    lt text;
BEGIN
    IF p_processor_id IS NULL AND p_record THEN
        PERFORM record_extractor_versions();
    END IF;
    FOR e IN SELECT v.processor_id AS pid, v.view_name AS vname, coalesce(v.relations, ARRAY[v.view_name]) AS rels,
                    v.build_error AS berr, v.typed_table AS typed
             FROM extracted_views v WHERE p_processor_id IS NULL OR v.processor_id = p_processor_id
             ORDER BY v.first_seen_at, v.processor_id LOOP
        -- a view whose last rebuild failed (a lock held past lock_timeout, a user's view in the way) is tried again
        -- (and one without its typed table: dropped, or it could not be made)
        IF p_missing_only AND e.berr IS NULL AND e.typed IS NOT NULL
           AND NOT EXISTS (SELECT FROM extracted_view_versions w WHERE w.processor_id = e.pid AND NOT w.built)
           AND to_regclass(format('%I.%I', current_schema(), e.typed)) IS NOT NULL
           AND NOT EXISTS (SELECT FROM unnest(e.rels) n
                                          WHERE to_regclass(format('%I.%I', p_target_schema, n)) IS NULL) THEN
            -- all there: only make sure extend_reader may read them (roles.sql may have come after them)
            IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'extend_reader') THEN
                EXECUTE format('GRANT USAGE ON SCHEMA %I TO extend_reader', p_target_schema);
                EXECUTE (SELECT format('GRANT SELECT ON %s TO extend_reader',
                                       string_agg(format('%I.%I', p_target_schema, n), ', '))
                         FROM unnest(e.rels) n);
            END IF;
            CONTINUE;
        END IF;
        -- asked for by hand (--refresh-views), it waits for the stores of the extractor under way, which end
        -- within their statement_timeout (20 s), past the session's lock_timeout; the locks its rebuild takes
        -- then, on the views that readers may hold, keep lock_timeout
        IF NOT p_missing_only THEN
            lt := current_setting('lock_timeout');
            PERFORM set_config('lock_timeout', '60s', true);
        END IF;
        PERFORM pg_advisory_xact_lock(hashtext('extend-syncd extracted view'), hashtext(e.pid));
        IF NOT p_missing_only THEN
            PERFORM set_config('lock_timeout', lt, true);
        END IF;
        SELECT * INTO b FROM extracted_build(e.pid, p_target_schema, NOT p_missing_only);
        processor_id := e.pid;
        view_name := e.vname;
        columns := b.columns;
        child_views := b.child_views;
        SELECT count(*) INTO versions FROM extracted_view_versions v WHERE v.processor_id = e.pid;
        RETURN NEXT;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION refresh_extracted_views(text, boolean, text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION refresh_extracted_views(text, boolean, text, boolean) IS 'Record the extractor versions of the stored runs not yet recorded (unless p_record is false) and rebuild the extracted views (p_missing_only: only missing or behind ones; p_processor_id: only this extractor''s, recording nothing); one row per extractor built';

-- Readers may see which view belongs to which extractor, and the configs it was made from (as in processor_runs).
SELECT grant_reader('extracted_views', 'extracted_view_versions');
