# Shared harness of the integration tests: a throwaway PostgreSQL, the mock Extend API, the real daemon.
#
# Sourced by tests/*.test.  Everything lives in one temporary directory that is removed at exit;
# set KEEP_TMP=1 to keep it for a post-mortem.  Exit status 77 means "skipped" to automake.

set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${TEST_DATA_DIR:=$top_srcdir/tests/data}"

SYNCD="$top_builddir/src/extend-syncd"
MOCK="$top_builddir/tests/mock-extend"
# A distinctive key: tests grep every log and table for it.
API_KEY="sk_test_Zq8SECRETkeyNEVERlogged42"

T=$(mktemp -d "${TMPDIR:-/tmp}/extend-syncd-test.XXXXXX")
chmod 755 "$T"
MOCK_PID=""
PG_BIN=""
failures=0

log() { printf '# %s\n' "$*"; }
skip() {
	if [ "${EXTEND_SYNCD_TESTS_REQUIRED:-0}" = 1 ]; then
		log "cannot run: $*"
		exit 99
	fi
	log "SKIP: $*"
	exit 77
}

cleanup() {
	status=$?
	set +e
	[ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null
	if [ -n "$PG_BIN" ] && [ -f "$T/pg/postmaster.pid" ]; then
		as_pg "$PG_BIN/pg_ctl" -D "$T/pg" -m immediate -w stop >/dev/null 2>&1
	fi
	if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			log "---- last lines of $(basename "$f")"
			tail -n 25 "$f" | sed 's/^/#   /'
		done
	fi
	if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# PostgreSQL refuses to run as root: then run its programs as the postgres user.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

find_pg_bin() {
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) /usr/local/pgsql/bin; do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
	return 1
}

# Start a cluster listening on a Unix socket in $T/sock; exports PGHOST, PGUSER, PGDATABASE.  pg_start tcp also
# listens on 127.0.0.1, on a free port it exports as PGPORT.
pg_start() {
	PG_BIN=$(find_pg_bin) || skip "no PostgreSQL server binaries (initdb) found"
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || skip "running as root but there is no postgres user"
	fi
	mkdir -p "$T/pg" "$T/sock"
	[ "$(id -u)" = 0 ] && chown postgres "$T/pg" "$T/sock"
	as_pg "$PG_BIN/initdb" -D "$T/pg" -U postgres --auth=trust -E UTF8 --locale=C >"$T/initdb.log" 2>&1 ||
		{ cat "$T/initdb.log"; return 1; }
	unset PGPORT PGSERVICE PGPASSWORD || true
	listen="-c listen_addresses="
	for try in 1 2 3 4 5; do
		if [ "${1:-}" = tcp ]; then
			# a port another test's cluster may take first: then another one
			PGPORT=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000 ))
			listen="-p $PGPORT -c listen_addresses=127.0.0.1"
		fi
		as_pg "$PG_BIN/pg_ctl" -D "$T/pg" -w -t 60 -l "$T/pg/server.log" \
			-o "-k $T/sock $listen -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
			start >/dev/null && break
		[ "${1:-}" = tcp ] && [ "$try" -lt 5 ] || { cat "$T/pg/server.log"; return 1; }
	done
	export PGHOST="$T/sock" PGUSER=postgres PGDATABASE=extend_test
	[ "${1:-}" != tcp ] || export PGPORT
	as_pg "$PG_BIN/createdb" -h "$PGHOST" -U postgres extend_test
}

mock_stop() {
	[ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null
	MOCK_PID=""
}

# The body of fixture $1 (tests/data/runs/$1.json) as run $2, on stdout.
fixture_as() {
	src="$TEST_DATA_DIR/runs/$1.json"
	from=$(sed -n 's/^    "id": "\(workflow_run_[A-Za-z0-9_-]*\)".*/\1/p' "$src")
	sed "s/$from/$2/g" "$src"
}

# Copies of a final fixture under new IDs: final_runs DIR PREFIX COUNT [FIXTURE] (IDs PREFIX0001 ...).
final_runs() {
	i=1
	while [ "$i" -le "$3" ]; do
		id=$(printf '%s%04d' "$2" "$i")
		fixture_as "${4:-rejected}" "$id" >"$1/$id.json"
		i=$((i + 1))
	done
}

# The runs of a chaos: chaos_runs DIR FINAL PREFIX [DIVISOR] serves from DIR (scripts, and their bodies in
# DIR/bodies) runs workflow_run_PREFIX{Fin,Mov,Rev,Slow,Err,Gone}NNNN, and copies the body each serves last into
# FINAL: 120 final as they are, 50 moving through PENDING, a 503 and PROCESSING to one of five final bodies, 30
# parked in review then processed, 40 answered slowly, 30 failing with 500 for ever and 10 answered 404, each
# count divided by DIVISOR (default 1).  Sets chaos_total (runs made), chaos_done (runs that must end done),
# chaos_err and chaos_gone.
chaos_runs() {
	div=${4:-1}
	mkdir -p "$1/bodies" "$2"
	for i in $(seq -f '%04g' 1 $((120 / div))); do
		fixture_as processed_extract "workflow_run_$3Fin$i" >"$1/workflow_run_$3Fin$i.json"
		cp "$1/workflow_run_$3Fin$i.json" "$2/workflow_run_$3Fin$i.json"
	done
	# PENDING a few times, PROCESSING a few times, then final (the last line repeats)
	set -- "$1" "$2" "$3" "$div" splitter legacy_extract rejected failed spreadsheet
	for n in $(seq 1 $((50 / div))); do
		id=$(printf 'workflow_run_%sMov%04d' "$3" "$n")
		fin=$(eval echo "\${$((n % 5 + 5))}")
		fixture_as seed_example "$id" >"$1/bodies/$id.p.json"
		fixture_as nulls "$id" >"$1/bodies/$id.r.json"
		fixture_as "$fin" "$id" >"$1/bodies/$id.f.json"
		cp "$1/bodies/$id.f.json" "$2/$id.json"
		{
			printf '200 bodies/%s.p.json\n200 bodies/%s.p.json\n' "$id" "$id"
			printf '503\n200 bodies/%s.r.json\n200 bodies/%s.r.json\n' "$id" "$id"
			printf '200 bodies/%s.f.json\n' "$id"
		} >"$1/$id.seq"
	done
	for i in $(seq -f '%04g' 1 $((30 / div))); do
		id="workflow_run_$3Rev$i"
		fixture_as needs_review "$id" >"$1/bodies/$id.n.json"
		fixture_as processed_extract "$id" >"$1/bodies/$id.f.json"
		cp "$1/bodies/$id.f.json" "$2/$id.json"
		printf '200 bodies/%s.n.json\n200 bodies/%s.n.json\n200 bodies/%s.f.json\n' "$id" "$id" "$id" >"$1/$id.seq"
	done
	for i in $(seq -f '%04g' 1 $((40 / div))); do
		id="workflow_run_$3Slow$i"
		fixture_as rejected "$id" >"$1/bodies/$id.json"
		cp "$1/bodies/$id.json" "$2/$id.json"
		printf '200 bodies/%s.json delay=0.8\n' "$id" >"$1/$id.seq"
	done
	for i in $(seq -f '%04g' 1 $((30 / div))); do
		printf '500\n' >"$1/workflow_run_$3Err$i.seq"
	done
	for i in $(seq -f '%04g' 1 $((10 / div))); do
		printf '404\n' >"$1/workflow_run_$3Gone$i.seq"
	done
	chaos_done=$((120 / div + 50 / div + 30 / div + 40 / div))
	chaos_err=$((30 / div))
	chaos_gone=$((10 / div))
	chaos_total=$((chaos_done + chaos_err + chaos_gone))
}

# The daemons of a chaos, numbered 1 to 9: daemon_start N (re)starts daemon N in the background with the test
# configuration, its stderr into $T/syncd.log.  DAEMON_WRAPPER, when set, is a command that runs it (and must
# exec it, so that the PID stays the daemon's); DAEMON_ENV_N, VAR=value words for daemon N's environment.
DAEMON_PIDS="0 0 0 0 0 0 0 0 0"
daemons_died=0
daemon_start() {
	eval "denv=\${DAEMON_ENV_$1:-}"
	# shellcheck disable=SC2086 # denv is VAR=value words
	${DAEMON_WRAPPER:-} env -u EXTEND_API_KEY -u CREDENTIALS_DIRECTORY $denv "$SYNCD" -c "$T/syncd.conf" \
		</dev/null >/dev/null 2>>"$T/syncd.log" &
	DAEMON_PIDS=$(echo $DAEMON_PIDS | awk -v n="$1" -v p=$! '{ $n = p; print }')
}
daemon_pid() { echo $DAEMON_PIDS | cut -d' ' -f"$1"; }

# Restart each of daemons 1 to $1 that is no longer running (adding it to daemons_died).
daemons_revive() {
	for n in $(seq 1 "$1"); do
		if ! kill -0 "$(daemon_pid $n)" 2>/dev/null; then
			died_status=0
			wait "$(daemon_pid $n)" 2>/dev/null || died_status=$?
			daemons_died=$((daemons_died + 1))
			log "daemon $n (pid $(daemon_pid $n)) exited on its own, status $died_status; its last lines:"
			grep "extend-syncd\[$(daemon_pid $n)\]" "$T/syncd.log" | tail -n 5 | sed 's/^/#   /'
			daemon_start $n
		fi
	done
}

# Kill daemon $1 with SIGKILL and start it again after a random pause of less than a second; fails if it was
# not running.
daemon_kill() {
	kill -9 "$(daemon_pid $1)" 2>/dev/null || return 1
	wait "$(daemon_pid $1)" 2>/dev/null || true
	sleep "0.$(( $(od -An -N1 -tu1 /dev/urandom) % 10 ))"
	daemon_start $1
}

# Stop daemons 1 to $1 with SIGTERM; sets daemons_status to the last non-zero exit status (0 if none).
daemons_stop() {
	daemons_status=0
	for n in $(seq 1 "$1"); do kill -TERM "$(daemon_pid $n)" 2>/dev/null || true; done
	for n in $(seq 1 "$1"); do wait "$(daemon_pid $n)" || daemons_status=$?; done
}

# Another session holds locks in the background: hold SECONDS SQL runs BEGIN, SQL, a sleep of SECONDS and COMMIT
# (a PostgreSQL restart may end it early); its PID in hold_pid.
hold() {
	psql -X -q -c "BEGIN" -c "$2" -c "SELECT pg_sleep($1)" -c "COMMIT" >/dev/null 2>&1 &
	hold_pid=$!
}

# Runs of table extend.workflow_runs whose child rows do not number what fixture $1 has: prints their IDs.
# A run half written, or with rows of two snapshots, shows here.
incomplete_runs() {
	psql -X -A -t -q -v ON_ERROR_STOP=1 -v body="$(cat "$TEST_DATA_DIR/runs/$1.json")" <<-'SQL'
		WITH t AS (SELECT (:'body'::jsonb)->'workflowRun' AS w),
		want AS (SELECT jsonb_array_length(w->'files') AS files,
		                (SELECT coalesce(sum(jsonb_array_length(f->'contents'->'pages')), 0)
		                 FROM jsonb_array_elements(w->'files') f WHERE jsonb_typeof(f->'contents'->'pages') = 'array') AS pages,
		                jsonb_array_length(w->'outputs') AS outputs,
		                (SELECT coalesce(sum(jsonb_array_length(o->'files')), 0) FROM jsonb_array_elements(w->'outputs') o) AS ofiles,
		                jsonb_array_length(w->'stepRuns') AS steps FROM t)
		SELECT r.id FROM extend.workflow_runs r, want
		WHERE (SELECT count(*) FROM extend.workflow_run_files WHERE run_id = r.id) <> want.files
		   OR (SELECT count(*) FROM extend.workflow_run_file_pages WHERE run_id = r.id) <> want.pages
		   OR (SELECT count(*) FROM extend.processor_runs WHERE run_id = r.id) <> want.outputs
		   OR (SELECT count(*) FROM extend.processor_run_files WHERE run_id = r.id) <> want.ofiles
		   OR (SELECT count(*) FROM extend.step_runs WHERE run_id = r.id) <> want.steps
		ORDER BY 1
	SQL
}

# The most requests whose arrival falls in any one-second window of the mock's request log.
busiest_second() {
	sort -n "${1:-$T/requests.log}" | awk '{ t[NR] = $1 } END {
		max = 0; j = 1
		for (i = 1; i <= NR; i++) { while (t[i] - t[j] >= 1.0) j++; if (i - j + 1 > max) max = i - j + 1 }
		print max }'
}

# Requests the mock saw for run $1.
requests() { grep -c " GET /workflow_runs/$1 " "$T/requests.log" || true; }

pg_restart() {
	as_pg "$PG_BIN/pg_ctl" -D "$T/pg" -w -t 60 -m fast restart >/dev/null
}

# psql returning unaligned, tuples-only output; fails the test on any SQL error.
q() {
	psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"
}

# The mock API serving the JSON files of directory $1 (more mock options may follow); exports MOCK_URL.
mock_start() {
	[ -x "$MOCK" ] || skip "tests/mock-extend was not built (libmicrohttpd missing?)"
	dir=$1
	shift
	printf '%s\n' "$API_KEY" >"$T/mock.key"
	rm -f "$T/mock.port"
	"$MOCK" --dir "$dir" --key-file "$T/mock.key" --port 0 --port-file "$T/mock.port" \
		--log "$T/requests.log" "$@" 2>>"$T/mock.log" &
	MOCK_PID=$!
	# it reads every fixture before it listens: large ones take seconds on a busy machine
	for _ in $(seq 1 600); do
		[ -s "$T/mock.port" ] && break
		sleep 0.05
	done
	[ -s "$T/mock.port" ] || { log "mock did not start"; return 1; }
	MOCK_URL="http://127.0.0.1:$(cat "$T/mock.port")"
}

# Write $T/syncd.conf: fast test settings, overridden by "group.key = value" arguments.
write_config() {
	printf '%s\n' "$API_KEY" >"$T/api.key"
	chmod 600 "$T/api.key"
	settings="api.base_url = \"$MOCK_URL\";
api.token_file = \"$T/api.key\";
api.rate_limit = 200.0;
api.max_in_flight = 8;
api.timeout = 10.0;
database.conninfo = \"host=$PGHOST user=postgres dbname=$PGDATABASE\";
sync.idle_poll = 0.2;
sync.active_poll_min = 0.05;
sync.active_poll_max = 0.2;
sync.retry_min = 0.05;
sync.retry_max = 0.2;
log.level = \"debug\";"
	for kv in "$@"; do
		key=${kv%%=*}
		key=$(echo $key)
		settings=$(printf '%s\n' "$settings" | grep -v -F "$key =")
		settings="$settings
$kv;"
	done
	for group in api database sync log discover; do
		# discover only when a test sets it, so the other tests' files stay as they were
		if [ "$group" = discover ] && ! printf '%s\n' "$settings" | grep -q '^discover\.'; then
			continue
		fi
		echo "$group: {"
		printf '%s\n' "$settings" | sed -n "s/^$group\.\(.*\)/  \1/p"
		echo "};"
	done >"$T/syncd.conf"
}

# Run the daemon with the test configuration; its stderr goes to $T/syncd.log.
# SYNCD_WRAPPER runs it under a tool, e.g. SYNCD_WRAPPER="valgrind -q --leak-check=full --error-exitcode=3".
syncd() {
	env -u EXTEND_API_KEY -u CREDENTIALS_DIRECTORY ${SYNCD_WRAPPER:-} "$SYNCD" -c "$T/syncd.conf" "$@" 2>>"$T/syncd.log"
}

# expect NAME EXPECTED ACTUAL
expect() {
	if [ "$2" = "$3" ]; then
		printf 'ok - %s\n' "$1"
	else
		printf 'not ok - %s\n#   expected: %s\n#   actual:   %s\n' "$1" "$2" "$3"
		failures=$((failures + 1))
	fi
}

# expect_true NAME COMMAND...
expect_true() {
	name=$1
	shift
	if "$@"; then
		printf 'ok - %s\n' "$name"
	else
		printf 'not ok - %s\n' "$name"
		failures=$((failures + 1))
	fi
}

# The API key and presigned URLs must appear in no log and no table.
expect_no_secrets() {
	for f in "$T"/*.log; do
		[ -f "$f" ] || continue
		expect_true "API key absent from $(basename "$f")" sh -c "! grep -q -F '$API_KEY' '$f'"
		expect_true "presigned URLs absent from $(basename "$f")" \
			sh -c "! grep -q -E 'X-Amz-Signature|presignedUrl|dummy\\.pdf' '$f'"
	done
	pg_dump -h "$PGHOST" -U postgres --data-only --exclude-schema=test "$PGDATABASE" >"$T/dump.sql"
	expect_true "API key absent from the database" sh -c "! grep -q -F '$API_KEY' '$T/dump.sql'"
	expect_true "presigned URLs absent from the database" \
		sh -c "! grep -q -E 'X-Amz-Signature|presignedUrl|dummy\\.pdf' '$T/dump.sql'"
}

finish() {
	if [ "$failures" -ne 0 ]; then
		log "$failures check(s) failed"
		exit 1
	fi
	exit 0
}

# Load the JSON files of directory $1 into test.fixture(name, body), for SQL checks against what was served.
load_fixtures() {
	q "CREATE SCHEMA IF NOT EXISTS test; CREATE TABLE IF NOT EXISTS test.fixture (name text PRIMARY KEY, body jsonb)"
	for f in "$1"/*.json; do
		psql -X -q -v ON_ERROR_STOP=1 -v name="$(basename "$f" .json)" -v body="$(cat "$f")" <<-'SQL'
			INSERT INTO test.fixture VALUES (:'name', :'body'::jsonb)
		SQL
	done
}

# The truth of the mock's world (GET /_world) into table test.world: id, workflow, batch ('-' for none),
# status and updated_at (NULL while the run does not exist yet), created_at, statuses (seen so far).
world_load_truth() {
	q "SET client_min_messages TO warning; CREATE SCHEMA IF NOT EXISTS test; DROP TABLE IF EXISTS test.world;
	   CREATE TABLE test.world (id text PRIMARY KEY, workflow text, batch text, status text, updated_at text,
	                            created_at timestamptz, statuses int)"
	curl -s -f "$MOCK_URL/_world" | grep -v '^#' |
		psql -X -q -v ON_ERROR_STOP=1 -c "\\copy test.world FROM STDIN"
	q "UPDATE test.world SET status = NULLIF(status, '-'), updated_at = NULLIF(updated_at, '-');
	   ALTER TABLE test.world ALTER updated_at TYPE timestamptz USING updated_at::timestamptz"
}

# Mock time now, in milliseconds from the world's time zero.
world_now() {
	curl -s -f "$MOCK_URL/_world" | awk '/^# now / { print $4; exit }'
}

# GET /workflow_runs/ID requests of the mock's log into table test.gets (id, n).
load_gets() {
	q "SET client_min_messages TO warning; CREATE SCHEMA IF NOT EXISTS test; DROP TABLE IF EXISTS test.gets; CREATE TABLE test.gets (id text PRIMARY KEY, n int)"
	awk '$2 == "GET" && $3 ~ /^\/workflow_runs\/[A-Za-z0-9_-]+$/ { n[substr($3, 16)]++ }
	     END { for (id in n) printf "%s\t%d\n", id, n[id] }' "$T/requests.log" |
		psql -X -q -v ON_ERROR_STOP=1 -c "\\copy test.gets FROM STDIN"
}

# List requests (GET /workflow_runs?...) in the mock's log.
list_requests() { grep -c ' GET /workflow_runs?' "${1:-$T/requests.log}" || true; }

# The sweeps the mock's log shows (a chain of list pages linked by nextPageToken, see mock-extend.c), a line each:
# source (workflow:ID, batch:ID or all), chain, first arrival, last completion, pages; in order of first arrival.
list_chains() {
	awk '$3 ~ /^\/workflow_runs\?/ && $6 ~ /^L/ {
		split($6, c, ".")
		src = "all"
		if (match($3, /[?&]workflowId=[A-Za-z0-9_-]+/)) src = "workflow:" substr($3, RSTART + 12, RLENGTH - 12)
		else if (match($3, /[?&]batchId=[A-Za-z0-9_-]+/)) src = "batch:" substr($3, RSTART + 9, RLENGTH - 9)
		if (!(c[1] in first) || $1 < first[c[1]]) first[c[1]] = $1
		if ($7 > last[c[1]]) last[c[1]] = $7
		pages[c[1]]++
		source[c[1]] = src
	} END { for (k in first) printf "%s %s %.3f %.3f %d\n", source[k], k, first[k], last[k], pages[k] }' \
		"${1:-$T/requests.log}" | sort -k3,3n
}

# Every stored snapshot, column by column, is the body of directory $1 that has its run ID (tests/oracle.sql, which
# also counts child rows); $2 bodies are expected.
expect_snapshots() {
	q "SET client_min_messages TO warning; CREATE SCHEMA IF NOT EXISTS test;
	   CREATE TABLE IF NOT EXISTS test.fixture (name text PRIMARY KEY, body jsonb)"
	for f in "$1"/*.json; do printf '%s\t%s\n' "$(basename "$f" .json)" "$(tr -d '\n\t' <"$f" | sed 's/\\/\\\\/g')"; done |
		psql -X -q -v ON_ERROR_STOP=1 -c "COPY test.fixture FROM STDIN"
	expect "every final body loaded" "$2" "$(q "SELECT count(*) FROM test.fixture")"
	mismatches=$(psql -X -A -t -q -v ON_ERROR_STOP=1 -f "$top_srcdir/tests/oracle.sql")
	expect "every stored snapshot is the body served last, whole" "" "$(printf '%s\n' "$mismatches" | head -n 10)"
}

# No child row without its run.
expect_no_orphans() {
	expect "no orphan child rows" "0" \
		"$(q "SELECT (SELECT count(*) FROM extend.workflow_run_files c WHERE NOT EXISTS (SELECT 1 FROM extend.workflow_runs r WHERE r.id = c.run_id))
		      + (SELECT count(*) FROM extend.processor_runs c WHERE NOT EXISTS (SELECT 1 FROM extend.workflow_runs r WHERE r.id = c.run_id))
		      + (SELECT count(*) FROM extend.step_runs c WHERE NOT EXISTS (SELECT 1 FROM extend.workflow_runs r WHERE r.id = c.run_id))
		      + (SELECT count(*) FROM extend.extracted_fields c WHERE NOT EXISTS (SELECT 1 FROM extend.workflow_runs r WHERE r.id = c.run_id))")"
}

# The key's rate limit $1 held at the mock, by its request log $2 (default $T/requests.log): no 429 of its own
# limit, no one-second window above it.  Sets busiest and requests_total.
expect_rate_kept() {
	busiest=$(busiest_second "${2:-$T/requests.log}")
	requests_total=$(wc -l <"${2:-$T/requests.log}")
	log "$requests_total requests; the busiest one-second window at the mock held $busiest (limit $1)"
	expect "the mock's rate limit was never hit" "0" "$(grep -c ' limited$' "${2:-$T/requests.log}" || true)"
	expect_true "no one-second window held more than the limit" [ "$busiest" -le "$1" ]
}
