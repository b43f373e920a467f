"""scripts/ory-export against a fake Ory stack serving the sample exports of
tests/data/migration/ory-export/ (docs/migrating-from-ory.md): `fetch` follows Kratos' and
Hydra's `Link: rel="next"` headers and Keto's `next_page_token`, and reads each identity again
with `include_credential=password` for its hash; `convert` turns what it wrote into the files
`quartet import` takes (tests/it/migration.rs imports them). The samples themselves are held
to Ory's api.json, so they are the shapes Ory answers with. No quartet binary is needed."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

import openapi_check as oc

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "tests/data/migration/ory-export"
SCRIPT = REPO / "scripts/ory-export"
JSON = {"content-type": "application/json"}


def sample(name):
    return json.loads((SAMPLES / name).read_text())


IDENTITIES = sample("kratos-identities.json")
CLIENTS = sample("hydra-clients.json")
TUPLE_PAGES = sample("keto-relation-tuples.json")


@pytest.mark.no_openapi_check
def test_the_samples_are_in_orys_answer_shapes():
    for identity in IDENTITIES:
        body = json.dumps(identity).encode()
        path = f"/admin/identities/{identity['id']}"
        assert oc.errors("kratos", "GET", path, 200, body, JSON) == []
    # Hydra 2.2 writes `null` for unset lifespans, `contacts` and `skip_logout_consent`, which
    # its api.json does not allow (reference note hydra.md §4.4); the samples do as Hydra does,
    # and the rest of each client is held to the document.
    clients = [{k: v for k, v in c.items() if v is not None} for c in CLIENTS]
    assert oc.errors("hydra", "GET", "/admin/clients", 200, json.dumps(clients).encode(), JSON) == []
    assert any(v is None for c in CLIENTS for v in c.values()), "the samples keep Hydra's nulls"
    for page in TUPLE_PAGES:
        body = json.dumps(page).encode()
        assert oc.errors("keto", "GET", "/relation-tuples", 200, body, JSON) == []


def without_credential_configs(identity):
    """An identity as Kratos lists it, or reads it without include_credential."""
    listed = copy.deepcopy(identity)
    for credential in listed.get("credentials", {}).values():
        credential.pop("config", None)
    return listed


class FakeOry(BaseHTTPRequestHandler):
    """Kratos admin, Hydra admin and Keto read in one server, one item per page."""

    requests: list[str] = []

    def log_message(self, *args):
        pass

    def answer(self, body, link=None):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if link:
            self.send_header("Link", link)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        FakeOry.requests.append(self.path)
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        token = int(query.get("page_token", ["0"])[0])
        if url.path == "/admin/identities":
            page = [without_credential_configs(i) for i in IDENTITIES[token : token + 1]]
            first = '</admin/identities?page_size=1>; rel="first"'
            more = f',</admin/identities?page_size=1&page_token={token + 1}>; rel="next"'
            return self.answer(page, first + (more if page else ""))
        if url.path.startswith("/admin/identities/"):
            found = [i for i in IDENTITIES if url.path.endswith(i["id"])]
            if query.get("include_credential") == ["password"]:
                return self.answer(found[0])
            return self.answer(without_credential_configs(found[0]))
        if url.path == "/admin/clients":
            page = CLIENTS[token : token + 1]
            more = token + 1 < len(CLIENTS)
            link = f'</admin/clients?page_size=1&page_token={token + 1}>; rel="next"' if more else None
            return self.answer(page, link)
        if url.path == "/relation-tuples":
            return self.answer(TUPLE_PAGES[token] | {"next_page_token": "1" if token == 0 else ""})
        self.send_error(404)


@pytest.fixture
def ory():
    FakeOry.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def run(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=60
    )


@pytest.mark.no_openapi_check
def test_fetch_pages_through_ory_and_keeps_the_password_hashes(ory, tmp_path):
    done = run("fetch", "--kratos-admin", ory, "--hydra-admin", ory, "--keto-read", ory, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "kratos-identities.json").read_text()) == IDENTITIES
    assert json.loads((tmp_path / "hydra-clients.json").read_text()) == CLIENTS
    tuples = [t for page in TUPLE_PAGES for t in page["relation_tuples"]]
    assert json.loads((tmp_path / "keto-relation-tuples.json").read_text()) == tuples
    for identity in IDENTITIES:
        assert f"/admin/identities/{identity['id']}?include_credential=password" in FakeOry.requests

    out = tmp_path / "import"
    done = run("convert", "--client-secrets", SAMPLES.parent / "client-secrets.json", tmp_path, out)
    assert done.returncode == 0, done.stderr
    identities = json.loads((out / "identities.json").read_text())
    assert [i["id"] for i in identities] == [i["id"] for i in IDENTITIES]
    assert identities[0]["credentials"] == {
        "password": {"config": {"hashed_password": IDENTITIES[0]["credentials"]["password"]["config"]["hashed_password"]}}
    }
    assert "credentials" not in identities[2], "cy signs in with Google only"
    assert all("schema_url" not in i and "created_at" not in i for i in identities)
    clients = {c["client_id"]: c for c in json.loads((out / "clients.json").read_text())}
    assert clients["imprun-m2m"]["client_secret"] == "m2m-secret-from-the-old-deployment"
    assert "client_secret" not in clients["imprun-web"]
    assert all("created_at" not in c for c in clients.values())
    assert json.loads((out / "tuples.json").read_text()) == tuples
    assert "client imprun-web: no secret known" in done.stderr
    assert "`oidc` credential is not carried over" in done.stderr


@pytest.mark.no_openapi_check
def test_a_file_that_is_not_a_list_of_objects_is_refused(tmp_path):
    (tmp_path / "hydra-clients.json").write_text('{"client_id": "a"}\n[')
    done = run("convert", tmp_path, tmp_path / "out")
    assert done.returncode == 1
    assert done.stderr.startswith("ory-export: ")
    (tmp_path / "hydra-clients.json").write_text("[1]")
    done = run("convert", tmp_path, tmp_path / "out")
    assert done.returncode == 1
    assert "expected OAuth2 clients as a JSON array of objects" in done.stderr
