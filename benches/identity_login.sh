#!/usr/bin/env bash
# Identity role benchmark (issue 4, "Performance"): password login and registration throughput
# through the HTTP API (native flows: GET /self-service/{login,registration}/api, then the POST)
# against the release binary, with Kratos' default hashers — bcrypt cost 12 and argon2id
# (128 MB, 1 iteration, parallelism 2 × CPUs) — next to the raw hash rate of the same
# parameters on the same machine (`cargo bench --bench identity_password`, run first).
# The overhead of a login over its hash is 1 − (logins/s ÷ raw verifies/s).
#
# Usage: benches/identity_login.sh          (builds target/release/quartet if missing)
#   QUARTET_BIN=path  use that binary       DURATION=20  seconds per case
#   CONCURRENCY=8  clients in flight        RAW_RATES="bcrypt:V:H argon2id:V:H"  skip the
#                                           raw-rate bench and use these verify/hash rates
# Needs: python3, curl. SQLite file database. Prints a Markdown table.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${QUARTET_BIN:-$ROOT/target/release/quartet}
DURATION=${DURATION:-20}
CONCURRENCY=${CONCURRENCY:-8}

if [ ! -x "$BIN" ]; then
    (cd "$ROOT" && cargo build --release --bin quartet)
fi

WORK=$(mktemp -d)
QPID=
cleanup() {
    [ -n "$QPID" ] && kill "$QPID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

declare -A RAW_VERIFY RAW_HASH
if [ -z "${RAW_RATES:-}" ]; then
    RAW_RATES=$(cd "$ROOT" && cargo bench --bench identity_password 2>/dev/null \
        | awk -F'|' '/^\| (bcrypt|argon2id) / {gsub(/ /,"",$2); gsub(/ /,"",$4); gsub(/ /,"",$5); printf "%s:%s:%s ", $2, $4, $5}')
fi
for r in $RAW_RATES; do
    IFS=: read -r name v h <<<"$r"
    RAW_VERIFY[$name]=$v
    RAW_HASH[$name]=$h
done

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() { # hashers-yaml
    KP=$(free_port); KA=$(free_port)
    rm -f "$WORK"/db.sqlite*
    cat >"$WORK/quartet.yml" <<EOF
dsn: sqlite://$WORK/db.sqlite
log: { level: warn }
identity:
  serve:
    public: { host: 127.0.0.1, port: $KP }
    admin: { host: 127.0.0.1, port: $KA }
  selfservice:
    default_browser_return_url: http://app.test/
    allowed_return_urls: [http://app.test/]
  identity:
    default_schema_id: default
    schemas: [ { id: default, url: "file://$ROOT/src/config/default_identity.schema.json" } ]
  hashers: $1
  quartet:
    brute_force: { enabled: false }
EOF
    "$BIN" serve identity -c "$WORK/quartet.yml" >"$WORK/quartet.log" 2>&1 &
    QPID=$!
    for _ in $(seq 1 200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$KP/health/ready" || true)" = 200 ] && return 0
        sleep 0.05
    done
    echo "not ready" >&2; cat "$WORK/quartet.log" >&2; exit 1
}

stop() {
    kill "$QPID"; wait "$QPID" 2>/dev/null || true; QPID=
}

# Prints "logins/s registrations/s" for the running server.
load() {
    python3 - "$KP" "$KA" "$DURATION" "$CONCURRENCY" <<'EOF'
import http.client, json, sys, threading, time, uuid
public, admin, duration, concurrency = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
PW = "a-long-bench-password-1"

def post(conn, path, body):
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", "Accept": "application/json"})
    r = conn.getresponse(); data = r.read()
    return r.status, data

def flow(conn, kind):
    conn.request("GET", f"/self-service/{kind}/api"); r = conn.getresponse()
    return json.loads(r.read())["id"]

def login(conn, email):
    status, data = post(conn, f"/self-service/login?flow={flow(conn, 'login')}",
                        {"method": "password", "identifier": email, "password": PW})
    assert status == 200, (status, data[:300])

def register(conn, email):
    status, data = post(conn, f"/self-service/registration?flow={flow(conn, 'registration')}",
                        {"method": "password", "traits": {"email": email}, "password": PW})
    assert status == 200, (status, data[:300])

def run(op, make_arg):
    count, stop, errors = [0], [False], []
    lock = threading.Lock()
    def worker(i):
        conn = http.client.HTTPConnection("127.0.0.1", public, timeout=120)
        n = 0
        while not stop[0]:
            try:
                op(conn, make_arg(i, n))
            except Exception as e:
                errors.append(repr(e)); return
            n += 1
            with lock: count[0] += 1
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    start = time.monotonic()
    for t in threads: t.start()
    time.sleep(duration)
    stop[0] = True
    for t in threads: t.join()
    if errors: sys.exit(f"errors: {errors[:3]}")
    return count[0] / (time.monotonic() - start)

# One user per client for logins (created over the admin API, hashed with the same hasher).
a = http.client.HTTPConnection("127.0.0.1", admin, timeout=120)
for i in range(concurrency):
    status, data = post(a, "/admin/identities", {"schema_id": "default", "traits": {"email": f"u{i}@bench.test"},
                                               "credentials": {"password": {"config": {"password": PW}}}})
    assert status == 201, (status, data[:300])
logins = run(login, lambda i, n: f"u{i}@bench.test")
registrations = run(register, lambda i, n: f"r{i}-{n}-{uuid.uuid4().hex[:8]}@bench.test")
print(f"{logins:.2f} {registrations:.2f}")
EOF
}

pct() { python3 -c "import sys; print(round(100*(1-float(sys.argv[1])/float(sys.argv[2])),1))" "$1" "$2"; }

ROWS=()
for hasher in bcrypt argon2id; do
    case $hasher in
        bcrypt) start "{ algorithm: bcrypt, bcrypt: { cost: 12 } }" ;;
        argon2id) start "{ algorithm: argon2 }" ;;
    esac
    read -r LOGINS REGS < <(load)
    stop
    v=${RAW_VERIFY[$hasher]:-}; h=${RAW_HASH[$hasher]:-}
    ROWS+=("| $hasher | $LOGINS | ${v:-?} | ${v:+$(pct "$LOGINS" "$v") %} | $REGS | ${h:-?} | ${h:+$(pct "$REGS" "$h") %} |")
done

echo
echo "$CONCURRENCY clients, ${DURATION} s per case; $(nproc) CPUs; $(uname -sr); SQLite file"
echo
echo "| hasher | logins/s | raw verify/s | login overhead | registrations/s | raw hash/s | registration overhead |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
