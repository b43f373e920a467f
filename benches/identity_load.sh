#!/usr/bin/env bash
# Identity role benchmark (issue 4, "Performance"): `GET /sessions/whoami` over loopback with
# wrk, 64 connections, against the release binary (`quartet serve identity`), by
# `X-Session-Token` and by `ory_kratos_session` cookie, on
#   - SQLite (a file in WAL mode) and, when TEST_DATABASE_URL is set, PostgreSQL,
#   - without and with the opt-in whoami cache (`identity.quartet.session_cache.ttl`).
# Every run is checked first (a 200 with the session), and a run with any non-2xx answer fails.
#
# Usage: benches/identity_load.sh           (builds target/release/quartet if missing)
#   QUARTET_BIN=path  use that binary       DURATION=10s per wrk run   CONNECTIONS=64
#   THREADS=2  wrk threads                  CACHE_TTL=5s  ttl of the cached rows
#   TEST_DATABASE_URL=postgres://…          adds the Postgres rows (a scratch database is
#                                           created next to it and dropped afterwards)
# Needs: wrk, curl, python3 (and psql for Postgres). Prints a Markdown table.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${QUARTET_BIN:-$ROOT/target/release/quartet}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
CACHE_TTL=${CACHE_TTL:-5s}

for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
if [ ! -x "$BIN" ]; then
    (cd "$ROOT" && cargo build --release --bin quartet)
fi

WORK=$(mktemp -d)
QPID=
PGDB=
cleanup() {
    [ -n "$QPID" ] && kill "$QPID" 2>/dev/null || true
    wait 2>/dev/null || true
    if [ -n "$PGDB" ]; then
        psql "${TEST_DATABASE_URL%/*}/postgres" -qc "DROP DATABASE IF EXISTS \"$PGDB\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url
    for _ in $(seq 1 200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ] && return 0
        sleep 0.05
    done
    echo "not ready: $1" >&2
    exit 1
}

start() { # dsn ttl
    KP=$(free_port); KA=$(free_port)
    cat >"$WORK/quartet.yml" <<EOF
dsn: $1
log: { level: warn }
identity:
  serve:
    public: { host: 127.0.0.1, port: $KP }
    admin: { host: 127.0.0.1, port: $KA }
  selfservice:
    default_browser_return_url: http://app.test/
    allowed_return_urls: [http://app.test/]
  hashers: { bcrypt: { cost: 4 } }
  quartet:
    session_cache: { ttl: $2 }
EOF
    "$BIN" serve identity --dev -c "$WORK/quartet.yml" >"$WORK/quartet.log" 2>&1 &
    QPID=$!
    wait_http "http://127.0.0.1:$KP/health/ready"
}

stop() {
    kill "$QPID"
    wait "$QPID" 2>/dev/null || true
    QPID=
}

# Creates one identity over the admin API, then logs in once through the API
# flow (token) and once through the browser flow (cookie). Prints "TOKEN COOKIE".
credentials() {
    python3 - "$KA" "$KP" <<'EOF'
import json, sys, urllib.request, urllib.parse, http.client
admin, public = sys.argv[1], sys.argv[2]
email, pw = "bench@example.com", "a-long-bench-password-1"
req = urllib.request.Request(f"http://127.0.0.1:{admin}/admin/identities", method="POST",
    data=json.dumps({"schema_id": "default", "traits": {"email": email},
        "credentials": {"password": {"config": {"password": pw}}}}).encode(),
    headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
c = http.client.HTTPConnection("127.0.0.1", int(public))
c.request("GET", "/self-service/login/api"); flow = json.loads(c.getresponse().read())["id"]
c.request("POST", f"/self-service/login?flow={flow}",
    body=json.dumps({"method": "password", "identifier": email, "password": pw}),
    headers={"Content-Type": "application/json"})
token = json.loads(c.getresponse().read())["session_token"]
c.request("GET", "/self-service/login/browser"); r = c.getresponse(); r.read()
csrf_cookie = r.getheader("set-cookie").split(";")[0]
flow = r.getheader("location").split("flow=")[1]
c.request("GET", f"/self-service/login/flows?id={flow}", headers={"Cookie": csrf_cookie})
f = json.loads(c.getresponse().read())
csrf = next(n["attributes"]["value"] for n in f["ui"]["nodes"] if n["attributes"].get("name") == "csrf_token")
body = urllib.parse.urlencode({"method": "password", "identifier": email, "password": pw, "csrf_token": csrf})
c.request("POST", f"/self-service/login?flow={flow}", body=body,
    headers={"Cookie": csrf_cookie, "Content-Type": "application/x-www-form-urlencoded"})
r = c.getresponse(); r.read()
cookie = next(v.split(";")[0] for k, v in r.getheaders()
              if k.lower() == "set-cookie" and v.startswith("ory_kratos_session="))
print(token, cookie)
EOF
}

to_ms() { # wrk latency like 812.00us / 1.23ms / 2.00s → ms
    python3 -c "import sys,re; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v); n=float(m[1]); print(round(n/1000 if m[2]=='us' else n*1000 if m[2]=='s' else n, 3))" "$1"
}

ROWS=()
run() { # label header
    local url="http://127.0.0.1:$KP/sessions/whoami" out
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "$2" "$url")" = 200 ] \
        || { echo "sanity check failed: $1" >&2; exit 1; }
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$2" "$url")
    if echo "$out" | grep -q 'Non-2xx'; then echo "non-2xx answers in run $1:" >&2; echo "$out" >&2; exit 1; fi
    ROWS+=("| $1 | $(echo "$out" | awk '/Requests\/sec/ {print $2}') | $(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')") | $(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')") |")
}

backend() { # label dsn
    for ttl in 0s "$CACHE_TTL"; do
        start "$2" "$ttl"
        read -r TOKEN COOKIE < <(credentials)
        local cache="no cache"
        [ "$ttl" != 0s ] && cache="session_cache ttl $ttl"
        run "$1, token, $cache" "X-Session-Token: $TOKEN"
        run "$1, cookie, $cache" "Cookie: $COOKIE"
        stop
        [ "$1" = SQLite ] && rm -f "$WORK"/db.sqlite*
        if [ "$1" = PostgreSQL ]; then
            psql "${TEST_DATABASE_URL%/*}/postgres" -qc "DROP DATABASE \"$PGDB\" WITH (FORCE)" >/dev/null
            psql "${TEST_DATABASE_URL%/*}/postgres" -qc "CREATE DATABASE \"$PGDB\"" >/dev/null
        fi
    done
}

backend SQLite "sqlite://$WORK/db.sqlite"
if [ -n "${TEST_DATABASE_URL:-}" ]; then
    PGDB="quartet_bench_$$"
    psql "${TEST_DATABASE_URL%/*}/postgres" -qc "CREATE DATABASE \"$PGDB\"" >/dev/null
    backend PostgreSQL "${TEST_DATABASE_URL%/*}/$PGDB"
fi

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency; $(nproc) CPUs; $(uname -sr); $(basename "$BIN") $(stat -c %y "$BIN" | cut -d. -f1)"
echo
echo "| whoami | req/s | p50 ms | p99 ms |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
