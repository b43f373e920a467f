#!/usr/bin/env bash
# A/B of two Quartet binaries on the four hot read paths, to tell a regression from a noisy
# hour: each round starts `quartet serve --dev` (SQLite in memory, all four roles) with one
# binary, seeds one identity with an API session, one relation tuple, one OAuth2 client and an
# access rule to a local nginx upstream, then loads with `wrk -t2 -c64 -d$DURATION`:
#   whoami  GET  /sessions/whoami        (X-Session-Token)
#   check   GET  /relation-tuples/check  (allowed)
#   token   POST /oauth2/token           (client_credentials, client_secret_basic, opaque)
#   introspect POST /admin/oauth2/introspect (an active opaque access token)
#   proxy   GET  <proxy>/open/x          (noop/allow/noop to nginx `return 200`)
# and the machine's floor in the same run: nginx answering a constant on one worker (the same
# upstream the proxy forwards to). The binaries alternate, ROUNDS times, and so does which of
# them runs first; prints one line per run and a median table with NEW/OLD and each figure /
# floor.
#
# Usage: benches/hot_paths_ab.sh OLD_BIN NEW_BIN [ROUNDS]    (e.g. two fastrelease builds)
#   DURATION=5s  WARMUP=1s
# Needs: nginx (/usr/sbin/nginx), wrk, curl, python3.
set -euo pipefail

OLD=$1
NEW=$2
ROUNDS=${3:-3}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
NGINX=${NGINX:-/usr/sbin/nginx}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/benches/lib.sh" # WORK, PIDS, free_port

wait_http() { # url
    for _ in $(seq 1 200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ] && return 0
        sleep 0.05
    done
    echo "not ready: $1" >&2
    exit 1
}

UP=$(free_port)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body; proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fcgi; uwsgi_temp_path $WORK/nginx/uwsgi; scgi_temp_path $WORK/nginx/scgi;
    server { listen 127.0.0.1:$UP; location / { return 200 'ok'; } }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
PIDS+=($!)
wait_http "http://127.0.0.1:$UP/"

cat >"$WORK/rules.json" <<EOF
[{"id": "open", "match": {"url": "http://<[^/]+>/open/<.*>", "methods": ["GET"]},
  "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"},
  "mutators": [{"handler": "noop"}], "upstream": {"url": "http://127.0.0.1:$UP"}}]
EOF
cat >"$WORK/namespaces.keto.ts" <<'EOF'
import { Namespace, Context } from "@ory/keto-namespace-types"
class User implements Namespace {}
class Doc implements Namespace { related: { viewers: User[] } }
EOF

rps() { # wrk args... → requests/s, or exit on any non-2xx
    local out
    out=$(wrk -t2 -c64 "$@")
    if echo "$out" | grep -q 'Non-2xx'; then echo "non-2xx answers: $*" >&2; echo "$out" >&2; exit 1; fi
    echo "$out" | awk '/Requests\/sec/ {print $2}'
}

cat >"$WORK/token.lua" <<'EOF'
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
EOF

run() { # bin tag
    local bin=$1 tag=$2
    local kp ka hp ha rp wp px api pid
    kp=$(free_port); ka=$(free_port); hp=$(free_port); ha=$(free_port)
    rp=$(free_port); wp=$(free_port); px=$(free_port); api=$(free_port)
    cat >"$WORK/quartet.yml" <<EOF
dsn: memory
log: { level: error }
identity:
  serve: { public: { host: 127.0.0.1, port: $kp }, admin: { host: 127.0.0.1, port: $ka } }
  hashers: { bcrypt: { cost: 4 } }
oauth2:
  serve: { public: { host: 127.0.0.1, port: $hp }, admin: { host: 127.0.0.1, port: $ha } }
  secrets: { system: ["a-very-long-system-secret-0123456789"] }
permission:
  serve: { read: { host: 127.0.0.1, port: $rp }, write: { host: 127.0.0.1, port: $wp } }
  namespaces: { location: file://$WORK/namespaces.keto.ts }
proxy:
  serve: { proxy: { host: 127.0.0.1, port: $px }, api: { host: 127.0.0.1, port: $api } }
  access_rules: { repositories: [ "file://$WORK/rules.json" ] }
  authenticators: { noop: { enabled: true } }
  authorizers: { allow: { enabled: true } }
  mutators: { noop: { enabled: true } }
EOF
    PERMISSION_SERVE_METRICS_PORT=$(free_port) PERMISSION_SERVE_OPL_PORT=$(free_port) \
    PROXY_SERVE_PROMETHEUS_PORT=$(free_port) \
        "$bin" serve --dev -c "$WORK/quartet.yml" >"$WORK/quartet-$tag.log" 2>&1 &
    pid=$!
    for u in "$kp/health/ready" "$hp/health/ready" "$rp/health/ready" "$api/health/ready"; do
        wait_http "http://127.0.0.1:$u"
    done
    # Seed: an identity with an API session, a tuple, a client.
    local seeds token client secret
    seeds=$(python3 - "$ka" "$kp" "$wp" "$ha" <<'EOF'
import json, sys, urllib.request
ka, kp, wp, ha = sys.argv[1:5]
def call(url, method="GET", body=None):
    req = urllib.request.Request(url, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(req) as r:
        raw = r.read()
        return json.loads(raw) if raw else None
email, pw = "ab@example.com", "a-long-bench-password-1"
call(f"http://127.0.0.1:{ka}/admin/identities", "POST", {"schema_id": "default",
     "traits": {"email": email}, "credentials": {"password": {"config": {"password": pw}}}})
flow = call(f"http://127.0.0.1:{kp}/self-service/login/api")
done = call(f"http://127.0.0.1:{kp}/self-service/login?flow={flow['id']}", "POST",
            {"method": "password", "identifier": email, "password": pw})
call(f"http://127.0.0.1:{wp}/admin/relation-tuples", "PUT",
     {"namespace": "Doc", "object": "readme", "relation": "viewers", "subject_id": "alice"})
client = call(f"http://127.0.0.1:{ha}/admin/clients", "POST",
              {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"})
print(done["session_token"], client["client_id"], client["client_secret"])
EOF
)
    read -r token client secret <<<"$seeds"
    local check="http://127.0.0.1:$rp/relation-tuples/check?namespace=Doc&object=readme&relation=viewers&subject_id=alice"
    local whoami="http://127.0.0.1:$kp/sessions/whoami"
    local tok="http://127.0.0.1:$hp/oauth2/token"
    local basic
    basic=$(printf '%s:%s' "$client" "$secret" | base64 -w0)
    local proxy="http://127.0.0.1:$px/open/x"
    local access
    access=$(curl -s -X POST -H "Authorization: Basic $basic" -d grant_type=client_credentials "$tok" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
    cat >"$WORK/introspect.lua" <<EOF
wrk.method = "POST"
wrk.body = "token=$access"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
EOF
    local introspect="http://127.0.0.1:$ha/admin/oauth2/introspect"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$proxy")" = 200 ] || { echo "proxy not 200" >&2; exit 1; }
    wrk -t2 -c64 -d"$WARMUP" "$proxy" >/dev/null
    local r_floor r_whoami r_check r_token r_introspect r_proxy
    r_floor=$(rps -d"$DURATION" "http://127.0.0.1:$UP/")
    r_whoami=$(rps -d"$DURATION" -H "X-Session-Token: $token" "$whoami")
    r_check=$(rps -d"$DURATION" "$check")
    r_token=$(rps -d"$DURATION" -s "$WORK/token.lua" -H "Authorization: Basic $basic" "$tok")
    r_introspect=$(rps -d"$DURATION" -s "$WORK/introspect.lua" "$introspect")
    r_proxy=$(rps -d"$DURATION" "$proxy")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$tag floor=$r_floor whoami=$r_whoami check=$r_check token=$r_token introspect=$r_introspect proxy=$r_proxy" | tee -a "$WORK/runs.txt"
}

# The order alternates too: the second binary of a pair tends to read a little faster.
for i in $(seq 1 "$ROUNDS"); do
    if [ $((i % 2)) = 1 ]; then
        run "$OLD" old
        run "$NEW" new
    else
        run "$NEW" new
        run "$OLD" old
    fi
done

python3 - "$WORK/runs.txt" <<'EOF'
import statistics, sys
runs = {"old": [], "new": []}
for line in open(sys.argv[1]):
    tag, *pairs = line.split()
    runs[tag].append({k: float(v) for k, v in (p.split("=") for p in pairs)})
def med(tag, key): return statistics.median(r[key] for r in runs[tag])
print("\n| path | OLD req/s (÷ floor) | NEW req/s (÷ floor) | NEW / OLD |")
print("|---|---|---|---|")
for key in ["floor", "whoami", "check", "token", "introspect", "proxy"]:
    o, n = med("old", key), med("new", key)
    fo, fn = med("old", "floor"), med("new", "floor")
    print(f"| {key} | {o:,.0f} ({o/fo:.2f}) | {n:,.0f} ({n/fn:.2f}) | {n/o:.3f} |")
EOF
