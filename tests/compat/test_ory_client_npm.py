"""The seed's Next.js AuthProvider through `@ory/client` from npm (pinned in npm/package.json,
locked in npm/package-lock.json): `toSession` by session token and by cookie, and
`createBrowserLogoutFlow`, behind a `/.ory` rewrite like the seed's next.config.ts, with
`serve.public.base_url` pointing at that rewrite as in the seed's kratos.yml.

The Node script `npm/seed_auth_provider.cjs` does the calls; this test starts a Quartet whose
public base URL is the script's rewrite proxy, creates the identity, runs the script and checks
every response it saw against Kratos' api.json. Node and npm are required: without them the test
fails (it never passes vacuously). `node_modules` is installed with `npm ci` when missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

import conftest
import openapi_check

NPM_DIR = Path(__file__).resolve().parent / "npm"
PASSWORD = "correct-horse-battery-9"


def require_node() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail(
            "node and npm are required for the @ory/client compat test (install Node.js >= 18); "
            f"found node={node!r}, npm={npm!r}",
            pytrace=False,
        )
    return node, npm


def ensure_node_modules(npm: str) -> None:
    if (NPM_DIR / "node_modules" / "@ory" / "client" / "package.json").exists():
        return
    r = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=NPM_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if r.returncode != 0:
        pytest.fail(
            f"`npm ci` in {NPM_DIR} failed (exit {r.returncode}); is the npm registry reachable?\n"
            f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}",
            pytrace=False,
        )


@pytest.fixture(scope="module", params=conftest.BACKENDS)
def seed_quartet(request, tmp_path_factory):
    """A Quartet whose identity public base URL is `http://127.0.0.1:<proxy>/.ory/`."""
    proxy_port = conftest.free_ports(1)[0]
    original = conftest.build_config

    def build_config(workdir, ports, dsn):
        cfg = original(workdir, ports, dsn)
        cfg["identity"]["serve"]["public"]["base_url"] = f"http://127.0.0.1:{proxy_port}/.ory/"
        cfg["identity"]["selfservice"]["default_browser_return_url"] = f"http://127.0.0.1:{proxy_port}/"
        return cfg

    backend = request.param
    pg = conftest.PostgresDatabase(os.environ["TEST_DATABASE_URL"]) if backend == "postgres" else None
    conftest.build_config = build_config
    try:
        q = conftest.start_quartet(backend, pg.url if pg else "memory", tmp_path_factory.mktemp(f"seed-{backend}"))
    finally:
        conftest.build_config = original
    q.extra["proxy_port"] = proxy_port
    try:
        yield q
    finally:
        conftest.stop_quartet(q)
        if pg is not None:
            pg.drop()


def test_seed_auth_provider_to_session_and_browser_logout(seed_quartet):
    node, npm = require_node()
    ensure_node_modules(npm)

    address = f"npm-{uuid.uuid4().hex[:10]}@example.com"
    r = requests.post(
        f"{seed_quartet.identity_admin}/admin/identities",
        json={
            "schema_id": "default",
            "traits": {"email": address},
            "credentials": {"password": {"config": {"password": PASSWORD}}},
        },
        timeout=10,
    )
    assert r.status_code == 201, r.text

    env = dict(
        os.environ,
        KRATOS_PUBLIC=seed_quartet.identity_public,
        PROXY_PORT=str(seed_quartet.extra["proxy_port"]),
        IDENTIFIER=address,
        PASSWORD=PASSWORD,
    )
    run = subprocess.run(
        [node, "seed_auth_provider.cjs"],
        cwd=NPM_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, (
        f"@ory/client script failed (exit {run.returncode})\nstdout:\n{run.stdout[-4000:]}\n"
        f"stderr:\n{run.stderr[-4000:]}\nquartet log:\n{seed_quartet.log_tail(40)}"
    )

    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    exchanges = [line["exchange"] for line in lines if "exchange" in line]
    assert lines[-1] == {"ok": True, "identity": r.json()["id"]}
    seen = {(e["method"], e["path"].split("?")[0], e["status"]) for e in exchanges}
    for expected in [
        ("GET", "/sessions/whoami", 200),
        ("GET", "/sessions/whoami", 401),
        ("GET", "/self-service/logout/browser", 200),
        ("GET", "/self-service/logout/browser", 401),
        ("POST", "/self-service/login", 200),
    ]:
        assert expected in seen, f"{expected} not exercised: {sorted(seen)}"
    problems = []
    for e in exchanges:
        problems += openapi_check.errors(
            "kratos",
            e["method"],
            e["path"].split("?")[0],
            e["status"],
            None if e["body"] is None else json.dumps(e["body"]),
            {k: v for k, v in e["headers"].items() if isinstance(v, str)},
        )
    assert not problems, "\n".join(problems)
