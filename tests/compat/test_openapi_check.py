"""Self-test of openapi_check: it accepts Ory-shaped responses and, above all, it can FAIL."""

import json

import pytest

import openapi_check as oc

OK = b'{"status":"ok"}'
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("role", ["kratos", "hydra", "keto", "oathkeeper"])
def test_accepts_ory_health_alive(role):
    assert oc.errors(role, "GET", "/health/alive", 200, OK, JSON) == []


@pytest.mark.parametrize("role", ["kratos", "keto", "oathkeeper"])
@pytest.mark.parametrize(
    "body",
    [b'{"status": 1}', b"{}", b'["ok"]', b"ok", b""],
    ids=["wrong-type", "missing-field", "array", "not-json", "empty"],
)
def test_rejects_a_wrong_health_alive_body(role, body):
    problems = oc.errors(role, "GET", "/health/alive", 200, body, JSON)
    assert problems, f"{body!r} was accepted"
    with pytest.raises(oc.OpenAPIMismatch):
        oc.check(role, "GET", "/health/alive", 200, body, JSON)


def test_rejects_a_wrong_type_in_hydra_health_alive():
    # hydra's healthStatus does not require `status`, but a non-string one is still wrong
    assert oc.errors("hydra", "GET", "/health/alive", 200, b'{"status": false}', JSON)


def test_rejects_undeclared_status_and_unknown_paths():
    # /version declares only 200 in Ory Kratos
    assert oc.errors("kratos", "GET", "/version", 418, b'{"version":"x"}', JSON)
    assert oc.errors("kratos", "GET", "/no/such/path", 200, OK, JSON)
    assert oc.errors("kratos", "DELETE", "/health/alive", 200, OK, JSON)


def test_default_response_and_content_type():
    # `default` on /health/alive is text/plain
    assert oc.errors("kratos", "GET", "/health/alive", 500, b"boom", {"content-type": "text/plain"}) == []
    assert oc.errors("kratos", "GET", "/health/alive", 500, b'{"error":{}}', JSON)


def test_path_templates_refs_nullable_and_formats():
    ident = {
        "id": "9f425a8d-7efc-4768-8f23-7647a74fdf13",
        "schema_id": "default",
        "schema_url": "http://127.0.0.1:4433/schemas/ZGVmYXVsdA",
        "traits": {"email": "a@example.com"},
        "state": "active",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00.123456Z",
        "metadata_public": None,
    }
    path = "/admin/identities/9f425a8d-7efc-4768-8f23-7647a74fdf13"
    op = oc.spec("kratos").find("GET", path)
    assert op is not None and op.template == "/admin/identities/{id}"
    assert oc.errors("kratos", "GET", path, 200, json.dumps(ident), JSON) == []
    # a missing required field, a bad uuid, a bad date-time, a bad enum value
    for broken in (
        {k: v for k, v in ident.items() if k != "schema_id"},
        {**ident, "id": "not-a-uuid"},
        {**ident, "created_at": "yesterday"},
        {**ident, "state": "sleeping"},
    ):
        assert oc.errors("kratos", "GET", path, 200, json.dumps(broken), JSON), broken
    # 404 is declared through a $ref to components/responses (errorGeneric)
    err = {"error": {"code": 404, "status": "Not Found", "message": "Unable to locate the resource"}}
    assert oc.errors("kratos", "GET", path, 404, json.dumps(err), JSON) == []
    assert oc.errors("kratos", "GET", path, 404, json.dumps({"error": "nope"}), JSON)


def test_literal_segments_win_over_templates():
    op = oc.spec("kratos").find("GET", "/admin/identities/by/external/abc")
    # kratos v1.1.0 may not have that route; whichever matches must be literal-first
    if op is not None:
        assert "{" not in op.template.split("/")[3]
    op = oc.spec("hydra").find("GET", "/admin/oauth2/auth/requests/login")
    assert op is not None and op.template == "/admin/oauth2/auth/requests/login"


def test_discriminated_oneof_dispatches_on_the_value():
    s = oc.spec("kratos")
    v = s.validator({"$ref": "#/components/schemas/uiNodeAttributes"})
    text_node = {"node_type": "text", "id": "x", "text": {"id": 1, "text": "hi", "type": "info"}}
    assert list(v.iter_errors(text_node)) == []
    assert list(v.iter_errors({"node_type": "nonsense", "id": "x"}))


def test_recorder_reports_every_problem():
    rec = oc.Recorder()
    rec.add(oc.Exchange("keto", "GET", "http://127.0.0.1:1/health/alive", 200, OK, JSON))
    rec.add(oc.Exchange("keto", "GET", "http://127.0.0.1:1/health/alive", 200, b"{}", JSON))
    with pytest.raises(oc.OpenAPIMismatch, match="status"):
        rec.check()


def test_sdk_hook_catches_a_wrong_response(openapi_recorder):
    """The recorder that conftest installs around every SDK call sees a bad body and says so."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"status": 1}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        import ory_keto_client
        from ory_keto_client.api.metadata_api import MetadataApi

        url = f"http://127.0.0.1:{server.server_address[1]}"
        with ory_keto_client.ApiClient(ory_keto_client.Configuration(host=url)) as c:
            try:
                MetadataApi(c).is_alive()
            except Exception:
                pass  # the SDK may reject it too; the recorder must have seen it either way
    finally:
        server.shutdown()
        server.server_close()
    assert [ex.status for ex in openapi_recorder.exchanges] == [200]
    problems = openapi_recorder.problems()
    assert problems and "status" in problems[0], problems
    openapi_recorder.clear()  # so that this test itself passes
