"""Fixtures for the compat suite: the real `quartet` binary, driven by the official Ory SDKs.

- `quartet` (session): starts `$QUARTET_BIN serve --dev -c cfg.yml` on free ports, waits until every
  API listener answers `/health/ready` with 200, yields a `Quartet` with each role's URLs, and at
  the end sends SIGTERM and requires exit status 0 within 10 s (graceful shutdown is tested).
  Parametrized by backend: `memory` always, `postgres` when TEST_DATABASE_URL is set (a fresh
  database on that server per session), so every test that uses it runs once per backend.
- Every response that an Ory SDK receives during a test is checked against Ory's api.json
  (openapi_check); a mismatch fails the test. Opt out with `@pytest.mark.no_openapi_check`.
- `kratos_public`, `kratos_admin`, `hydra_public`, `hydra_admin`, `keto_read`, `keto_write`,
  `keto_opl`, `oathkeeper_api`: SDK `ApiClient`s for the corresponding listener.

Environment: QUARTET_BIN (default target/debug/quartet), TEST_DATABASE_URL,
QUARTET_COMPAT_PG_MARKER (a file touched after a successful run on Postgres; .ci/run checks it),
QUARTET_START_TIMEOUT (seconds, default 30).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

import openapi_check

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = float(os.environ.get("QUARTET_START_TIMEOUT", "30"))
STOP_TIMEOUT = 10.0

# listener name -> (role section, Ory key path of its port, SDK role or None)
LISTENERS = {
    "identity_public": ("identity", ("serve", "public"), "kratos"),
    "identity_admin": ("identity", ("serve", "admin"), "kratos"),
    "oauth2_public": ("oauth2", ("serve", "public"), "hydra"),
    "oauth2_admin": ("oauth2", ("serve", "admin"), "hydra"),
    "permission_read": ("permission", ("serve", "read"), "keto"),
    "permission_write": ("permission", ("serve", "write"), "keto"),
    "permission_metrics": ("permission", ("serve", "metrics"), None),
    "permission_opl": ("permission", ("serve", "opl"), "keto"),
    "proxy_proxy": ("proxy", ("serve", "proxy"), None),
    "proxy_api": ("proxy", ("serve", "api"), "oathkeeper"),
    # Oathkeeper's own Prometheus listener (default 9000): set so that no fixed port is used
    "proxy_prometheus": ("proxy", ("serve", "prometheus"), None),
}
# Listeners that serve /health/* and /version (4455 forwards everything; 4468 and the
# Oathkeeper Prometheus listener serve metrics only).
API_LISTENERS = [
    n for n in LISTENERS if n not in ("proxy_proxy", "permission_metrics", "proxy_prometheus")
]


# --- the server -----------------------------------------------------------------------------


@dataclass
class Quartet:
    backend: str
    dsn: str
    workdir: Path
    config_path: Path
    ports: dict[str, int]
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    extra: dict = field(default_factory=dict)

    def url(self, listener: str) -> str:
        return f"http://127.0.0.1:{self.ports[listener]}"

    # one attribute per listener: quartet.identity_public, quartet.proxy_api, ...
    def __getattr__(self, name):
        ports = self.__dict__.get("ports") or {}
        if name in ports:
            return f"http://127.0.0.1:{ports[name]}"
        raise AttributeError(name)

    def log_tail(self, lines: int = 80) -> str:
        if not self.log_path or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


IDENTITY_SCHEMA = {
    "$id": "https://schemas.quartet.test/identity.email.schema.json",
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Person",
    "type": "object",
    "properties": {
        "traits": {
            "type": "object",
            "properties": {
                "email": {
                    "type": "string",
                    "format": "email",
                    "title": "E-Mail",
                    "ory.sh/kratos": {
                        "credentials": {"password": {"identifier": True}},
                        "verification": {"via": "email"},
                        "recovery": {"via": "email"},
                    },
                },
                "name": {"type": "string"},
            },
            "required": ["email"],
            "additionalProperties": False,
        }
    },
}


def build_config(workdir: Path, ports: dict[str, int], dsn: str) -> dict:
    """The config file for one server: Ory's own keys under each role section."""
    schema_path = workdir / "identity.schema.json"
    schema_path.write_text(json.dumps(IDENTITY_SCHEMA, indent=2))
    cfg: dict = {
        "dsn": dsn,
        "log": {"level": "debug", "format": "text"},
        "identity": {
            "serve": {
                "public": {"base_url": f"http://127.0.0.1:{ports['identity_public']}/"},
                "admin": {"base_url": f"http://127.0.0.1:{ports['identity_admin']}/"},
            },
            "selfservice": {
                "default_browser_return_url": f"http://127.0.0.1:{ports['proxy_proxy']}/",
                # No hook after registration, as in a Kratos config without one (`--dev` would
                # otherwise add the `session` hook): test_kratos.py counts the sessions.
                "flows": {"registration": {"after": {"password": {"hooks": []}}}},
            },
            # Kratos' whoami cache hint (Ory-Session-Cache-For), checked in test_kratos.py.
            "feature_flags": {"cacheable_sessions": True},
            "identity": {
                "default_schema_id": "default",
                "schemas": [{"id": "default", "url": schema_path.as_uri()}],
            },
        },
        "oauth2": {
            "urls": {"self": {"issuer": f"http://127.0.0.1:{ports['oauth2_public']}/"}},
            # Off by default in Hydra; on here so that test_hydra.py drives /oauth2/register.
            "oidc": {"dynamic_client_registration": {"enabled": True}},
        },
        "permission": {},
        "proxy": {},
    }
    for listener, (section, path, _) in LISTENERS.items():
        node = cfg[section]
        for key in path:
            node = node.setdefault(key, {})
        node["host"] = "127.0.0.1"
        node["port"] = ports[listener]
    return cfg


def clean_env() -> dict[str, str]:
    """The test runner's environment minus what would override the config file."""
    prefixes = ("IDENTITY_", "OAUTH2_", "PERMISSION_", "PROXY_")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DSN", "LOG_LEVEL", "LOG_FORMAT") and not k.startswith(prefixes)
    }
    env.setdefault("RUST_BACKTRACE", "1")
    return env


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, method="GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def quartet_bin() -> Path:
    path = Path(os.environ.get("QUARTET_BIN") or REPO / "target" / "debug" / "quartet")
    if not path.exists():
        pytest.exit(f"QUARTET_BIN={path} does not exist: build it (cargo build --bin quartet)", 2)
    return path


def start_quartet(backend: str, dsn: str, workdir: Path, extra_args: tuple[str, ...] = ()) -> Quartet:
    ports = dict(zip(LISTENERS, free_ports(len(LISTENERS))))
    cfg_path = workdir / "quartet.yml"
    cfg_path.write_text(yaml.safe_dump(build_config(workdir, ports, dsn), sort_keys=False))
    q = Quartet(backend=backend, dsn=dsn, workdir=workdir, config_path=cfg_path, ports=ports)
    q.log_path = workdir / "quartet.log"
    log = open(q.log_path, "wb")
    cmd = [str(quartet_bin()), "serve", "--dev", "-c", str(cfg_path), *extra_args]
    q.process = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=clean_env(), cwd=workdir
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    pending = set(API_LISTENERS)
    last: dict[str, str] = {}
    while pending:
        if q.process.poll() is not None:
            raise RuntimeError(
                f"quartet exited with {q.process.returncode} before it was ready\n"
                f"command: {' '.join(cmd)}\nconfig:\n{cfg_path.read_text()}\nlog:\n{q.log_tail()}"
            )
        for name in sorted(pending):
            try:
                status, body, _ = http_get(q.url(name) + "/health/ready", timeout=1.0)
                if status == 200:
                    pending.discard(name)
                else:
                    last[name] = f"{status} {body[:200]!r}"
            except OSError as e:
                last[name] = repr(e)
        if not pending:
            break
        if time.monotonic() > deadline:
            stop_quartet(q, check=False)
            raise RuntimeError(
                f"quartet not ready after {START_TIMEOUT:.0f} s; still waiting for "
                + ", ".join(f"{n} (:{ports[n]}: {last.get(n, '?')})" for n in sorted(pending))
                + f"\ncommand: {' '.join(cmd)}\nlog:\n{q.log_tail()}"
            )
        time.sleep(0.05)
    return q


def serve_one_role(workdir: Path, cfg: dict, ports: dict[str, int], role: str, ready_listener: str) -> Quartet:
    """`quartet serve ROLE --dev` with the config `cfg` (written to workdir), in memory, once
    `ready_listener` answers /health/ready."""
    cfg_path = workdir / "quartet.yml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    q = Quartet(backend="memory", dsn="memory", workdir=workdir, config_path=cfg_path, ports=ports)
    q.log_path = workdir / "quartet.log"
    with open(q.log_path, "wb") as log:
        q.process = subprocess.Popen(
            [str(quartet_bin()), "serve", role, "--dev", "-c", str(cfg_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=clean_env(), cwd=workdir,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if http_get(q.url(ready_listener) + "/health/ready", timeout=1.0)[0] == 200:
                return q
        except OSError:
            pass
        if q.process.poll() is not None or time.monotonic() > deadline:
            stop_quartet(q, check=False)
            raise RuntimeError(f"quartet did not start\n{q.log_tail()}")
        time.sleep(0.05)


def stop_quartet(q: Quartet, check: bool = True) -> None:
    """SIGTERM; with check, fail unless the process exits with status 0 within STOP_TIMEOUT."""
    p = q.process
    if p is None or p.poll() is not None:
        if check and p is not None and p.returncode != 0:
            raise AssertionError(f"quartet had already exited with {p.returncode}\n{q.log_tail()}")
        return
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        if check:
            raise AssertionError(
                f"quartet did not exit within {STOP_TIMEOUT:.0f} s of SIGTERM\n{q.log_tail()}"
            )
        return
    if check and rc != 0:
        raise AssertionError(f"quartet exited with {rc} after SIGTERM (want 0)\n{q.log_tail()}")


# --- Postgres ---------------------------------------------------------------------------------


def _with_database(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + db, parts.query, parts.fragment))


class PostgresDatabase:
    """A fresh database on the TEST_DATABASE_URL server for one compat session."""

    def __init__(self, base_url: str):
        import psycopg2

        self._psycopg2 = psycopg2
        self.base_url = base_url
        self.name = "quartet_compat_" + secrets.token_hex(5)
        self.created = False
        try:
            self._admin(f'CREATE DATABASE "{self.name}"')
            self.created = True
            self.url = _with_database(base_url, self.name)
        except psycopg2.Error as e:
            # no CREATEDB right: share the given database (the Rust tests use it too)
            print(f"compat: cannot create a database ({e}); using TEST_DATABASE_URL as it is")
            self.url = base_url

    def _admin(self, sql: str) -> None:
        conn = self._psycopg2.connect(self.base_url)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def table_names(self) -> list[str]:
        conn = self._psycopg2.connect(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
                    "ORDER BY table_name"
                )
                return [r[0] for r in cur.fetchall()]
        finally:
            conn.close()

    def drop(self) -> None:
        if not self.created:
            return
        try:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        except self._psycopg2.Error:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}"')


# --- fixtures ---------------------------------------------------------------------------------

BACKENDS = ["memory"] + (["postgres"] if os.environ.get("TEST_DATABASE_URL") else [])


@pytest.fixture(scope="session", params=BACKENDS)
def quartet(request, tmp_path_factory):
    backend = request.param
    workdir = tmp_path_factory.mktemp(f"quartet-{backend}")
    pg = None
    if backend == "postgres":
        pg = PostgresDatabase(os.environ["TEST_DATABASE_URL"])
        dsn = pg.url
    else:
        dsn = "memory"
    try:
        q = start_quartet(backend, dsn, workdir)
        try:
            yield q
        finally:
            stop_quartet(q)
        if pg is not None:
            tables = pg.table_names()
            assert tables, f"quartet ran on {pg.url} but created no table there"
            marker = os.environ.get("QUARTET_COMPAT_PG_MARKER")
            if marker:
                Path(marker).write_text(
                    f"compat suite ran on Postgres ({pg.name}); tables: {', '.join(tables)}\n"
                )
    finally:
        if pg is not None:
            pg.drop()


def _sdk_client(package: str, host: str):
    import importlib

    mod = importlib.import_module(package)
    return mod.ApiClient(mod.Configuration(host=host))


@pytest.fixture
def kratos_public(quartet):
    with _sdk_client("ory_kratos_client", quartet.identity_public) as c:
        yield c


@pytest.fixture
def kratos_admin(quartet):
    with _sdk_client("ory_kratos_client", quartet.identity_admin) as c:
        yield c


@pytest.fixture
def hydra_public(quartet):
    with _sdk_client("ory_hydra_client", quartet.oauth2_public) as c:
        yield c


@pytest.fixture
def hydra_admin(quartet):
    with _sdk_client("ory_hydra_client", quartet.oauth2_admin) as c:
        yield c


@pytest.fixture
def keto_read(quartet):
    with _sdk_client("ory_keto_client", quartet.permission_read) as c:
        yield c


@pytest.fixture
def keto_write(quartet):
    with _sdk_client("ory_keto_client", quartet.permission_write) as c:
        yield c


@pytest.fixture
def keto_opl(quartet):
    with _sdk_client("ory_keto_client", quartet.permission_opl) as c:
        yield c


@pytest.fixture
def oathkeeper_api(quartet):
    with _sdk_client("ory_oathkeeper_client", quartet.proxy_api) as c:
        yield c


# --- checking every SDK response against api.json -------------------------------------------


@pytest.fixture(autouse=True)
def openapi_recorder(request, monkeypatch):
    recorder = openapi_check.Recorder()
    if request.node.get_closest_marker("no_openapi_check") is None:
        openapi_check.install_sdk_hooks(recorder, monkeypatch)
    request.node._openapi_recorder = recorder
    return recorder


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    # Only reached when the test body passed: then its SDK traffic must match api.json.
    recorder = getattr(item, "_openapi_recorder", None)
    if recorder is not None:
        recorder.check()
    return result
