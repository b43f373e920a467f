#!/usr/bin/env bash
# oauth2 role benchmark (issue 5, "Performance"): one run, one machine, loopback, wrk with 64
# connections against Quartet's release binary (`quartet serve oauth2`) and, side by side,
# `oidc-provider` from npm (OpenID-certified, Node.js), measuring
#   (1) client_credentials token issuance, client_secret_basic, opaque access tokens;
#   (2) the same with JWT access tokens (Quartet: `strategies.access_token: jwt`, RS256 with the
#       4096-bit key Quartet generates as Hydra does; oidc-provider: a resource server with
#       `accessTokenFormat: jwt`, RS256 with a 4096-bit key);
#   (3) introspection of an opaque token (Quartet: `POST /admin/oauth2/introspect` on the admin
#       port; oidc-provider: `POST /token/introspection`, which requires client authentication).
# Quartet runs on a SQLite file (WAL) and, when TEST_DATABASE_URL is set, on PostgreSQL (a
# scratch database created for the run and dropped at exit). oidc-provider is installed with npm
# into the run's temp dir (never vendored), runs as one Node process (NODE_ENV=production) and
# uses its built-in storage (an in-process LRU of 1000 entries: nothing is written to a
# database, which favours it) and, when TEST_DATABASE_URL is set, also a minimal PostgreSQL
# adapter (one table, the `pg` npm package) in the same scratch database.
#
# Every endpoint is checked once with curl (200 and the expected JSON) before wrk loads it; a run
# that saw a non-2xx answer or a socket error fails. Prints a Markdown table with the
# Quartet / oidc-provider throughput ratio and the issue's targets (met or missed).
#
# Usage: benches/oauth2_load.sh            (builds target/release/quartet if missing)
#   QUARTET_BIN=path  use that binary      DURATION=10s  per wrk run (default 10s)
#   THREADS=2  wrk threads                 CONNECTIONS=64
#   WARMUP=3s  an unrecorded wrk run before each measured one (0: none; lets node's JIT and
#              both servers' pools and caches warm up)
#   WRK_TIMEOUT=10s
#   OIDC_PROVIDER_VERSION=8.8.1  the npm version: the newest release whose supported runtimes include
#              Node 20 (9.x asks for Node 22 LTS and warns "Unsupported runtime" on 20)
#   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres   adds the PostgreSQL rows
# Needs: wrk, curl, python3, node (>= 20) and npm (the npm registry reachable); psql for Postgres.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${QUARTET_BIN:-$ROOT/target/release/quartet}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
WARMUP=${WARMUP:-3s}
OP_VERSION=${OIDC_PROVIDER_VERSION:-8.8.1}
PG_NPM_VERSION=${PG_NPM_VERSION:-8.23.1}
PG_URL=${TEST_DATABASE_URL:-}

need=(wrk curl python3 node npm)
if [ -n "$PG_URL" ]; then need+=(psql); fi
for tool in "${need[@]}"; do
    command -v "$tool" >/dev/null || { echo "oauth2_load.sh: missing: $tool" >&2; exit 1; }
done
if [ ! -x "$BIN" ]; then
    (cd "$ROOT" && cargo build --release --bin quartet)
fi

WORK=$(mktemp -d)
PIDS=()
PG_DB=""
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$PG_DB" ]; then
        psql -q -X "$PG_URL" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 \
            || echo "oauth2_load.sh: could not drop the scratch database $PG_DB" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

die() { echo "oauth2_load.sh: $*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url [tries of 50 ms]
    local code=000
    for _ in $(seq 1 "${2:-400}"); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)
        [ "$code" = 200 ] && return 0
        sleep 0.05
    done
    die "not ready: $1 (last status $code)"
}

basic() { # client_id secret → the client_secret_basic header value (RFC 6749 2.3.1: form-encoded, then base64)
    python3 -c 'import base64,sys,urllib.parse as u; q=lambda s:u.quote_plus(s); print("Basic "+base64.b64encode(f"{q(sys.argv[1])}:{q(sys.argv[2])}".encode()).decode())' "$1" "$2"
}

post_lua() { # file body [authorization]: a wrk script sending one form POST
    {
        echo 'wrk.method = "POST"'
        echo "wrk.body = \"$2\""
        echo 'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"'
        echo 'wrk.headers["Accept"] = "application/json"'
        if [ -n "${3:-}" ]; then echo "wrk.headers[\"Authorization\"] = \"$3\""; fi
    } >"$1"
}

# check name url body authorization python-assertion: one POST with curl, 200 and JSON the
# assertion accepts (it sees the parsed body as `j`); prints the JSON.
check() {
    local out code
    out=$(curl -sS --max-time 120 -o "$WORK/check-$1.json" -w '%{http_code}' -X POST "$2" \
        -H 'Content-Type: application/x-www-form-urlencoded' -H 'Accept: application/json' \
        ${4:+-H "Authorization: $4"} --data "$3") || die "check $1: curl failed"
    code=$out
    [ "$code" = 200 ] || die "check $1: $2 answered $code, want 200: $(cat "$WORK/check-$1.json")"
    python3 - "$WORK/check-$1.json" "$5" <<'EOF' || die "check $1: unexpected JSON: $(cat "$WORK/check-$1.json")"
import json, sys
j = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2], {"j": j})
sys.exit(0 if ok else 1)
EOF
    cat "$WORK/check-$1.json"
}

json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

to_ms() { # wrk latency like 812.00us / 1.23ms / 2.00s → ms
    python3 -c "import sys,re; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v); n=float(m[1]); print(round(n/1000 if m[2]=='us' else n*1000 if m[2]=='s' else n, 3))" "$1"
}

RESULTS=$WORK/results.tsv
: >"$RESULTS"
run() { # key url lua: a warm-up, then one measured wrk run; fails on non-2xx answers and socket errors
    local out rps p50 p99
    if [ "$WARMUP" != 0 ]; then
        out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" --timeout "$WRK_TIMEOUT" -s "$3" "$2")
        if echo "$out" | grep -qE 'Non-2xx|Socket errors'; then
            echo "$out" >&2
            die "warm-up of $1 saw non-2xx answers or socket errors"
        fi
    fi
    echo "== $1: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --timeout $WRK_TIMEOUT --latency -s $(basename "$3") $2" >&2
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout "$WRK_TIMEOUT" --latency -s "$3" "$2")
    echo "$out" >"$WORK/wrk-$1.txt"
    if echo "$out" | grep -qE 'Non-2xx|Socket errors'; then
        echo "$out" >&2
        die "run $1 saw non-2xx answers or socket errors"
    fi
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
    p99=$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
    printf '%s\t%s\t%s\t%s\n' "$1" "$rps" "$p50" "$p99" >>"$RESULTS"
    echo "   $rps req/s, p50 $p50 ms, p99 $p99 ms" >&2
}

# ---- Quartet ---------------------------------------------------------------------------------
QPID=""
QSECRET="oauth2-load-bench-system-secret-$RANDOM$RANDOM$RANDOM" # one for every instance on a database
quartet_start() { # backend strategy dsn → sets QPUB QADM
    QPUB=$(free_port); QADM=$(free_port)
    cat >"$WORK/quartet-$1-$2.yml" <<EOF
dsn: $3
log: { level: warn }
oauth2:
  serve:
    public: { host: 127.0.0.1, port: $QPUB }
    admin: { host: 127.0.0.1, port: $QADM }
  urls:
    self: { issuer: "http://127.0.0.1:$QPUB/" }
  secrets:
    system: [ "$QSECRET" ]
  strategies:
    access_token: $2
EOF
    "$BIN" serve oauth2 -c "$WORK/quartet-$1-$2.yml" >"$WORK/quartet-$1-$2.log" 2>&1 &
    QPID=$!
    PIDS+=("$QPID")
    wait_http "http://127.0.0.1:$QPUB/health/ready"
    wait_http "http://127.0.0.1:$QADM/health/ready"
}
quartet_stop() {
    kill "$QPID" 2>/dev/null || true
    wait "$QPID" 2>/dev/null || true
}
quartet_client() { # → sets QAUTH QCLIENT
    local code
    code=$(curl -sS -o "$WORK/client.json" -w '%{http_code}' -X POST "http://127.0.0.1:$QADM/admin/clients" \
        -H 'Content-Type: application/json' \
        --data '{"client_name":"bench","grant_types":["client_credentials"],"scope":"read write","token_endpoint_auth_method":"client_secret_basic"}')
    [ "$code" = 201 ] || die "POST /admin/clients answered $code: $(cat "$WORK/client.json")"
    QCLIENT=$(json_field "$WORK/client.json" client_id)
    QAUTH=$(basic "$QCLIENT" "$(json_field "$WORK/client.json" client_secret)")
}

quartet_backend() { # backend dsn
    local b=$1 tok
    # (1) opaque tokens, then (3) introspection on the same instance
    quartet_start "$b" opaque "$2"
    quartet_client
    post_lua "$WORK/q-token-$b.lua" "grant_type=client_credentials&scope=read" "$QAUTH"
    check "q-token-opaque-$b" "http://127.0.0.1:$QPUB/oauth2/token" "grant_type=client_credentials&scope=read" "$QAUTH" \
        "j['token_type'].lower()=='bearer' and j['access_token'].startswith('ory_at_') and j['scope']=='read' and j['expires_in']>0" >/dev/null
    run "quartet-token-opaque-$b" "http://127.0.0.1:$QPUB/oauth2/token" "$WORK/q-token-$b.lua"
    check "q-token-sample-$b" "http://127.0.0.1:$QPUB/oauth2/token" "grant_type=client_credentials&scope=read" "$QAUTH" \
        "j['access_token'].startswith('ory_at_')" >/dev/null
    tok=$(json_field "$WORK/check-q-token-sample-$b.json" access_token)
    post_lua "$WORK/q-introspect-$b.lua" "token=$tok"
    check "q-introspect-$b" "http://127.0.0.1:$QADM/admin/oauth2/introspect" "token=$tok" "" \
        "j['active'] is True and j['client_id']=='$QCLIENT' and j['scope']=='read' and j.get('token_use')=='access_token'" >/dev/null
    run "quartet-introspect-$b" "http://127.0.0.1:$QADM/admin/oauth2/introspect" "$WORK/q-introspect-$b.lua"
    quartet_stop
    # (2) JWT access tokens
    quartet_start "$b" jwt "$2"
    quartet_client
    post_lua "$WORK/q-token-jwt-$b.lua" "grant_type=client_credentials&scope=read" "$QAUTH"
    check "q-token-jwt-$b" "http://127.0.0.1:$QPUB/oauth2/token" "grant_type=client_credentials&scope=read" "$QAUTH" \
        "j['token_type'].lower()=='bearer' and j['access_token'].count('.')==2 and j['scope']=='read'" >/dev/null
    run "quartet-token-jwt-$b" "http://127.0.0.1:$QPUB/oauth2/token" "$WORK/q-token-jwt-$b.lua"
    quartet_stop
}

QVERSION=$("$BIN" version 2>&1 | head -1)
quartet_backend sqlite "sqlite://$WORK/oauth2.sqlite"
if [ -n "$PG_URL" ]; then
    PG_DB="quartet_oauth2_bench_$$_$RANDOM"
    psql -q -X -v ON_ERROR_STOP=1 "$PG_URL" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
    PG_DSN=$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$PG_URL" "$PG_DB")
    PG_VERSION=$(psql -X -At "$PG_URL" -c 'SHOW server_version' | cut -d' ' -f1)
    quartet_backend postgres "$PG_DSN"
fi

# ---- oidc-provider ---------------------------------------------------------------------------
echo "== npm install oidc-provider@$OP_VERSION${PG_URL:+ pg@$PG_NPM_VERSION} (into the temp dir)" >&2
mkdir -p "$WORK/op"
echo '{"private": true, "type": "module"}' >"$WORK/op/package.json"
(cd "$WORK/op" && npm install --no-audit --no-fund --loglevel=error "oidc-provider@$OP_VERSION" \
    ${PG_URL:+"pg@$PG_NPM_VERSION"} >"$WORK/op/npm.log" 2>&1) \
    || { cat "$WORK/op/npm.log" >&2; die "npm install failed"; }
OP_SECRET="oidc-provider-bench-secret-$RANDOM$RANDOM$RANDOM"
cat >"$WORK/op/server.js" <<'EOF'
// oidc-provider configured like the Quartet side: two confidential clients
// (client_secret_basic, grant client_credentials, scope "read write"), client_credentials and
// introspection enabled; the "bench-jwt" client gets JWT access tokens (RS256, 4096-bit key)
// through a resource server with accessTokenFormat "jwt" (oidc-provider issues JWT access
// tokens only for resource servers), the "bench" client opaque ones. Storage: the built-in
// in-memory adapter, or with OP_PG set a minimal PostgreSQL adapter (one table, as the
// project's example adapters do; JWT access tokens are never stored by oidc-provider).
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT);
const secret = process.env.OP_SECRET;

let adapter;
if (process.env.OP_PG) {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: process.env.OP_PG, max: 32 });
  await pool.query(`CREATE TABLE IF NOT EXISTS oidc_payloads (
    id text NOT NULL, type text NOT NULL, payload jsonb NOT NULL, grant_id text, user_code text,
    uid text, expires_at timestamptz, consumed_at timestamptz, PRIMARY KEY (id, type))`);
  const one = async (where, args) => {
    const { rows } = await pool.query(`SELECT payload, consumed_at FROM oidc_payloads
      WHERE ${where} AND (expires_at IS NULL OR expires_at > now())`, args);
    if (!rows.length) return undefined;
    const { payload, consumed_at: consumed } = rows[0];
    return consumed ? { ...payload, consumed: Math.floor(consumed.getTime() / 1000) } : payload;
  };
  adapter = class {
    constructor(name) { this.name = name; }
    async upsert(id, payload, expiresIn) {
      await pool.query(`INSERT INTO oidc_payloads (id, type, payload, grant_id, user_code, uid, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, now() + $7 * interval '1 second')
        ON CONFLICT (id, type) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
          user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at`,
      [id, this.name, payload, payload.grantId, payload.userCode, payload.uid, expiresIn ?? null]);
    }
    find(id) { return one('id = $1 AND type = $2', [id, this.name]); }
    findByUserCode(code) { return one('user_code = $1 AND type = $2', [code, this.name]); }
    findByUid(uid) { return one('uid = $1 AND type = $2', [uid, this.name]); }
    async consume(id) {
      await pool.query('UPDATE oidc_payloads SET consumed_at = now() WHERE id = $1 AND type = $2', [id, this.name]);
    }
    async destroy(id) {
      await pool.query('DELETE FROM oidc_payloads WHERE id = $1 AND type = $2', [id, this.name]);
    }
    async revokeByGrantId(grantId) {
      await pool.query('DELETE FROM oidc_payloads WHERE grant_id = $1', [grantId]);
    }
  };
}

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 4096 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', use: 'sig', alg: 'RS256' };
const client = (id) => ({
  client_id: id,
  client_secret: secret,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
  scope: 'read write',
});
const provider = new Provider(`http://127.0.0.1:${port}`, {
  ...(adapter ? { adapter } : {}),
  clients: [client('bench'), client('bench-jwt')],
  scopes: ['openid', 'offline_access', 'read', 'write'],
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, c, oneOf) => (c?.clientId === 'bench-jwt' ? 'urn:bench:api' : oneOf),
      getResourceServerInfo: async () => ({
        scope: 'read write',
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});
provider.listen(port, '127.0.0.1');
EOF

op_backend() { # storage (memory|postgres) [postgres URL]
    local b=$1 url pid tok auth auth_jwt
    local port
    port=$(free_port)
    (cd "$WORK/op" && OP_PORT=$port OP_SECRET=$OP_SECRET OP_PG=${2:-} NODE_ENV=production exec node server.js) \
        >"$WORK/op/server-$b.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_http "http://127.0.0.1:$port/.well-known/openid-configuration"
    url=http://127.0.0.1:$port
    auth=$(basic bench "$OP_SECRET")
    auth_jwt=$(basic bench-jwt "$OP_SECRET")
    post_lua "$WORK/op-token-$b.lua" "grant_type=client_credentials&scope=read" "$auth"
    check "op-token-$b" "$url/token" "grant_type=client_credentials&scope=read" "$auth" \
        "j['token_type'].lower()=='bearer' and '.' not in j['access_token'] and j['scope']=='read' and j['expires_in']>0" >/dev/null
    run "op-token-opaque-$b" "$url/token" "$WORK/op-token-$b.lua"
    # A fresh token (the in-memory LRU keeps 1000 entries), introspected by its own client.
    check "op-token-sample-$b" "$url/token" "grant_type=client_credentials&scope=read" "$auth" "'.' not in j['access_token']" >/dev/null
    tok=$(json_field "$WORK/check-op-token-sample-$b.json" access_token)
    post_lua "$WORK/op-introspect-$b.lua" "token=$tok" "$auth"
    check "op-introspect-$b" "$url/token/introspection" "token=$tok" "$auth" \
        "j['active'] is True and j['client_id']=='bench' and j['scope']=='read'" >/dev/null
    run "op-introspect-$b" "$url/token/introspection" "$WORK/op-introspect-$b.lua"
    if [ "$b" = memory ]; then # JWT tokens are not stored: the storage does not matter
        post_lua "$WORK/op-token-jwt.lua" "grant_type=client_credentials&scope=read" "$auth_jwt"
        check op-token-jwt "$url/token" "grant_type=client_credentials&scope=read" "$auth_jwt" \
            "j['token_type'].lower()=='bearer' and j['access_token'].count('.')==2 and j['scope']=='read'" >/dev/null
        run "op-token-jwt-$b" "$url/token" "$WORK/op-token-jwt.lua"
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
op_backend memory
if [ -n "$PG_URL" ]; then
    op_backend postgres "$PG_DSN"
fi

# ---- report ----------------------------------------------------------------------------------
echo
echo "$(date -u +%Y-%m-%d) · $(nproc) CPUs · $(uname -sr) · wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency after a $WARMUP warm-up (POST bodies from a Lua script) · $QVERSION ($BIN) · oidc-provider $OP_VERSION on node $(node --version) (NODE_ENV=production, one process)${PG_VERSION:+ · PostgreSQL $PG_VERSION, pg@$PG_NPM_VERSION}"
echo
python3 - "$RESULTS" <<'EOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    k, rps, p50, p99 = line.rstrip("\n").split("\t")
    rows[k] = (float(rps), float(p50), float(p99))
backends = [b for b in ("sqlite", "postgres") if f"quartet-token-opaque-{b}" in rows]
names = {"sqlite": "Quartet, SQLite file (WAL)", "postgres": "Quartet, PostgreSQL",
         "memory": "oidc-provider, built-in memory storage", "pgop": "oidc-provider, PostgreSQL adapter"}
cases = [
    ("token-opaque", "client_credentials, opaque access token"),
    ("token-jwt", "client_credentials, JWT access token (RS256 4096)"),
    ("introspect", "introspection of an opaque token"),
]
fmt = lambda v: f"{v:,.0f}"
def op(key, storage):
    return rows.get(f"op-{key}-{storage}")
print("| case | server | req/s | p50 ms | p99 ms | Quartet ÷ oidc-provider (memory) | Quartet ÷ oidc-provider (PostgreSQL) |")
print("|---|---|---|---|---|---|---|")
for key, label in cases:
    for b in backends:
        rps, p50, p99 = rows[f"quartet-{key}-{b}"]
        mem = op(key, "memory")
        pg = op(key, "postgres") if b == "postgres" else None
        r1 = f"{rps / mem[0]:.2f}×" if mem else "—"
        r2 = f"{rps / pg[0]:.2f}×" if pg else "—"
        print(f"| {label} | {names[b]} | {fmt(rps)} | {p50:.2f} | {p99:.2f} | {r1} | {r2} |")
    for storage, name in (("memory", names["memory"]), ("postgres", names["pgop"])):
        r = op(key, storage)
        if r:
            print(f"| {label} | {name} | {fmt(r[0])} | {r[1]:.2f} | {r[2]:.2f} | | |")
print()
print("Targets (issue 5):")
def verdict(ok): return "met" if ok else "**MISSED**"
for b in backends:
    for key, label in cases:
        if key == "token-jwt":
            continue
        q = rows[f"quartet-{key}-{b}"][0]
        line = f"- {label}, {names[b]}: ≥ 3× oidc-provider — {q / op(key, 'memory')[0]:.2f}× its memory storage"
        ok = q / op(key, "memory")[0] >= 3
        print(f"{line} — {verdict(ok)}")
        if b == "postgres" and op(key, "postgres"):
            r = q / op(key, "postgres")[0]
            print(f"  (on the same backend, against oidc-provider's PostgreSQL adapter: {r:.2f}× — {verdict(r >= 3)})")
if "postgres" in backends:
    v = rows["quartet-token-opaque-postgres"][0]
    print(f"- > 5,000 tokens/s on PostgreSQL (opaque) — {fmt(v)}/s — {verdict(v > 5000)}")
    v = rows["quartet-token-jwt-postgres"][0]
    print(f"  (JWT access tokens on PostgreSQL: {fmt(v)}/s — {verdict(v > 5000)})")
else:
    print("- > 5,000 tokens/s on PostgreSQL — not measured (TEST_DATABASE_URL unset)")
for b in backends:
    rps, _, p99 = rows[f"quartet-introspect-{b}"]
    print(f"- > 20,000 introspections/s with p99 < 5 ms, {names[b]} — {fmt(rps)}/s, p99 {p99:.2f} ms — {verdict(rps > 20000 and p99 < 5)}")
EOF
