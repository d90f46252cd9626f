#!/bin/sh
# The extracted views (issue 20), against a throwaway PostgreSQL:
#  1. reading: N processor runs (default 100,000) of one extractor with a currency "total" and a date, written
#     straight into the tables; "sum of total__amount by month" on its view and on a hand-made table with the
#     same typed columns, each the median of R runs (default 7), and the ratio; the view's EXPLAIN (ANALYZE,
#     BUFFERS) in $OUT/explain.txt;
#  2. the hot path: M runs (default 1000) stored by the daemon (--drain) when their version is new to it (the
#     first run notes it) and when it is known from the start: runs per second of each (should be equal).
#   bench/views.sh [N] [R] [M]
# Needs a build in _build (scripts/test or scripts/demo makes one).
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=${top_builddir:-$top_srcdir/_build}
TEST_DATA_DIR=$top_srcdir/tests/data
. "$top_srcdir/tests/lib.sh"

n=${1:-100000}
reps=${2:-7}
m=${3:-1000}
OUT=${OUT:-.}
V=extend_extracted.invoice_extractor

pg_start
api="$T/api"
mkdir -p "$api"
mock_start "$api"
write_config 'api.rate_limit = 10000.0' 'api.max_in_flight = 16' 'sync.claim_batch = 256' 'log.level = "info"'
syncd --migrate >/dev/null

# 1. reading
config=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps([o["config"] for o in d["workflowRun"]["outputs"] if o["type"] == "EXTRACT"][0]))' \
	"$TEST_DATA_DIR/extracted/invoice_v1.json")
psql -X -q -v ON_ERROR_STOP=1 -v n="$n" -v config="$config" <<-'SQL'
	INSERT INTO extend.workflow_runs (id, status, workflow_id, workflow_name, initial_run_at, end_time, content_hash, raw)
	SELECT format('workflow_run_V%s', i), 'PROCESSED', 'workflow_bench', 'Bench',
	       timestamptz '2024-01-01' + i * interval '5 minutes', timestamptz '2024-01-01' + i * interval '5 minutes',
	       md5(i::text), '{}'::jsonb
	FROM generate_series(1, :n) i;
	INSERT INTO extend.processor_runs (run_id, ordinal, id, processor_id, processor_version_id, processor_name,
	                                   status, type, reviewed, edited, config, output)
	SELECT format('workflow_run_V%s', i), 0, format('dpr_V%s', i), 'dp_Ext0001aaaa', 'dpv_Ext0001aaaa',
	       'Invoice Extractor', 'PROCESSED', 'EXTRACT', false, false, :'config'::jsonb,
	       jsonb_build_object('value', jsonb_build_object(
	           'invoice_number', format('INV-%s', i),
	           'invoice_date', to_char(date '2024-01-01' + (i % 730), 'YYYY-MM-DD'),
	           'total', jsonb_build_object('amount', round((i % 10000) / 7.0, 2), 'iso_4217_currency_code', 'EUR')))
	FROM generate_series(1, :n) i;
SQL
syncd --refresh-views
psql -X -q -v ON_ERROR_STOP=1 <<-'SQL'
	CREATE SCHEMA bench;
	CREATE TABLE bench.invoices AS
	    SELECT run_id, processor_run_id, invoice_date, total__amount, total__currency FROM extend_extracted.invoice_extractor;
	ANALYZE;
SQL
query() { echo "SELECT date_trunc('month', invoice_date) AS month, sum(total__amount) FROM $1 GROUP BY 1 ORDER BY 1"; }
# median_ms RELATION: the median of $reps executions' times (EXPLAIN ANALYZE's, without per-node timing)
median_ms() {
	for _ in $(seq 1 "$reps"); do
		q "EXPLAIN (ANALYZE, TIMING OFF) $(query "$1")" | sed -n 's/^Execution Time: \([0-9.]*\) ms/\1/p'
	done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
q "$(query $V)" >/dev/null	# warm the cache, as for the table below
q "$(query bench.invoices)" >/dev/null
view_ms=$(median_ms $V)
table_ms=$(median_ms bench.invoices)
q "EXPLAIN (ANALYZE, BUFFERS) $(query $V)" >"$OUT/explain.txt"
awk -v n="$n" -v v="$view_ms" -v t="$table_ms" -v r="$reps" 'BEGIN {
	printf "sum of total__amount by month over %d runs (median of %d): view %.1f ms, table %.1f ms, ratio %.2f\n",
	       n, r, v, t, v / t }'

# 2. the hot path
i=0
while [ $i -lt "$m" ]; do
	sed "s/workflow_run_Xv1aaaaaaaa/workflow_run_N$i/g; s/dpv_Ext0001aaaa/dpv_ExtNew/g" \
		"$TEST_DATA_DIR/extracted/invoice_v1.json" >"$api/n$i.json"
	sed "s/workflow_run_Xv1aaaaaaaa/workflow_run_K$i/g" "$TEST_DATA_DIR/extracted/invoice_v1.json" >"$api/k$i.json"
	i=$((i + 1))
done
mock_stop
mock_start "$api"
write_config 'api.rate_limit = 10000.0' 'api.max_in_flight = 16' 'sync.claim_batch = 256' 'log.level = "info"'
# drain PREFIX: store the m runs PREFIX0.. with --drain; prints runs per second
drain() {
	seq -f "workflow_run_$1%g" 0 $((m - 1)) | syncd --enqueue - >/dev/null
	start=$(date +%s.%N)
	syncd --drain
	end=$(date +%s.%N)
	awk -v s="$start" -v e="$end" -v n="$m" 'BEGIN { printf "%.0f", n / (e - s) }'
}
new=$(drain N)
known=$(drain K)
echo "hot path, $m runs each: a version new to the daemon $new runs/s, a known version $known runs/s;" \
	"version dpv_ExtNew recorded $(q "SELECT count(*) FROM extend.extracted_view_versions WHERE processor_version_id = 'dpv_ExtNew'") time(s)"
