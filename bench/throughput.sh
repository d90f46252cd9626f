#!/bin/sh
# Throughput of the whole pipeline (claim, fetch, normalize, store) against the mock API and a throwaway
# PostgreSQL: N copies of a fixture, rate limit out of the way, reported as runs per second.
#   bench/throughput.sh [N] [FIXTURE]     e.g. bench/throughput.sh 1000 processed_extract
# Needs a build in _build (scripts/test or scripts/demo makes one).
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=${top_builddir:-$top_srcdir/_build}
TEST_DATA_DIR=$top_srcdir/tests/data
. "$top_srcdir/tests/lib.sh"

n=${1:-500}
fixture=${2:-processed_extract}
src="$TEST_DATA_DIR/runs/$fixture.json"
[ -f "$fixture" ] && src=$fixture && fixture=$(basename "$fixture" .json)
id=$(sed -n 's/^    "id": "\(workflow_run_[A-Za-z0-9_-]*\)".*/\1/p' "$src")
api="$T/api"
mkdir -p "$api"
i=0
while [ $i -lt "$n" ]; do
	sed "s/$id/workflow_run_Bench$i/g; s/^    \"status\": \"[A-Z_]*\"/    \"status\": \"PROCESSED\"/" "$src" >"$api/b$i.json"
	i=$((i + 1))
done

pg_start
mock_start "$api"
write_config 'api.rate_limit = 10000.0' 'api.max_in_flight = 16' 'sync.claim_batch = 256' 'log.level = "info"'
syncd --migrate >/dev/null
seq -f "workflow_run_Bench%g" 0 $((n - 1)) | syncd --enqueue - >/dev/null

start=$(date +%s.%N)
syncd --drain
end=$(date +%s.%N)
done_runs=$(q "SELECT count(*) FROM extend.sync_queue WHERE state = 'done'")
rows=$(q "SELECT (SELECT count(*) FROM extend.workflow_run_files) + (SELECT count(*) FROM extend.workflow_run_file_pages)
	+ (SELECT count(*) FROM extend.processor_runs) + (SELECT count(*) FROM extend.processor_run_files)
	+ (SELECT count(*) FROM extend.step_runs) + (SELECT count(*) FROM extend.step_run_rules) + $n")
awk -v s="$start" -v e="$end" -v n="$done_runs" -v r="$rows" -v f="$fixture" -v b="$(wc -c <"$src")" 'BEGIN {
	t = e - s
	printf "%d runs of %s (%d bytes, %d rows each) in %.2f s: %.0f runs/s, %.0f rows/s\n", n, f, b, r / n, t, n / t, r / t
}'
