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
# All servers start first and stay up (idle ones cost nothing); the measured runs are
# interleaved — each Quartet row right next to its oidc-provider counterpart — and the whole
# sequence is repeated ROUNDS times, the table giving the median of the rounds, so that the
# load of other work on a shared machine hits both sides alike. Every endpoint is checked once
# with curl (200 and the expected JSON) before wrk loads it (introspection also after); a wrk
# run that saw a non-2xx answer or a socket error fails the whole run. Prints a Markdown table
# with the Quartet / oidc-provider throughput ratios and the issue's targets (met or missed).
#
# Usage: benches/oauth2_load.sh            (builds target/release/quartet if missing)
#   QUARTET_BIN=path  use that binary      DURATION=10s  per wrk run (default 10s)
#   THREADS=2  wrk threads                 CONNECTIONS=64
#   ROUNDS=3   repetitions of the interleaved sequence (median reported)
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
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3s}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
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
        for db in "$PG_DB" "${PG_DB}_es"; do
            psql -q -X "$PG_URL" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 \
                || echo "oauth2_load.sh: could not drop the scratch database $db" >&2
        done
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
# assertion accepts (it sees the parsed body as `j`); the body is kept in $WORK/check-NAME.json.
check() {
    local code
    code=$(curl -sS --max-time 120 -o "$WORK/check-$1.json" -w '%{http_code}' -X POST "$2" \
        -H 'Content-Type: application/x-www-form-urlencoded' -H 'Accept: application/json' \
        ${4:+-H "Authorization: $4"} --data "$3") || die "check $1: curl failed"
    [ "$code" = 200 ] || die "check $1: $2 answered $code, want 200: $(cat "$WORK/check-$1.json")"
    python3 - "$WORK/check-$1.json" "$5" <<'EOF' || die "check $1: unexpected JSON: $(cat "$WORK/check-$1.json")"
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2], {"j": j}) else 1)
EOF
}

json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

to_ms() { # wrk latency like 812.00us / 1.23ms / 2.00s → ms
    python3 -c "import sys,re; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v); n=float(m[1]); print(round(n/1000 if m[2]=='us' else n*1000 if m[2]=='s' else n, 3))" "$1"
}

RESULTS=$WORK/results.tsv
: >"$RESULTS"
wrk_ok() { # label wrk-output
    if echo "$2" | grep -qE 'Non-2xx|Socket errors'; then
        echo "$2" >&2
        die "$1 saw non-2xx answers or socket errors"
    fi
}
run() { # key round url lua: a warm-up, then one measured wrk run
    local out rps p50 p99
    if [ "$WARMUP" != 0 ]; then
        out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" --timeout "$WRK_TIMEOUT" -s "$4" "$3")
        wrk_ok "the warm-up of $1" "$out"
    fi
    echo "== round $2, $1: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --timeout $WRK_TIMEOUT --latency -s $(basename "$4") $3" >&2
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout "$WRK_TIMEOUT" --latency -s "$4" "$3")
    echo "$out" >"$WORK/wrk-$1-$2.txt"
    wrk_ok "$1 (round $2)" "$out"
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
    p99=$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$rps" "$p50" "$p99" >>"$RESULTS"
    echo "   $rps req/s, p50 $p50 ms, p99 $p99 ms" >&2
}

FORM="grant_type=client_credentials&scope=read"
OPAQUE_OK="j['token_type'].lower()=='bearer' and j['access_token'].count('.')<=1 and j['scope']=='read' and j['expires_in']>0"
JWT_OK="j['token_type'].lower()=='bearer' and j['access_token'].count('.')==2 and j['scope']=='read' and j['expires_in']>0"

# Per server instance: TOKEN_URL[i], INTROSPECT_URL[i], AUTH[i] (for the token endpoint),
# IAUTH[i] (for introspection: empty on Quartet's admin port), CLIENT[i].
declare -A TOKEN_URL INTROSPECT_URL AUTH IAUTH CLIENT ADMIN

# ---- Quartet ---------------------------------------------------------------------------------
QSECRET="oauth2-load-bench-system-secret-$RANDOM$RANDOM$RANDOM" # one for every instance on a database
quartet_start() { # instance strategy dsn
    local pub adm code
    pub=$(free_port); adm=$(free_port)
    cat >"$WORK/$1.yml" <<EOF
dsn: $3
log: { level: warn }
oauth2:
  serve:
    public: { host: 127.0.0.1, port: $pub }
    admin: { host: 127.0.0.1, port: $adm }
  urls:
    self: { issuer: "http://127.0.0.1:$pub/" }
  secrets:
    system: [ "$QSECRET" ]
  strategies:
    access_token: $2
EOF
    "$BIN" serve oauth2 -c "$WORK/$1.yml" >"$WORK/$1.log" 2>&1 &
    PIDS+=("$!")
    wait_http "http://127.0.0.1:$pub/health/ready"
    wait_http "http://127.0.0.1:$adm/health/ready"
    code=$(curl -sS -o "$WORK/client-$1.json" -w '%{http_code}' -X POST "http://127.0.0.1:$adm/admin/clients" \
        -H 'Content-Type: application/json' \
        --data '{"client_name":"bench","grant_types":["client_credentials"],"scope":"read write","token_endpoint_auth_method":"client_secret_basic"}')
    [ "$code" = 201 ] || die "$1: POST /admin/clients answered $code: $(cat "$WORK/client-$1.json")"
    CLIENT[$1]=$(json_field "$WORK/client-$1.json" client_id)
    AUTH[$1]=$(basic "${CLIENT[$1]}" "$(json_field "$WORK/client-$1.json" client_secret)")
    IAUTH[$1]=""
    TOKEN_URL[$1]=http://127.0.0.1:$pub/oauth2/token
    INTROSPECT_URL[$1]=http://127.0.0.1:$adm/admin/oauth2/introspect
    ADMIN[$1]=http://127.0.0.1:$adm
}
es256_keys() { # instance: an ES256 key becomes the newest of the access-token set (signs from now on)
    local code
    code=$(curl -sS -o "$WORK/es256-$1.json" -w '%{http_code}' -X POST "${ADMIN[$1]}/admin/keys/hydra.jwt.access-token" \
        -H 'Content-Type: application/json' --data '{"alg":"ES256","use":"sig","kid":"bench-es256"}')
    [ "$code" = 201 ] || die "$1: POST /admin/keys answered $code: $(cat "$WORK/es256-$1.json")"
}

QVERSION=$("$BIN" version 2>&1 | head -1)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
BACKENDS=(sqlite)
quartet_start q-opaque-sqlite opaque "sqlite://$WORK/opaque.sqlite"
quartet_start q-jwt-sqlite jwt "sqlite://$WORK/jwt.sqlite"
quartet_start q-jwtes-sqlite jwt "sqlite://$WORK/jwtes.sqlite"
es256_keys q-jwtes-sqlite
if [ -n "$PG_URL" ]; then
    BACKENDS+=(postgres)
    PG_DB="quartet_oauth2_bench_$$_$RANDOM"
    psql -q -X -v ON_ERROR_STOP=1 "$PG_URL" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
    PG_DSN=$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$PG_URL" "$PG_DB")
    PG_VERSION=$(psql -X -At "$PG_URL" -c 'SHOW server_version' | cut -d' ' -f1)
    # Both instances share the scratch database (one secret), as instances of one deployment do.
    quartet_start q-opaque-postgres opaque "$PG_DSN"
    quartet_start q-jwt-postgres jwt "$PG_DSN"
    # The ES256 instance rotates its key set: a database of its own.
    PG_DB_ES="${PG_DB}_es"
    psql -q -X -v ON_ERROR_STOP=1 "$PG_URL" -c "CREATE DATABASE \"$PG_DB_ES\"" >/dev/null
    PG_DSN_ES=$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$PG_URL" "$PG_DB_ES")
    quartet_start q-jwtes-postgres jwt "$PG_DSN_ES"
    es256_keys q-jwtes-postgres
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

op_start() { # instance [postgres URL]: instance op-opaque-STORAGE, and op-jwt-STORAGE on the same server
    local port jwt=${1/op-opaque/op-jwt}
    port=$(free_port)
    (cd "$WORK/op" && OP_PORT=$port OP_SECRET=$OP_SECRET OP_PG=${2:-} NODE_ENV=production exec node server.js) \
        >"$WORK/$1.log" 2>&1 &
    PIDS+=("$!")
    wait_http "http://127.0.0.1:$port/.well-known/openid-configuration"
    CLIENT[$1]=bench
    AUTH[$1]=$(basic bench "$OP_SECRET")
    IAUTH[$1]=${AUTH[$1]} # introspected by the client the token was issued to
    TOKEN_URL[$1]=http://127.0.0.1:$port/token
    INTROSPECT_URL[$1]=http://127.0.0.1:$port/token/introspection
    CLIENT[$jwt]=bench-jwt
    AUTH[$jwt]=$(basic bench-jwt "$OP_SECRET")
    TOKEN_URL[$jwt]=${TOKEN_URL[$1]}
}
op_start op-opaque-memory
if [ -n "$PG_URL" ]; then
    op_start op-opaque-postgres "$PG_DSN"
fi

# ---- the measured runs -----------------------------------------------------------------------
token_case() { # result-key instance round ok-expression
    post_lua "$WORK/$1.lua" "$FORM" "${AUTH[$2]}"
    check "$1" "${TOKEN_URL[$2]}" "$FORM" "${AUTH[$2]}" "$4"
    run "$1" "$3" "${TOKEN_URL[$2]}" "$WORK/$1.lua"
}
introspect_case() { # result-key instance round: a fresh token (oidc-provider's LRU keeps 1000 entries)
    local tok ok
    check "$1-token" "${TOKEN_URL[$2]}" "$FORM" "${AUTH[$2]}" "$OPAQUE_OK"
    tok=$(json_field "$WORK/check-$1-token.json" access_token)
    ok="j['active'] is True and j['client_id']=='${CLIENT[$2]}' and j['scope']=='read'"
    post_lua "$WORK/$1.lua" "token=$tok" "${IAUTH[$2]}"
    check "$1" "${INTROSPECT_URL[$2]}" "token=$tok" "${IAUTH[$2]}" "$ok"
    run "$1" "$3" "${INTROSPECT_URL[$2]}" "$WORK/$1.lua"
    check "$1" "${INTROSPECT_URL[$2]}" "token=$tok" "${IAUTH[$2]}" "$ok" # still active after the load
}
for round in $(seq 1 "$ROUNDS"); do
    for b in "${BACKENDS[@]}"; do
        token_case "quartet-token-opaque-$b" "q-opaque-$b" "$round" "$OPAQUE_OK"
        if [ "$b" = sqlite ]; then token_case op-token-opaque-memory op-opaque-memory "$round" "$OPAQUE_OK"; fi
        if [ "$b" = postgres ]; then token_case op-token-opaque-postgres op-opaque-postgres "$round" "$OPAQUE_OK"; fi
    done
    for b in "${BACKENDS[@]}"; do
        introspect_case "quartet-introspect-$b" "q-opaque-$b" "$round"
        if [ "$b" = sqlite ]; then introspect_case op-introspect-memory op-opaque-memory "$round"; fi
        if [ "$b" = postgres ]; then introspect_case op-introspect-postgres op-opaque-postgres "$round"; fi
    done
    for b in "${BACKENDS[@]}"; do
        token_case "quartet-token-jwt-$b" "q-jwt-$b" "$round" "$JWT_OK"
        token_case "quartet-token-jwtes-$b" "q-jwtes-$b" "$round" "$JWT_OK"
        # oidc-provider never stores JWT access tokens: one row, whatever the storage
        if [ "$b" = sqlite ]; then token_case op-token-jwt-memory op-jwt-memory "$round" "$JWT_OK"; fi
    done
done

# ---- report ----------------------------------------------------------------------------------
echo
echo "$(date -u +%Y-%m-%d) · $(nproc) CPUs · $(uname -sr) · load average before the run $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg) · $ROUNDS round(s) of wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, each after a $WARMUP warm-up (POST bodies from a Lua script) · $QVERSION ($BIN) · oidc-provider $OP_VERSION on node $(node --version) (NODE_ENV=production, one process)${PG_VERSION:+ · PostgreSQL $PG_VERSION, pg@$PG_NPM_VERSION}"
echo
python3 - "$RESULTS" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    k, _round, rps, p50, p99 = line.rstrip("\n").split("\t")
    runs.setdefault(k, []).append((float(rps), float(p50), float(p99)))
med = lambda xs: statistics.median(xs)
rows = {k: (med([r[0] for r in v]), med([r[1] for r in v]), med([r[2] for r in v]),
            min(r[0] for r in v), max(r[0] for r in v), len(v)) for k, v in runs.items()}
backends = [b for b in ("sqlite", "postgres") if f"quartet-token-opaque-{b}" in rows]
names = {"sqlite": "Quartet, SQLite file (WAL)", "postgres": "Quartet, PostgreSQL",
         "memory": "oidc-provider, built-in memory storage", "pgop": "oidc-provider, PostgreSQL adapter"}
cases = [
    ("token-opaque", "client_credentials, opaque access token"),
    ("token-jwt", "client_credentials, JWT access token (RS256 4096)"),
    ("token-jwtes", "client_credentials, JWT access token (ES256 key in the set)"),
    ("introspect", "introspection of an opaque token"),
]
n = next(iter(rows.values()))[5]
fmt = lambda v: f"{v:,.0f}"
spread = lambda r: f" ({fmt(r[3])}–{fmt(r[4])})" if r[5] > 1 else ""
def op(key, storage):
    return rows.get(f"op-{key}-{storage}")
print(f"Median of {n} interleaved round(s) per row (req/s: median, then min–max over the rounds; p50 and p99: medians).")
print()
print("| case | server | req/s | p50 ms | p99 ms | Quartet ÷ oidc-provider (memory) | Quartet ÷ oidc-provider (PostgreSQL) |")
print("|---|---|---|---|---|---|---|")
for key, label in cases:
    for b in backends:
        r = rows[f"quartet-{key}-{b}"]
        mem = op(key, "memory")
        pg = op(key, "postgres") if b == "postgres" else None
        r1 = f"{r[0] / mem[0]:.2f}×" if mem else "—"
        r2 = f"{r[0] / pg[0]:.2f}×" if pg else "—"
        print(f"| {label} | {names[b]} | {fmt(r[0])}{spread(r)} | {r[1]:.2f} | {r[2]:.2f} | {r1} | {r2} |")
    for storage, name in (("memory", names["memory"]), ("postgres", names["pgop"])):
        r = op(key, storage)
        if r:
            print(f"| {label} | {name} | {fmt(r[0])}{spread(r)} | {r[1]:.2f} | {r[2]:.2f} | | |")
print()
print("Targets (issue 5):")
def verdict(ok): return "met" if ok else "**MISSED**"
for b in backends:
    for key, label in cases:
        if key in ("token-jwt", "token-jwtes"):
            continue
        q = rows[f"quartet-{key}-{b}"][0]
        r = q / op(key, "memory")[0]
        print(f"- {label}, {names[b]}: ≥ 3× oidc-provider — {r:.2f}× its memory storage — {verdict(r >= 3)}")
        if b == "postgres" and op(key, "postgres"):
            r = q / op(key, "postgres")[0]
            print(f"  (on the same backend, against oidc-provider's PostgreSQL adapter: {r:.2f}× — {verdict(r >= 3)})")
if "postgres" in backends:
    v = rows["quartet-token-opaque-postgres"][0]
    print(f"- > 5,000 tokens/s on PostgreSQL (opaque) — {fmt(v)}/s — {verdict(v > 5000)}")
    v = rows["quartet-token-jwt-postgres"][0]
    print(f"  (JWT access tokens on PostgreSQL, RS256 4096: {fmt(v)}/s — {verdict(v > 5000)})")
    v = rows["quartet-token-jwtes-postgres"][0]
    print(f"  (JWT access tokens on PostgreSQL, ES256: {fmt(v)}/s — {verdict(v > 5000)})")
else:
    print("- > 5,000 tokens/s on PostgreSQL — not measured (TEST_DATABASE_URL unset)")
for b in backends:
    rps, _, p99 = rows[f"quartet-introspect-{b}"][:3]
    print(f"- > 20,000 introspections/s with p99 < 5 ms, {names[b]} — {fmt(rps)}/s, p99 {p99:.2f} ms — {verdict(rps > 20000 and p99 < 5)}")
EOF
