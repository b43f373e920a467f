"""Hydra's `oauth2.token_hook` end to end: a Quartet whose config names a token hook (with an
API key header, as Hydra's `webhook_config`), clients created through `ory-hydra-client`,
tokens fetched by `authlib`; the hook (a plain HTTP server here) shapes the token's claims, as
introspection through the SDK shows, or refuses the token."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

import conftest
from ory_hydra_client.api import o_auth2_api
from ory_hydra_client.model.o_auth2_client import OAuth2Client
from ory_hydra_client.model.string_slice_json_format import StringSliceJSONFormat as S

API_KEY = "hook-api-key-1"


class Hook(BaseHTTPRequestHandler):
    """Answers by the client id: `deny-*` 403, anything else 200 with a `tenant` claim."""

    calls: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Hook.calls.append((self.headers, body))
        client = body["request"]["client_id"]
        if client.startswith("deny-"):
            self.send_response(403)
            self.end_headers()
            return
        answer = json.dumps({"session": {"access_token": {"tenant": "t-" + client}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def hooked(tmp_path_factory):
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    workdir = tmp_path_factory.mktemp("token-hook")
    ports = dict(zip(conftest.LISTENERS, conftest.free_ports(len(conftest.LISTENERS))))
    cfg = conftest.build_config(workdir, ports, "memory")
    cfg["oauth2"]["oauth2"] = {
        "token_hook": {
            "url": f"http://127.0.0.1:{hook.server_address[1]}/token-hook",
            "auth": {"type": "api_key", "config": {"in": "header", "name": "X-API-Key", "value": API_KEY}},
        }
    }
    q = conftest.serve_one_role(workdir, cfg, ports, "oauth2", "oauth2_admin")
    yield q
    conftest.stop_quartet(q)
    hook.shutdown()
    # The API key is a secret: it never reaches the log.
    assert API_KEY not in q.log_path.read_text(errors="replace")


def test_the_token_hook_shapes_and_refuses_client_credentials_tokens(hooked, openapi_recorder):
    with conftest._sdk_client("ory_hydra_client", hooked.oauth2_admin) as admin:
        api = o_auth2_api.OAuth2Api(admin)
        ok = api.create_o_auth2_client(OAuth2Client(client_id="shaped-client", grant_types=S(["client_credentials"]), scope="read"))
        session = OAuth2Session(ok.client_id, ok.client_secret, scope="read")
        token = session.fetch_token(f"{hooked.oauth2_public}/oauth2/token", grant_type="client_credentials")
        info = api.introspect_o_auth2_token(token=token["access_token"])
        assert info.active and info.ext == {"tenant": "t-shaped-client"}

        headers, body = Hook.calls[-1]
        assert headers["X-API-Key"] == API_KEY
        assert body["request"]["client_id"] == "shaped-client"
        assert body["request"]["grant_types"] == ["client_credentials"]
        assert body["request"]["granted_scopes"] == ["read"]
        assert body["session"]["client_id"] == "shaped-client"

        denied = api.create_o_auth2_client(OAuth2Client(client_id="deny-client", grant_types=S(["client_credentials"]), scope="read"))
        session = OAuth2Session(denied.client_id, denied.client_secret, scope="read")
        with pytest.raises(OAuthError) as refused:
            session.fetch_token(f"{hooked.oauth2_public}/oauth2/token", grant_type="client_credentials")
        assert refused.value.error == "access_denied"
        assert refused.value.description == "The token hook target responded with an error."
