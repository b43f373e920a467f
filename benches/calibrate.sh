#!/usr/bin/env bash
# The machine's floor: what the load generator measures against a server that does nothing —
# nginx answering `return 200 'ok'` on loopback — with the same wrk runs as the role
# benchmarks: one sequential client (`wrk -t1 -c1`: the latency floor under
# benches/permission_load.sh's single-client figures) and 64 connections (`wrk -t2 -c64`: the
# throughput ceiling and the tail-latency floor under every 64-connection figure), with nginx
# on one worker process and on two.
#
# Every figure in docs/benchmarks.md is taken on a shared 2-vCPU VM whose speed changes between
# sessions (nginx as a reverse proxy has read 25k–120k req/s); run this beside a benchmark and
# read the role's figures against it. A latency target below this floor cannot be met by any
# server on the machine: wrk, the server and the kernel share the same two cores.
#
# The VM halts an idle vCPU, and waking it again costs the host tens of microseconds: on an
# otherwise idle machine a single sequential client pays that on nearly every request. The
# "spinners" rows repeat the one-client run with one `nice -n 19` busy loop per CPU, which
# takes almost no CPU from the benchmark (CFS weight 15 against 1024) but keeps every vCPU
# awake: the difference between the two rows is the machine's wake-up cost, not the server's.
#
# Usage: DURATION=5s ROUNDS=2 benches/calibrate.sh     Needs: nginx, wrk, python3, curl.
# Prints a Markdown table.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-2}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
for tool in "$NGINX" wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
. "$ROOT/benches/lib.sh" # WORK, PIDS, free_port

nginx_start() { # name workers port
    mkdir -p "$WORK/$1"
    cat >"$WORK/$1/nginx.conf" <<N
daemon off; worker_processes $2; pid $WORK/$1/nginx.pid; error_log $WORK/$1/error.log warn;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $WORK/$1/body; proxy_temp_path $WORK/$1/proxy;
  fastcgi_temp_path $WORK/$1/fcgi; uwsgi_temp_path $WORK/$1/uwsgi; scgi_temp_path $WORK/$1/scgi;
  server { listen 127.0.0.1:$3; location / { return 200 'ok'; } } }
N
    "$NGINX" -p "$WORK/$1" -c "$WORK/$1/nginx.conf" &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$3/" || true)" = 200 ] && return 0
        sleep 0.05
    done
    echo "nginx ($1) did not start" >&2
    exit 1
}

to_ms() { # wrk latency like 812.00us / 1.23ms / 2.00s → ms
    python3 -c "import sys,re; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v); n=float(m[1]); print(round(n/1000 if m[2]=='us' else n*1000 if m[2]=='s' else n, 3))" "$1"
}
row() { # label threads connections url
    local out p
    out=$(wrk -t"$2" -c"$3" -d"$DURATION" --latency "$4")
    if echo "$out" | grep -q 'Non-2xx'; then echo "non-2xx answers in run $1" >&2; exit 1; fi
    printf '| %s | %s |' "$1" "$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
    for p in 50% 75% 90% 99%; do
        printf ' %s |' "$(to_ms "$(echo "$out" | awk -v p="$p" '$1==p {print $2}')")"
    done
    echo
}

P1=$(free_port); P2=$(free_port)
nginx_start one 1 "$P1"
nginx_start two 2 "$P2"

echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')); $(uname -sr); nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'); load average $(cut -d' ' -f1-3 /proc/loadavg); wrk -d$DURATION --latency"
echo
echo "| nginx \`return 200\`, wrk | req/s | p50 ms | p75 ms | p90 ms | p99 ms |"
echo "|---|---|---|---|---|---|"
spin() { # one niced busy loop per CPU until the returned pids are killed
    local i
    for i in $(seq 1 "$(nproc)"); do
        nice -n 19 sh -c 'while :; do :; done' &
        SPINNERS+=($!); PIDS+=($!)
    done
}
for round in $(seq 1 "$ROUNDS"); do
    row "1 worker, one client (-t1 -c1), round $round" 1 1 "http://127.0.0.1:$P1/"
    SPINNERS=()
    spin
    row "1 worker, one client (-t1 -c1), spinners keep the vCPUs awake, round $round" 1 1 "http://127.0.0.1:$P1/"
    kill "${SPINNERS[@]}" 2>/dev/null || true
    wait "${SPINNERS[@]}" 2>/dev/null || true
    row "1 worker, 64 connections (-t2 -c64), round $round" 2 64 "http://127.0.0.1:$P1/"
    row "2 workers, 64 connections (-t2 -c64), round $round" 2 64 "http://127.0.0.1:$P2/"
done
