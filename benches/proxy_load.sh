#!/usr/bin/env bash
# Proxy role benchmark (issue 6, "Performance"): one run, one machine, loopback, wrk with 64
# connections against
#   (a) a fast upstream directly (nginx `return 200`),
#   (b) nginx as a plain reverse proxy to it (keepalive upstream),
#   (c) Quartet's proxy (release binary), rule noop/allow/noop,
#   (d) Quartet's proxy, rule cookie_session + header mutator, the session checked by the
#       identity role of the same process (in-process fast path),
#   (e) nginx `auth_request` to Quartet's decision API (same cookie_session + header rule),
#   (f) as (d), with cookie_session's opt-in session cache (`config.cache`, ttl 5s),
# then the resident memory (peak VmRSS, sampled every 50 ms) of the Quartet process while it
# streams a 1 GiB request body up and a 1 GiB response body down.
#
# Usage: benches/proxy_load.sh            (builds target/release/quartet if missing)
#   QUARTET_BIN=path  use that binary      DURATION=10s  per wrk run (default 10s)
#   THREADS=2  wrk threads                 CONNECTIONS=64
# Needs: nginx (/usr/sbin/nginx), wrk, curl, python3. Prints a Markdown table.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${QUARTET_BIN:-$ROOT/target/release/quartet}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

for tool in "$NGINX" wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
if [ ! -x "$BIN" ]; then
    (cd "$ROOT" && cargo build --release --bin quartet)
fi

. "$ROOT/benches/lib.sh" # WORK (nginx's workers serve big.bin from it), PIDS, free_port

wait_http() { # url [status]
    for _ in $(seq 1 200); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)
        [ "$code" = "${2:-200}" ] && return 0
        sleep 0.05
    done
    echo "not ready: $1 (last status $code)" >&2
    exit 1
}

UP=$(free_port); NGX=$(free_port); AUTHNGX=$(free_port)
PX=$(free_port); API=$(free_port); PROM=$(free_port); KP=$(free_port); KA=$(free_port)

# ---- nginx instances -------------------------------------------------------------------------
nginx_start() { # name workers server-block
    local dir=$WORK/$1
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes $2;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fcgi;
    uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
    $3
}
EOF
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" &
    PIDS+=($!)
}

truncate -s 1G "$WORK/big.bin"
nginx_start upstream 1 "
    server {
        listen 127.0.0.1:$UP;
        client_max_body_size 0;
        location = /big.bin { root $WORK; }
        location / { return 200 'ok'; }
    }"
nginx_start proxy 2 "
    upstream up { server 127.0.0.1:$UP; keepalive 64; }
    server {
        listen 127.0.0.1:$NGX;
        location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
    }"
nginx_start authreq 2 "
    upstream up { server 127.0.0.1:$UP; keepalive 64; }
    upstream decisions { server 127.0.0.1:$API; keepalive 64; }
    server {
        listen 127.0.0.1:$AUTHNGX;
        location / {
            auth_request /_oathkeeper;
            auth_request_set \$user_id \$upstream_http_x_user_id;
            proxy_set_header X-User-Id \$user_id;
            proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\";
        }
        location = /_oathkeeper {
            internal;
            proxy_pass http://decisions/decisions;
            proxy_http_version 1.1;
            proxy_pass_request_body off;
            proxy_set_header Content-Length \"\";
            proxy_set_header Connection \"\";
            proxy_set_header X-Forwarded-Method \$request_method;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$http_host;
            proxy_set_header X-Forwarded-Uri \$request_uri;
        }
    }"

# ---- Quartet: identity + proxy in one process -------------------------------------------------
cat >"$WORK/rules.json" <<EOF
[
  {"id": "open", "match": {"url": "http://<[^/]+>/open/<.*>", "methods": ["GET", "POST", "PUT"]},
   "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"},
   "mutators": [{"handler": "noop"}], "upstream": {"url": "http://127.0.0.1:$UP"}},
  {"id": "session", "match": {"url": "http://<[^/]+>/me/<.*>", "methods": ["GET"]},
   "authenticators": [{"handler": "cookie_session"}], "authorizer": {"handler": "allow"},
   "mutators": [{"handler": "header"}], "upstream": {"url": "http://127.0.0.1:$UP"}},
  {"id": "session-cached", "match": {"url": "http://<[^/]+>/cached/<.*>", "methods": ["GET"]},
   "authenticators": [{"handler": "cookie_session", "config": {"cache": {"enabled": true, "ttl": "5s"}}}],
   "authorizer": {"handler": "allow"},
   "mutators": [{"handler": "header"}], "upstream": {"url": "http://127.0.0.1:$UP"}}
]
EOF
cat >"$WORK/quartet.yml" <<EOF
dsn: memory
log: { level: warn }
identity:
  serve:
    public: { host: 127.0.0.1, port: $KP }
    admin: { host: 127.0.0.1, port: $KA }
  selfservice:
    default_browser_return_url: http://app.test/
    allowed_return_urls: [http://app.test/]
  hashers: { bcrypt: { cost: 4 } }
proxy:
  serve:
    proxy: { host: 127.0.0.1, port: $PX }
    api: { host: 127.0.0.1, port: $API }
    prometheus: { host: 127.0.0.1, port: $PROM }
  access_rules: { repositories: [ "file://$WORK/rules.json" ] }
  authenticators:
    noop: { enabled: true }
    cookie_session:
      enabled: true
      config:
        check_session_url: http://127.0.0.1:$KP/sessions/whoami
        preserve_path: true
        extra_from: "@this"
        subject_from: identity.id
        only: [ ory_kratos_session ]
  authorizers: { allow: { enabled: true } }
  mutators:
    noop: { enabled: true }
    header:
      enabled: true
      config:
        headers:
          X-User-Id: "{{ print .Subject }}"
          X-User-Email: "{{ if .Extra.identity }}{{ print .Extra.identity.traits.email }}{{ end }}"
EOF
"$BIN" serve identity proxy --dev -c "$WORK/quartet.yml" >"$WORK/quartet.log" 2>&1 &
QPID=$!
PIDS+=($QPID)

wait_http "http://127.0.0.1:$UP/"
wait_http "http://127.0.0.1:$NGX/"
wait_http "http://127.0.0.1:$API/health/ready"
wait_http "http://127.0.0.1:$KP/health/ready"
wait_http "http://127.0.0.1:$PX/open/"

# A user and a browser session (registration then browser login, as a browser would).
COOKIE=$(python3 - "$KA" "$KP" <<'EOF'
import json, sys, urllib.request, urllib.parse, http.client
admin, public = sys.argv[1], sys.argv[2]
email, pw = "bench@example.com", "a-long-bench-password-1"
req = urllib.request.Request(f"http://127.0.0.1:{admin}/admin/identities", method="POST",
    data=json.dumps({"schema_id": "default", "traits": {"email": email},
        "credentials": {"password": {"config": {"password": pw}}}}).encode(),
    headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
c = http.client.HTTPConnection("127.0.0.1", int(public))
c.request("GET", "/self-service/login/browser"); r = c.getresponse(); r.read()
csrf_cookie = r.getheader("set-cookie").split(";")[0]
flow = r.getheader("location").split("flow=")[1]
c.request("GET", f"/self-service/login/flows?id={flow}", headers={"Cookie": csrf_cookie})
r = c.getresponse(); f = json.loads(r.read())
csrf = next(n["attributes"]["value"] for n in f["ui"]["nodes"] if n["attributes"].get("name") == "csrf_token")
body = urllib.parse.urlencode({"method": "password", "identifier": email, "password": pw, "csrf_token": csrf})
c.request("POST", f"/self-service/login?flow={flow}", body=body,
    headers={"Cookie": csrf_cookie, "Content-Type": "application/x-www-form-urlencoded"})
r = c.getresponse(); r.read()
for k, v in r.getheaders():
    if k.lower() == "set-cookie" and v.startswith("ory_kratos_session="):
        print(v.split(";")[0]); break
else:
    sys.exit(f"login failed: {r.status}")
EOF
)
check() { # url expected-status [cookie]
    code=$(curl -s -o /dev/null -w '%{http_code}' ${3:+-H "Cookie: $3"} "$1")
    [ "$code" = "$2" ] || { echo "sanity check failed: $1 → $code (want $2)" >&2; exit 1; }
}
check "http://127.0.0.1:$PX/me/x" 401
check "http://127.0.0.1:$PX/me/x" 200 "$COOKIE"
check "http://127.0.0.1:$AUTHNGX/me/x" 401
check "http://127.0.0.1:$AUTHNGX/me/x" 200 "$COOKIE"
check "http://127.0.0.1:$PX/cached/x" 401
check "http://127.0.0.1:$PX/cached/x" 200 "$COOKIE"

# ---- load ------------------------------------------------------------------------------------
to_ms() { # wrk latency like 812.00us / 1.23ms / 2.00s → ms
    python3 -c "import sys,re; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v); n=float(m[1]); print(round(n/1000 if m[2]=='us' else n*1000 if m[2]=='s' else n, 3))" "$1"
}
declare -A RPS P50 P99
run() { # label url [cookie]
    local out
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency ${3:+-H "Cookie: $3"} "$2")
    echo "$out" >"$WORK/wrk-$1.txt"
    if echo "$out" | grep -q 'Non-2xx'; then echo "non-2xx answers in run $1:" >&2; echo "$out" >&2; exit 1; fi
    RPS[$1]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    P50[$1]=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
    P99[$1]=$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
}
run a "http://127.0.0.1:$UP/open/x"
run b "http://127.0.0.1:$NGX/open/x"
run c "http://127.0.0.1:$PX/open/x"
run d "http://127.0.0.1:$PX/me/x" "$COOKIE"
run e "http://127.0.0.1:$AUTHNGX/me/x" "$COOKIE"
run f "http://127.0.0.1:$PX/cached/x" "$COOKIE"

# ---- memory while streaming 1 GiB each way ---------------------------------------------------
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$QPID/status"; }
peak_while() { # command...: runs it, prints the peak VmRSS (KiB) seen meanwhile
    local peak cur
    peak=$(rss_kib)
    "$@" &
    local job=$!
    while kill -0 "$job" 2>/dev/null; do
        cur=$(rss_kib); [ "$cur" -gt "$peak" ] && peak=$cur
        sleep 0.05
    done
    wait "$job"
    echo "$peak"
}
IDLE=$(rss_kib)
upload() {
    head -c 1073741824 /dev/zero | curl -sS -o /dev/null -w '%{http_code} %{size_upload}\n' \
        -X PUT -T - "http://127.0.0.1:$PX/open/upload" >"$WORK/upload.txt"
}
PEAK_UP=$(peak_while upload)
# The download goes through a rule whose upstream path is /big.bin: strip /open.
python3 - "$WORK/rules.json" "$UP" <<'EOF'
import json, sys
path, up = sys.argv[1], sys.argv[2]
rules = json.load(open(path))
rules.append({"id": "big", "match": {"url": "http://<[^/]+>/files/big.bin", "methods": ["GET"]},
  "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"},
  "mutators": [{"handler": "noop"}],
  "upstream": {"url": f"http://127.0.0.1:{up}", "strip_path": "/files"}})
json.dump(rules, open(path, "w"))
EOF
sleep 1 # the rule file is watched (250 ms)
download_big() {
    curl -sS -o /dev/null -w '%{http_code} %{size_download}\n' \
        "http://127.0.0.1:$PX/files/big.bin" >"$WORK/download.txt"
}
PEAK_DOWN=$(peak_while download_big)

# ---- report ----------------------------------------------------------------------------------
pct() { python3 -c "import sys; print(round(100*float(sys.argv[1])/float(sys.argv[2]),1))" "$1" "$2"; }
sub() { python3 -c "import sys; print(round(float(sys.argv[1])-float(sys.argv[2]),3))" "$1" "$2"; }
echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency; $(nproc) CPUs; $(uname -sr); nginx $("$NGINX" -v 2>&1 | sed 's/.*\///')"
echo
echo "| case | req/s | p50 ms | p99 ms | vs (b) | p99 added over (a) |"
echo "|---|---|---|---|---|---|"
for k in a b c d e f; do
    name=$(case $k in
        a) echo "(a) upstream direct";;
        b) echo "(b) nginx reverse proxy";;
        c) echo "(c) Quartet proxy noop/allow/noop";;
        d) echo "(d) Quartet proxy cookie_session + header (in-process identity)";;
        e) echo "(e) nginx auth_request → Quartet /decisions (cookie_session + header)";;
        f) echo "(f) as (d), with cookie_session's session cache (ttl 5s, opt-in)";;
    esac)
    echo "| $name | ${RPS[$k]} | ${P50[$k]} | ${P99[$k]} | $(pct "${RPS[$k]}" "${RPS[b]}") % | $(sub "${P99[$k]}" "${P99[a]}") |"
done
echo
echo "Quartet VmRSS: idle after the load runs $((IDLE / 1024)) MiB; peak while streaming 1 GiB up $((PEAK_UP / 1024)) MiB ($(cat "$WORK/upload.txt")); 1 GiB down $((PEAK_DOWN / 1024)) MiB ($(cat "$WORK/download.txt"))"
