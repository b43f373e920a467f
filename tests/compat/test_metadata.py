"""Health and version endpoints, through each role's official SDK, on every API listener.

Ory: kratos 4433/4434, hydra 4444/4445, keto 4466/4467/4469 (4468 is metrics only),
oathkeeper 4456 (4455 forwards every path). Every SDK response is also checked against the
role's api.json by conftest's recorder.
"""

import re

import pytest
import requests

import openapi_check

# (SDK fixture, listener)
KRATOS = [("kratos", "identity_public"), ("kratos", "identity_admin")]
HYDRA = [("hydra", "oauth2_public"), ("hydra", "oauth2_admin")]
KETO = [("keto", "permission_read"), ("keto", "permission_write"), ("keto", "permission_opl")]
OATHKEEPER = [("oathkeeper", "proxy_api")]
NEW_STYLE = KRATOS + HYDRA + KETO  # SDKs with a MetadataApi
PACKAGES = openapi_check.SDK_PACKAGES


def client(sdk: str, url: str):
    import importlib

    mod = importlib.import_module(PACKAGES[sdk])
    return mod.ApiClient(mod.Configuration(host=url))


def metadata_api(sdk: str, url: str):
    import importlib

    mod = importlib.import_module(f"{PACKAGES[sdk]}.api.metadata_api")
    return mod.MetadataApi(client(sdk, url))


@pytest.mark.parametrize("sdk,listener", NEW_STYLE, ids=[f"{s}-{l}" for s, l in NEW_STYLE])
def test_metadata_is_alive(quartet, openapi_recorder, sdk, listener):
    api = metadata_api(sdk, quartet.url(listener))
    assert api.is_alive().status == "ok"
    assert [ex.status for ex in openapi_recorder.exchanges] == [200]


@pytest.mark.parametrize("sdk,listener", NEW_STYLE, ids=[f"{s}-{l}" for s, l in NEW_STYLE])
def test_metadata_is_ready(quartet, openapi_recorder, sdk, listener):
    api = metadata_api(sdk, quartet.url(listener))
    assert api.is_ready().status == "ok"
    assert [ex.status for ex in openapi_recorder.exchanges] == [200]


@pytest.mark.parametrize("sdk,listener", NEW_STYLE, ids=[f"{s}-{l}" for s, l in NEW_STYLE])
def test_metadata_get_version(quartet, openapi_recorder, sdk, listener):
    api = metadata_api(sdk, quartet.url(listener))
    version = api.get_version().version
    assert isinstance(version, str) and version
    assert [ex.status for ex in openapi_recorder.exchanges] == [200]


def test_oathkeeper_health_and_version(quartet, openapi_recorder):
    # ory-oathkeeper-client 0.40.6 is the older generator: HealthApi and VersionApi
    from ory_oathkeeper_client.api.health_api import HealthApi
    from ory_oathkeeper_client.api.version_api import VersionApi

    c = client("oathkeeper", quartet.proxy_api)
    assert HealthApi(c).is_instance_alive().status == "ok"
    assert HealthApi(c).is_instance_ready().status == "ok"
    version = VersionApi(c).get_version().version
    assert isinstance(version, str) and version
    assert [(ex.method, ex.status) for ex in openapi_recorder.exchanges] == [("GET", 200)] * 3


def test_every_listener_reports_the_same_version(quartet):
    versions = {
        name: requests.get(quartet.url(name) + "/version", timeout=5).json()["version"]
        for name in ("identity_public", "identity_admin", "oauth2_public", "oauth2_admin",
                     "permission_read", "permission_write", "permission_opl", "proxy_api")
    }
    assert len(set(versions.values())) == 1, versions


def test_health_bodies_are_exactly_ory_s(quartet):
    for name in ("identity_public", "oauth2_admin", "permission_read", "proxy_api"):
        for path in ("/health/alive", "/health/ready"):
            r = requests.get(quartet.url(name) + path, timeout=5)
            assert r.status_code == 200, (name, path, r.text)
            assert r.headers["content-type"].split(";")[0] == "application/json", (name, path)
            assert r.json() == {"status": "ok"}, (name, path, r.text)


def test_metrics_prometheus(quartet):
    r = requests.get(quartet.permission_metrics + "/metrics/prometheus", timeout=5)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain"), r.headers
    lines = [l for l in r.text.splitlines() if l.strip()]
    assert lines, "empty metrics page"
    sample = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eEInfNa]+( \d+)?$")
    for line in lines:
        assert line.startswith("#") or sample.match(line), f"not Prometheus text: {line!r}"


@pytest.mark.parametrize("listener", ["identity_public", "identity_admin", "oauth2_admin",
                                      "permission_read", "permission_write", "proxy_api"])
def test_unknown_route_is_404_with_ory_error_envelope(quartet, listener):
    r = requests.get(quartet.url(listener) + "/this/route/does/not/exist", timeout=5)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].split(";")[0] == "application/json", r.headers
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err["code"] == 404, body
    assert err["status"] == "Not Found", body
    assert isinstance(err.get("message"), str) and err["message"], body


def test_metrics_listener_serves_only_metrics(quartet):
    r = requests.get(quartet.permission_metrics + "/health/alive", timeout=5)
    assert r.status_code == 404, r.text


def test_identity_admin_redirects_unprefixed_paths_like_kratos(quartet):
    # Kratos mounts admin routes under /admin and answers 307 to /admin<path> for the rest, which
    # is how the SDK's MetadataApi (GET /health/alive on the admin URL) reaches them.
    r = requests.get(quartet.identity_admin + "/health/alive", allow_redirects=False, timeout=5)
    assert r.status_code == 307, r.text
    assert r.headers["location"] == "/admin/health/alive", r.headers
    r = requests.get(quartet.identity_admin + "/admin/health/alive", allow_redirects=False, timeout=5)
    assert r.status_code == 200 and r.json() == {"status": "ok"}, r.text
