#!/usr/bin/env bash
# A/B of two Quartet binaries on the oauth2 hot paths, to tell a regression from a noisy hour:
# each run starts `quartet serve oauth2` on a fresh PostgreSQL database, creates one client and
# one opaque token, then loads `POST /admin/oauth2/introspect` and `POST /oauth2/token`
# (client_credentials, client_secret_basic) with `wrk -t2 -c64` for DURATION after a 2 s
# warm-up. The binaries alternate, ROUNDS times; one line per run.
#
# Usage: benches/oauth2_ab.sh OLD_BIN NEW_BIN [ROUNDS]     (e.g. two fastrelease builds)
#   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres (default)   DURATION=5s
# Needs: wrk, curl, psql, python3.
set -euo pipefail

OLD=$1
NEW=$2
ROUNDS=${3:-3}
ADMIN_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DURATION=${DURATION:-5s}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

run() {
    local bin=$1 tag=$2
    local db="quartet_ab_${tag}_$RANDOM"
    local public admin pid token
    psql "$ADMIN_URL" -qc "CREATE DATABASE $db" >/dev/null
    public=$(free_port)
    admin=$(free_port)
    cat >"$WORK/cfg.yml" <<YML
dsn: ${ADMIN_URL%/*}/$db
log: {level: error}
oauth2:
  serve:
    public: {host: 127.0.0.1, port: $public}
    admin: {host: 127.0.0.1, port: $admin}
  secrets: {system: ["a-very-long-system-secret-0123456789"]}
YML
    "$bin" serve oauth2 -c "$WORK/cfg.yml" >"$WORK/$tag.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$admin/health/ready" >/dev/null && break
        sleep 0.1
    done
    curl -fs -X POST "http://127.0.0.1:$admin/admin/clients" -H 'content-type: application/json' \
        -d '{"client_id":"bench","client_secret":"bench-secret-0123456789","grant_types":["client_credentials"],"scope":"read"}' >/dev/null
    token=$(curl -fs -u bench:bench-secret-0123456789 -d grant_type=client_credentials -d scope=read \
        "http://127.0.0.1:$public/oauth2/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    printf 'wrk.method = "POST"\nwrk.body = "token=%s"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n' \
        "$token" >"$WORK/introspect.lua"
    printf 'wrk.method = "POST"\nwrk.body = "grant_type=client_credentials&scope=read"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\nwrk.headers["Authorization"] = "Basic %s"\n' \
        "$(printf bench:bench-secret-0123456789 | base64 -w0)" >"$WORK/token.lua"
    local introspect tokens
    wrk -t2 -c64 -d2s -s "$WORK/introspect.lua" "http://127.0.0.1:$admin/admin/oauth2/introspect" >/dev/null
    introspect=$(wrk -t2 -c64 -d"$DURATION" --latency -s "$WORK/introspect.lua" "http://127.0.0.1:$admin/admin/oauth2/introspect")
    wrk -t2 -c64 -d2s -s "$WORK/token.lua" "http://127.0.0.1:$public/oauth2/token" >/dev/null
    tokens=$(wrk -t2 -c64 -d"$DURATION" --latency -s "$WORK/token.lua" "http://127.0.0.1:$public/oauth2/token")
    if grep -q 'Non-2xx\|Socket errors' <<<"$introspect$tokens"; then
        echo "$tag: non-2xx answers or socket errors" >&2
        exit 1
    fi
    printf '%s  introspection %8s req/s p99 %-8s  client_credentials %8s tokens/s p99 %s\n' "$tag" \
        "$(awk '/Requests\/sec/{print $2}' <<<"$introspect")" "$(awk '/ 99%/{print $2}' <<<"$introspect")" \
        "$(awk '/Requests\/sec/{print $2}' <<<"$tokens")" "$(awk '/ 99%/{print $2}' <<<"$tokens")"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    psql "$ADMIN_URL" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null
}

for _ in $(seq "$ROUNDS"); do
    run "$OLD" old
    run "$NEW" new
done
