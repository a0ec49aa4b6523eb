#!/bin/bash
# bench-explore.sh: issue 18's benchmark row, `vsysbed explore` of
# Debian's redis-server with a redis-benchmark test (docs/explore.md, "A
# server"): each used syscall stubbed, then faked, with a test that sets a
# key, reads it back and runs REQUESTS SET/GET requests. Prints explore's
# own summary (experiments, total, seconds each) and the wall time; the
# bound is 10 minutes on 2 cores.
#
# Environment: VSYSBED (default build/vsysbed), PORT (default 6390),
# REQUESTS (default 3000), TIMEOUT (per experiment, default 15s), JOBS
# (default 1: the port is fixed), OUT (default build/bench-explore: the
# CSV, JSON and HTML pages).
set -euo pipefail
cd "$(dirname "$0")/.."
VSYSBED=${VSYSBED:-build/vsysbed}
PORT=${PORT:-6390}
REQUESTS=${REQUESTS:-3000}
TIMEOUT=${TIMEOUT:-15s}
JOBS=${JOBS:-1}
OUT=${OUT:-build/bench-explore}
for p in redis-server redis-cli redis-benchmark; do
	command -v "$p" >/dev/null || { echo "bench-explore.sh: $p is not installed (make deps)" >&2; exit 2; }
done
mkdir -p "$OUT"
test="$OUT/redis-test.sh"
cat > "$test" <<EOT
#!/bin/sh
redis-cli -p $PORT set k v >/dev/null || exit 1
[ "\$(redis-cli -p $PORT get k)" = v ] || exit 1
redis-benchmark -p $PORT -n $REQUESTS -t set,get -q >/dev/null || exit 1
EOT
chmod +x "$test"
start=$(date +%s.%N)
"$VSYSBED" explore -j "$JOBS" --timeout "$TIMEOUT" --port "$PORT" --test "$test" \
	--csv "$OUT/redis.csv" --json "$OUT/redis.json" --html "$OUT/redis.html" \
	-- "$(command -v redis-server)" --port "$PORT" --save "" --appendonly no
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "bench-explore: redis-server explored in %.1f s wall (bound: 600 s on 2 cores)\n", e - s }'
