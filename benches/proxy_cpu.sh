#!/usr/bin/env bash
# CPU per proxied request (issue 6, case (c)): nginx as a plain reverse proxy and Quartet's
# proxy (rule noop/allow/noop), each in front of the same nginx `return 200` upstream, driven by
# `wrk -t2 -c64` for DURATION; prints req/s and the user+system CPU time of the proxy process
# (all its threads, from /proc/PID/task/*/stat) and of the upstream per completed request.
# Throughput on a shared 2-vCPU VM swings with the host; CPU per request is the steadier figure.
#
# Usage: QUARTET_BIN=target/release/quartet DURATION=8s benches/proxy_cpu.sh
# Needs: nginx, wrk, python3, curl.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${QUARTET_BIN:-$ROOT/target/release/quartet}
DURATION=${DURATION:-8s}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
. "$ROOT/benches/lib.sh"
UP=$(free_port); NGX=$(free_port); PX=$(free_port); API=$(free_port); PROM=$(free_port)
nginx_start() { # name workers server-block
    mkdir -p "$WORK/$1"
    cat >"$WORK/$1/nginx.conf" <<N
daemon off; worker_processes $2; pid $WORK/$1/nginx.pid; error_log $WORK/$1/error.log warn;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $WORK/$1/body; proxy_temp_path $WORK/$1/proxy;
  fastcgi_temp_path $WORK/$1/fcgi; uwsgi_temp_path $WORK/$1/uwsgi; scgi_temp_path $WORK/$1/scgi;
  $3 }
N
    "$NGINX" -p "$WORK/$1" -c "$WORK/$1/nginx.conf" &
    PIDS+=($!)
}
nginx_start upstream 1 "server { listen 127.0.0.1:$UP; location / { return 200 'ok'; } }"
UPSTREAM_MASTER=${PIDS[-1]}
nginx_start proxy 2 "upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$NGX; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
PROXY_MASTER=${PIDS[-1]}
cat >"$WORK/rules.json" <<R
[{"id": "open", "match": {"url": "http://<[^/]+>/open/<.*>", "methods": ["GET"]},
  "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"},
  "mutators": [{"handler": "noop"}], "upstream": {"url": "http://127.0.0.1:$UP"}}]
R
cat >"$WORK/quartet.yml" <<Q
dsn: memory
log: { level: warn }
proxy:
  serve:
    proxy: { host: 127.0.0.1, port: $PX }
    api: { host: 127.0.0.1, port: $API }
    prometheus: { host: 127.0.0.1, port: $PROM }
  access_rules: { repositories: [ "file://$WORK/rules.json" ] }
  authenticators: { noop: { enabled: true } }
  authorizers: { allow: { enabled: true } }
  mutators: { noop: { enabled: true } }
Q
"$BIN" serve proxy -c "$WORK/quartet.yml" >"$WORK/quartet.log" 2>&1 &
QPID=$!
PIDS+=($QPID)
for url in "http://127.0.0.1:$UP/" "http://127.0.0.1:$NGX/open/x" "http://127.0.0.1:$PX/open/x"; do
    for _ in $(seq 1 200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" = 200 ] && break
        sleep 0.05
    done
done
ticks() { # clock ticks (user+system) of every thread of the given processes
    local t=0 p s f
    for p in "$@"; do
        for s in /proc/"$p"/task/*/stat; do
            f=$(sed 's/.*) //' "$s")
            set -- $f
            t=$((t + ${12} + ${13}))
        done
    done
    echo "$t"
}
HZ=$(getconf CLK_TCK)
echo "| proxy | req/s | proxy CPU per request | upstream CPU per request |"
echo "|---|---|---|---|"
for case in nginx quartet; do
    if [ "$case" = nginx ]; then url="http://127.0.0.1:$NGX/open/x"; pids=$(pgrep -P "$PROXY_MASTER" | tr '\n' ' ')
    else url="http://127.0.0.1:$PX/open/x"; pids=$QPID; fi
    ups=$(pgrep -P "$UPSTREAM_MASTER" | tr '\n' ' ')
    wrk -t2 -c64 -d2s "$url" >/dev/null
    u0=$(ticks $ups); t0=$(ticks $pids)
    out=$(wrk -t2 -c64 -d"$DURATION" "$url")
    u1=$(ticks $ups); t1=$(ticks $pids)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    per() { python3 -c "import sys; print(round((int(sys.argv[1]))*1e6/int(sys.argv[2])/int(sys.argv[3]),1))" "$1" "$HZ" "$n"; }
    echo "| $case | $rps | $(per $((t1 - t0))) µs | $(per $((u1 - u0))) µs |"
done
