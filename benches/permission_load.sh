#!/usr/bin/env bash
# The permission role through the release binary: import of the generated graph
# (benches/permission/graph.rs, 100 tuples per organization) into a SQLite file with
# `quartet import tuples`, then `quartet serve permission` on that file and `wrk` against
# GET /relation-tuples/check: one connection (a sequential client: latency) and 64 connections
# (throughput). Prints every figure with the command that produced it.
#
#   benches/permission_load.sh                 # 10,000 organizations = 1M tuples
#   BENCH_ORGS=1000 DURATION=5s benches/permission_load.sh
#
# Environment: QUARTET (binary; default target/release/quartet, built if missing), BENCH_ORGS,
# DURATION (wrk, default 10s), THREADS (wrk threads for the 64-connection run, default 2),
# PORT (read port, default 14466), BENCH_PROFILE (cargo profile for the graph generator, e.g.
# fastrelease: the bench profile's fat LTO takes a quarter of an hour). Needs wrk.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ORGS="${BENCH_ORGS:-10000}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
PORT="${PORT:-14466}"
QUARTET="${QUARTET:-$ROOT/target/release/quartet}"
command -v wrk >/dev/null || { echo "permission_load.sh: wrk not found" >&2; exit 1; }

if [ ! -x "$QUARTET" ]; then
  (cd "$ROOT" && cargo build --release --bin quartet)
fi
WORK="$(mktemp -d)"
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== generating $ORGS organizations"
(cd "$ROOT" && BENCH_ORGS="$ORGS" PERMISSION_GRAPH_OUT="$WORK" cargo bench ${BENCH_PROFILE:+--profile "$BENCH_PROFILE"} --bench permission_check)

cat >"$WORK/quartet.yml" <<EOF
dsn: sqlite://$WORK/bench.sqlite
log: { level: warn }
permission:
  namespaces: { location: file://$WORK/namespaces.keto.ts }
  limit: { max_read_depth: 10 }
  serve:
    read: { port: $PORT }
    write: { port: 0 }
    metrics: { port: 0 }
    opl: { port: 0 }
EOF

echo "== import: $QUARTET import tuples tuples.txt (SQLite file, WAL)"
START=$(date +%s.%N)
"$QUARTET" import tuples "$WORK/tuples.txt" -c "$WORK/quartet.yml" | tail -1
END=$(date +%s.%N)
echo "import wall time: $(echo "$END - $START" | bc) s"

echo "== re-import (every tuple already present)"
START=$(date +%s.%N)
"$QUARTET" import tuples "$WORK/tuples.txt" -c "$WORK/quartet.yml" | tail -1
END=$(date +%s.%N)
echo "re-import wall time: $(echo "$END - $START" | bc) s"

"$QUARTET" serve permission -c "$WORK/quartet.yml" &
SERVER=$!
for _ in $(seq 1 200); do
  if curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1; then break; fi
  sleep 0.05
done
curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null

O=$((ORGS / 2))
BASE="http://127.0.0.1:$PORT/relation-tuples/check"
declare -A CHECKS=(
  [direct]="$BASE?namespace=Organization&object=o$O&relation=members&subject_id=u${O}_3"
  [2-hop]="$BASE?namespace=Gateway&object=g${O}_7&relation=view&subject_id=u${O}_3"
  [4-hop]="$BASE?namespace=Folder&object=leaf${O}_2_1&relation=view&subject_id=u${O}_12"
)
for name in direct 2-hop 4-hop; do
  url="${CHECKS[$name]}"
  code=$(curl -s -o /dev/null -w '%{http_code}' "$url")
  [ "$code" = 200 ] || { echo "check $name answered $code, expected 200" >&2; exit 1; }
  echo "== $name, 1 connection (sequential client): wrk -t1 -c1 -d$DURATION --latency '$url'"
  wrk -t1 -c1 -d"$DURATION" --latency "$url" | grep -E 'Latency|50%|90%|99%|Requests/sec|Non-2xx'
  echo "== $name, 64 connections: wrk -t$THREADS -c64 -d$DURATION --latency '$url'"
  wrk -t"$THREADS" -c64 -d"$DURATION" --latency "$url" | grep -E 'Latency|50%|90%|99%|Requests/sec|Non-2xx'
done
