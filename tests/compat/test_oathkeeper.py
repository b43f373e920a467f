"""The proxy role through ory-oathkeeper-client 0.40.6: list rules, get a rule, decisions, the
id_token mutator's public keys at /.well-known/jwks.json.

Starts its own server (the session fixture's proxy section has no rules) with access rules
inline in the config, and checks every SDK response against Oathkeeper's api.json.
"""

import base64
import json
import time

import pytest
import requests
from authlib.jose import JsonWebKey, jwt

import conftest

RULES = [
    {
        "id": "public",
        "match": {"url": "http://<[^/]+>/public/<.*>", "methods": ["GET"]},
        "authenticators": [{"handler": "anonymous"}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}"}}}],
        "upstream": {"url": "http://127.0.0.1:9/"},
    },
    {
        "id": "private",
        "match": {"url": "http://<[^/]+>/private/<.*>", "methods": ["GET", "POST"]},
        "authenticators": [{"handler": "unauthorized"}],
        "authorizer": {"handler": "deny"},
        "mutators": [{"handler": "noop"}],
    },
    {
        "id": "token",
        "match": {"url": "http://<[^/]+>/token/<.*>", "methods": ["GET"]},
        "authenticators": [{"handler": "anonymous"}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "id_token"}],
    },
]
ISSUER = "https://gate.example/"


@pytest.fixture(scope="module")
def oathkeeper(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("oathkeeper")
    ports = dict(zip(conftest.LISTENERS, conftest.free_ports(len(conftest.LISTENERS))))
    cfg = conftest.build_config(workdir, ports, "memory")
    inline = base64.b64encode(json.dumps(RULES).encode()).decode()
    key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "gate-1"})
    jwks_path = workdir / "id_token.jwks.json"
    jwks_path.write_text(json.dumps({"keys": [{**key.as_dict(is_private=True), "alg": "RS256", "use": "sig"}]}))
    cfg["proxy"].update(
        {
            "access_rules": {"repositories": [f"inline://{inline}"]},
            "authenticators": {"anonymous": {"enabled": True}, "unauthorized": {"enabled": True}},
            "authorizers": {"allow": {"enabled": True}, "deny": {"enabled": True}},
            "mutators": {
                "header": {"enabled": True, "config": {"headers": {}}},
                "noop": {"enabled": True},
                "id_token": {"enabled": True, "config": {"issuer_url": ISSUER, "jwks_url": jwks_path.as_uri()}},
            },
        }
    )
    q = conftest.serve_one_role(workdir, cfg, ports, "proxy", "proxy_api")
    q.extra["key"] = key
    yield q
    conftest.stop_quartet(q)


def api(q):
    from ory_oathkeeper_client import ApiClient, Configuration
    from ory_oathkeeper_client.api.api_api import ApiApi

    return ApiApi(ApiClient(Configuration(host=q.proxy_api)))


def test_list_and_get_rules(oathkeeper, openapi_recorder):
    a = api(oathkeeper)
    rules = a.list_rules()
    assert [r.id for r in rules] == ["public", "private", "token"]
    assert rules[0].match.methods == ["GET"]
    assert rules[0].upstream.url == "http://127.0.0.1:9/"
    assert rules[0].version == "v0.40.9"
    page = a.list_rules(limit=1, offset=1)
    assert [r.id for r in page] == ["private"]
    one = a.get_rule("private")
    assert one.authorizer.handler == "deny"
    assert [ex.status for ex in openapi_recorder.exchanges] == [200, 200, 200]
    assert [r.id for r in a.list_rules(limit=1, offset=2)] == ["token"]


def test_get_unknown_rule_is_404(oathkeeper, openapi_recorder):
    from ory_oathkeeper_client.exceptions import NotFoundException

    with pytest.raises(NotFoundException) as e:
        api(oathkeeper).get_rule("nope")
    body = json.loads(e.value.body)
    assert body["error"]["code"] == 404
    assert [ex.status for ex in openapi_recorder.exchanges] == [404]


def test_decisions(oathkeeper, openapi_recorder):
    from ory_oathkeeper_client.exceptions import ApiException

    # The SDK's decisions() sends GET /decisions with no path: the original path is empty, so
    # no rule matches (Oathkeeper answers the same).
    with pytest.raises(ApiException) as e:
        api(oathkeeper).decisions()
    assert e.value.status == 404
    # With the original request passed as nginx/Traefik do:
    r = requests.get(
        oathkeeper.proxy_api + "/decisions",
        headers={"X-Forwarded-Method": "GET", "X-Forwarded-Host": "app", "X-Forwarded-Uri": "/public/x"},
        timeout=5,
    )
    assert r.status_code == 200 and r.headers["X-User"] == "anonymous" and r.text == ""
    r = requests.get(oathkeeper.proxy_api + "/decisions/private/x", headers={"Host": "app"}, timeout=5)
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "The request could not be authorized"


def test_well_known_json_web_keys_verify_the_id_token_mutator(oathkeeper, openapi_recorder):
    """ApiApi.get_well_known_json_web_keys: the id_token mutator's keys, public parts only; the
    JWT the mutator puts on a decision verifies against them."""
    published = api(oathkeeper).get_well_known_json_web_keys()
    assert [k.kid for k in published.keys] == ["gate-1"]
    only = published.keys[0]
    expected = oathkeeper.extra["key"].as_dict()
    assert only.kty == "RSA" and only.alg == "RS256" and only.use == "sig"
    assert only.n == expected["n"] and only.e == expected["e"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(only.to_dict()), only.to_dict()
    assert [ex.status for ex in openapi_recorder.exchanges] == [200]

    r = requests.get(oathkeeper.proxy_api + "/decisions/token/x", headers={"Host": "app"}, timeout=5)
    assert r.status_code == 200, r.text
    scheme, token = r.headers["Authorization"].split(" ", 1)
    assert scheme == "Bearer"
    claims = jwt.decode(token, JsonWebKey.import_key_set({"keys": [only.to_dict()]}))
    claims.validate(now=int(time.time()))
    assert claims.header["kid"] == "gate-1" and claims["iss"] == ISSUER and claims["sub"] == "anonymous"
