"""The oauth2 role through Ory's official `ory-hydra-client==2.2.0` (every response is also
validated against Hydra's api.json by conftest's recorder) and `authlib` as an independent
OAuth2/OIDC client: client_credentials (basic and post), authorization code + PKCE through the
login/consent challenges (this test plays the UI through the admin API), refresh, revoke and
ID-token verification against the published JWKS.
"""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

from ory_hydra_client.api import jwk_api, o_auth2_api, oidc_api, wellknown_api
from ory_hydra_client.exceptions import NotFoundException, ApiException
from ory_hydra_client.model.accept_o_auth2_consent_request import AcceptOAuth2ConsentRequest
from ory_hydra_client.model.accept_o_auth2_consent_request_session import AcceptOAuth2ConsentRequestSession
from ory_hydra_client.model.accept_o_auth2_login_request import AcceptOAuth2LoginRequest
from ory_hydra_client.model.create_json_web_key_set import CreateJsonWebKeySet
from ory_hydra_client.model.json_patch import JsonPatch
from ory_hydra_client.model.o_auth2_client import OAuth2Client
from ory_hydra_client.model.reject_o_auth2_request import RejectOAuth2Request
from ory_hydra_client.model.string_slice_json_format import StringSliceJSONFormat as S

REDIRECT = "https://rp.example/cb"


def test_admin_client_operations(hydra_admin, openapi_recorder):
    api = o_auth2_api.OAuth2Api(hydra_admin)
    created = api.create_o_auth2_client(OAuth2Client(client_name="sdk", grant_types=S(["client_credentials"]), owner="sdk-owner"))
    cid = created.client_id
    assert len(created.client_secret) == 26
    got = api.get_o_auth2_client(cid)
    assert got.client_name == "sdk" and "client_secret" not in got.to_dict()
    listed = api.list_o_auth2_clients(owner="sdk-owner", page_size=10)
    assert [c.client_id for c in listed] == [cid]
    updated = api.set_o_auth2_client(cid, OAuth2Client(client_name="sdk2", grant_types=S(["client_credentials"]), owner="sdk-owner"))
    assert updated.client_name == "sdk2"
    patched = api.patch_o_auth2_client(cid, [JsonPatch(op="replace", path="/client_name", value="sdk3")])
    assert patched.client_name == "sdk3"
    api.delete_o_auth2_client(cid)
    with pytest.raises(NotFoundException):
        api.get_o_auth2_client(cid)


def test_keys_through_the_sdk(hydra_admin, hydra_public, openapi_recorder):
    keys = jwk_api.JwkApi(hydra_admin)
    created = keys.create_json_web_key_set("sdk-set", CreateJsonWebKeySet(alg="ES256", kid="sdk-1", use="sig"))
    assert created.keys[0].kid == "sdk-1"
    assert keys.get_json_web_key("sdk-set", "sdk-1").keys[0].alg == "ES256"
    assert len(keys.get_json_web_key_set("sdk-set").keys) == 1
    keys.delete_json_web_key("sdk-set", "sdk-1")
    with pytest.raises(NotFoundException):
        keys.get_json_web_key_set("sdk-set")
    published = wellknown_api.WellknownApi(hydra_public).discover_json_web_keys()
    assert len(published.keys) >= 1
    disco = oidc_api.OidcApi(hydra_public).discover_oidc_configuration()
    assert disco.issuer.startswith("http://127.0.0.1:")


def _cc_client(api, method):
    return api.create_o_auth2_client(OAuth2Client(grant_types=S(["client_credentials"]), scope="read", token_endpoint_auth_method=method))


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_client_credentials_introspect_revoke(quartet, hydra_admin, openapi_recorder, method):
    api = o_auth2_api.OAuth2Api(hydra_admin)
    c = _cc_client(api, method)
    session = OAuth2Session(c.client_id, c.client_secret, token_endpoint_auth_method=method, revocation_endpoint_auth_method=method, scope="read")
    token = session.fetch_token(f"{quartet.oauth2_public}/oauth2/token", grant_type="client_credentials")
    assert token["token_type"] == "bearer" and token["access_token"].startswith("ory_at_")
    info = api.introspect_o_auth2_token(token=token["access_token"])
    assert info.active and info.client_id == c.client_id and info.scope == "read"
    session.revoke_token(f"{quartet.oauth2_public}/oauth2/revoke", token["access_token"])
    assert api.introspect_o_auth2_token(token=token["access_token"]).active is False


def _play_flow(quartet, api, auth_url, browser):
    url = auth_url
    for _ in range(10):
        if url.startswith(REDIRECT):
            return url
        r = browser.get(url, allow_redirects=False)
        assert r.status_code == 302, (url, r.text)
        nxt = r.headers["Location"]
        q = parse_qs(urlsplit(nxt).query)
        if "login_challenge" in q:
            ch = q["login_challenge"][0]
            req = api.get_o_auth2_login_request(ch)
            assert req.challenge == ch and req.client.client_id
            url = api.accept_o_auth2_login_request(ch, accept_o_auth2_login_request=AcceptOAuth2LoginRequest(subject="bob", remember=True, remember_for=3600)).redirect_to
        elif "consent_challenge" in q:
            ch = q["consent_challenge"][0]
            req = api.get_o_auth2_consent_request(ch)
            url = api.accept_o_auth2_consent_request(ch, accept_o_auth2_consent_request=AcceptOAuth2ConsentRequest(
                grant_scope=req.requested_scope, remember=True,
                session=AcceptOAuth2ConsentRequestSession(id_token={"email": "bob@example.com"}, access_token={"tier": "gold"}))).redirect_to
        else:
            url = nxt
    raise AssertionError(f"flow did not finish at {url}")


def test_authlib_code_flow_pkce_refresh_and_id_token(quartet, hydra_admin, openapi_recorder):
    api = o_auth2_api.OAuth2Api(hydra_admin)
    c = api.create_o_auth2_client(OAuth2Client(
        grant_types=S(["authorization_code", "refresh_token"]), response_types=S(["code"]),
        redirect_uris=S([REDIRECT]), scope="openid offline_access", token_endpoint_auth_method="client_secret_post"))
    public = quartet.oauth2_public
    rp = OAuth2Session(c.client_id, c.client_secret, scope="openid offline_access", redirect_uri=REDIRECT,
                       code_challenge_method="S256", token_endpoint_auth_method="client_secret_post")
    verifier = "v" * 64
    auth_url, state = rp.create_authorization_url(f"{public}/oauth2/auth", code_verifier=verifier, nonce="nonce-12345")
    browser = requests.Session()
    done = _play_flow(quartet, api, auth_url, browser)
    token = rp.fetch_token(f"{public}/oauth2/token", authorization_response=done, code_verifier=verifier)
    assert token["refresh_token"].startswith("ory_rt_")
    jwks = JsonWebKey.import_key_set(requests.get(f"{public}/.well-known/jwks.json").json())
    claims = jwt.decode(token["id_token"], jwks)
    claims.validate(now=int(time.time()))
    issuer = requests.get(f"{public}/.well-known/openid-configuration").json()["issuer"]
    assert claims["iss"] == issuer and claims["sub"] == "bob" and claims["aud"] == [c.client_id]
    assert claims["nonce"] == "nonce-12345" and claims["email"] == "bob@example.com" and "at_hash" in claims
    assert api.introspect_o_auth2_token(token=token["access_token"]).ext == {"tier": "gold"}

    refreshed = rp.refresh_token(f"{public}/oauth2/token", refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"]
    assert api.introspect_o_auth2_token(token=refreshed["access_token"]).active

    sessions = api.list_o_auth2_consent_sessions("bob")
    assert sessions.value and sessions.value[0].consent_request.client.client_id == c.client_id
    api.revoke_o_auth2_consent_sessions("bob", client=c.client_id)
    assert api.introspect_o_auth2_token(token=refreshed["access_token"]).active is False
    api.revoke_o_auth2_login_sessions(subject="bob")


def test_rejected_and_handled_challenges(quartet, hydra_admin, openapi_recorder):
    api = o_auth2_api.OAuth2Api(hydra_admin)
    c = api.create_o_auth2_client(OAuth2Client(redirect_uris=S([REDIRECT]), scope="openid"))
    r = requests.get(f"{quartet.oauth2_public}/oauth2/auth", params={"client_id": c.client_id, "response_type": "code", "state": "12345678", "scope": "openid"}, allow_redirects=False)
    ch = parse_qs(urlsplit(r.headers["Location"]).query)["login_challenge"][0]
    redirect = api.reject_o_auth2_login_request(ch, reject_o_auth2_request=RejectOAuth2Request(error="access_denied", error_description="no")).redirect_to
    assert "login_verifier=" in redirect
    with pytest.raises(ApiException) as gone:
        api.get_o_auth2_login_request(ch)
    assert gone.value.status == 410
