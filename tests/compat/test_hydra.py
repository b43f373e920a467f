"""The oauth2 role through Ory's official `ory-hydra-client==2.2.0` (every response is also
validated against Hydra's api.json by conftest's recorder) and `authlib` as an independent
OAuth2/OIDC client: client_credentials (basic and post), authorization code + PKCE through the
login/consent challenges (this test plays the UI through the admin API), refresh, revoke,
implicit and hybrid responses, and ID-token verification (incl. at_hash/c_hash) against the
published JWKS.
"""

import base64
import json
import re
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import openapi_check
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

from ory_hydra_client.api import jwk_api, o_auth2_api, oidc_api, wellknown_api
from ory_hydra_client.exceptions import NotFoundException, ApiException
from ory_hydra_client.model.accept_o_auth2_consent_request import AcceptOAuth2ConsentRequest
from ory_hydra_client.model.accept_o_auth2_consent_request_session import AcceptOAuth2ConsentRequestSession
from ory_hydra_client.model.accept_o_auth2_login_request import AcceptOAuth2LoginRequest
from ory_hydra_client.model.create_json_web_key_set import CreateJsonWebKeySet
from ory_hydra_client.model.json_patch import JsonPatch
from ory_hydra_client.model.json_web_key import JsonWebKey as SdkJsonWebKey
from ory_hydra_client.model.json_web_key_set import JsonWebKeySet
from ory_hydra_client.model.null_duration import NullDuration
from ory_hydra_client.model.o_auth2_client_token_lifespans import OAuth2ClientTokenLifespans
from ory_hydra_client.model.trust_o_auth2_jwt_grant_issuer import TrustOAuth2JwtGrantIssuer
from ory_hydra_client.model.o_auth2_client import OAuth2Client
from ory_hydra_client.model.reject_o_auth2_request import RejectOAuth2Request
from ory_hydra_client.model.string_slice_json_format import StringSliceJSONFormat as S

REDIRECT = "https://rp.example/cb"



def ec_key(kid: str):
    """A P-256 key whose coordinates are full length: authlib drops leading zero bytes (about one
    key in a hundred), which RFC 7518 §6.2.1.2 forbids and Hydra's go-jose (like Quartet) refuses."""
    while True:
        key = JsonWebKey.generate_key("EC", "P-256", is_private=True, options={"kid": kid})
        fields = key.as_dict(is_private=True)
        if all(len(base64.urlsafe_b64decode(fields[f] + "=" * (-len(fields[f]) % 4))) == 32 for f in "xyd"):
            return key

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
        if r.status_code == 200 and r.headers["Content-Type"].startswith("text/html"):
            return r  # response_mode=form_post: the page that posts to the client
        nxt = r.headers["Location"]
        # Hydra: 302 to the login and consent UIs, fosite's 303 back to the client.
        assert r.status_code == (303 if nxt.startswith(REDIRECT) else 302), (url, r.status_code, r.text)
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


def test_id_token_hint_claims_reach_the_login_ui_and_prompt_none_accepts_the_hint(quartet, hydra_admin, openapi_recorder):
    """An ID token handed back as `id_token_hint`: the SDK reads its claims in the login
    request's `oidc_context`, and with the login session it names, `prompt=none` answers a code."""
    api = o_auth2_api.OAuth2Api(hydra_admin)
    c = api.create_o_auth2_client(OAuth2Client(
        grant_types=S(["authorization_code"]), response_types=S(["code"]), redirect_uris=S([REDIRECT]),
        scope="openid", token_endpoint_auth_method="client_secret_post"))
    public = quartet.oauth2_public
    rp = OAuth2Session(c.client_id, c.client_secret, scope="openid", redirect_uri=REDIRECT,
                       token_endpoint_auth_method="client_secret_post")
    browser = requests.Session()
    auth_url, _ = rp.create_authorization_url(f"{public}/oauth2/auth", nonce="nonce-12345")
    token = rp.fetch_token(f"{public}/oauth2/token", authorization_response=_play_flow(quartet, api, auth_url, browser))
    hint = token["id_token"]

    # A browser without the session: the login UI gets the hint's claims.
    auth_url, _ = rp.create_authorization_url(f"{public}/oauth2/auth", nonce="nonce-67890", id_token_hint=hint)
    first = requests.get(auth_url, allow_redirects=False)
    challenge = parse_qs(urlsplit(first.headers["Location"]).query)["login_challenge"][0]
    login = api.get_o_auth2_login_request(challenge)
    assert login.skip is False
    assert login.oidc_context.id_token_hint_claims["sub"] == "bob"
    assert login.oidc_context.id_token_hint_claims["aud"] == [c.client_id]

    # The browser with bob's session (the login UI is still asked, with skip): prompt=none
    # with bob's hint answers a code.
    auth_url, _ = rp.create_authorization_url(f"{public}/oauth2/auth", nonce="nonce-24680", id_token_hint=hint, prompt="none")
    done = _play_flow(quartet, api, auth_url, browser)
    assert "code" in parse_qs(urlsplit(done).query), done
    api.revoke_o_auth2_login_sessions(subject="bob")


def test_authlib_code_flow_with_form_post_response_mode(quartet, hydra_admin, openapi_recorder):
    """response_mode=form_post (fosite's self-submitting page) through the SDK's challenge
    operations, the code redeemed by authlib; an unknown mode goes to the error UI."""
    api = o_auth2_api.OAuth2Api(hydra_admin)
    c = api.create_o_auth2_client(OAuth2Client(
        redirect_uris=S([REDIRECT]), scope="openid", token_endpoint_auth_method="client_secret_post"))
    public = quartet.oauth2_public
    rp = OAuth2Session(c.client_id, c.client_secret, scope="openid", redirect_uri=REDIRECT,
                       token_endpoint_auth_method="client_secret_post")
    auth_url, state = rp.create_authorization_url(f"{public}/oauth2/auth", response_mode="form_post")
    page = _play_flow(quartet, api, auth_url, requests.Session())
    assert page.headers["Cache-Control"] == "no-store"
    assert re.search(r'<form method="post" action="([^"]+)"', page.text).group(1) == REDIRECT
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"/>', page.text))
    assert fields["state"] == state and fields["scope"] == "openid"
    token = rp.fetch_token(f"{public}/oauth2/token", code=fields["code"], state=state)
    assert api.introspect_o_auth2_token(token=token["access_token"]).active

    bad, _ = rp.create_authorization_url(f"{public}/oauth2/auth", response_mode="weird")
    r = requests.get(bad, allow_redirects=False)
    assert r.status_code == 302 and not r.headers["Location"].startswith(REDIRECT)
    assert parse_qs(urlsplit(r.headers["Location"]).query)["error"] == ["unsupported_response_mode"]


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


JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def test_trusted_issuers_and_jwt_bearer_grant(quartet, hydra_admin, openapi_recorder):
    """RFC 7523 through the SDK's trust operations; the assertion is signed by authlib."""
    api = o_auth2_api.OAuth2Api(hydra_admin)
    key = ec_key("py-idp")
    pub = key.as_dict(is_private=False)
    issuer = "https://py-idp.example"
    expires = datetime(2099, 1, 1, tzinfo=timezone.utc)
    sdk_jwk = SdkJsonWebKey(alg="ES256", kid="py-idp", kty="EC", use="sig", crv=pub["crv"], x=pub["x"], y=pub["y"])
    trust = api.trust_o_auth2_jwt_grant_issuer(trust_o_auth2_jwt_grant_issuer=TrustOAuth2JwtGrantIssuer(
        issuer=issuer, subject="py-alice", scope=["read"], expires_at=expires, jwk=sdk_jwk))
    assert trust.issuer == issuer and trust.subject == "py-alice" and trust.allow_any_subject is False
    assert trust.public_key.set == issuer and trust.public_key.kid == "py-idp"
    assert trust.expires_at == expires and trust.scope == ["read"]
    listed = api.list_trusted_o_auth2_jwt_grant_issuers(issuer=issuer)
    assert [g.id for g in listed.value] == [trust.id]
    assert api.get_trusted_o_auth2_jwt_grant_issuer(trust.id).subject == "py-alice"
    # Error cases go through `requests`, not the SDK: Hydra's api.json declares `genericError`
    # ({message, ...}) for the trust endpoints, but Hydra 2.2 writes every admin error through
    # x.ErrorEnhancer as {error, error_description} (what the SDK's ApiException carries anyway).
    admin = quartet.oauth2_admin
    bad = requests.post(f"{admin}/admin/trust/grants/jwt-bearer/issuers", json={
        "issuer": issuer, "scope": ["read"], "expires_at": "2099-01-01T00:00:00Z", "jwk": pub})
    assert bad.status_code == 400 and bad.json()["error"] == "missing_required_parameter", bad.text
    assert bad.json()["error_description"].endswith("One of 'subject' or 'allow_any_subject' field must be set.")

    c = api.create_o_auth2_client(OAuth2Client(grant_types=S([JWT_BEARER]), scope="read", token_endpoint_auth_method="client_secret_post"))
    token_url = f"{quartet.oauth2_public}/oauth2/token"
    now = int(time.time())
    claims = {"iss": issuer, "sub": "py-alice", "aud": token_url, "exp": now + 300, "iat": now, "jti": "py-jti-1"}
    assertion = jwt.encode({"alg": "ES256", "kid": "py-idp"}, claims, key).decode()
    form = {"grant_type": JWT_BEARER, "assertion": assertion, "scope": "read",
            "client_id": c.client_id, "client_secret": c.client_secret}
    r = requests.post(token_url, data=form)
    assert r.status_code == 200, r.text
    info = api.introspect_o_auth2_token(token=r.json()["access_token"])
    assert info.active and info.sub == "py-alice" and info.scope == "read" and info.client_id == c.client_id
    replay = requests.post(token_url, data=form)
    assert replay.status_code == 400 and replay.json()["error"] == "jti_known"

    api.delete_trusted_o_auth2_jwt_grant_issuer(trust.id)
    gone = requests.get(f"{admin}/admin/trust/grants/jwt-bearer/issuers/{trust.id}")
    assert gone.status_code == 404 and gone.json()["error"] == "Unable to locate the resource"
    claims["jti"] = "py-jti-2"
    form["assertion"] = jwt.encode({"alg": "ES256", "kid": "py-idp"}, claims, key).decode()
    refused = requests.post(token_url, data=form)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_client_lifespans_and_token_deletion(quartet, hydra_admin, openapi_recorder):
    api = o_auth2_api.OAuth2Api(hydra_admin)
    c = _cc_client(api, "client_secret_post")
    updated = api.set_o_auth2_client_lifespans(c.client_id, o_auth2_client_token_lifespans=OAuth2ClientTokenLifespans(
        client_credentials_grant_access_token_lifespan=NullDuration("5m")))
    # Hydra answers with Go's Duration.String(): "5m" comes back as "5m0s".
    assert updated.client_credentials_grant_access_token_lifespan.value == "5m0s"
    assert api.get_o_auth2_client(c.client_id).client_credentials_grant_access_token_lifespan.value == "5m0s"
    token_url = f"{quartet.oauth2_public}/oauth2/token"
    form = {"grant_type": "client_credentials", "scope": "read", "client_id": c.client_id, "client_secret": c.client_secret}
    tokens = [requests.post(token_url, data=form).json() for _ in range(2)]
    assert all(t["expires_in"] == 300 for t in tokens), tokens
    assert all(api.introspect_o_auth2_token(token=t["access_token"]).active for t in tokens)
    api.delete_o_auth2_token(c.client_id)
    assert all(api.introspect_o_auth2_token(token=t["access_token"]).active is False for t in tokens)


def _start_auth(quartet, client_id, browser, scope="openid"):
    r = browser.get(f"{quartet.oauth2_public}/oauth2/auth", params={
        "client_id": client_id, "response_type": "code", "state": "12345678", "scope": scope,
        "redirect_uri": REDIRECT}, allow_redirects=False)
    assert r.status_code == 302, r.text
    return r.headers["Location"]


def _challenge(location, name):
    return parse_qs(urlsplit(location).query)[name][0]


def _follow_to(browser, url, name):
    """Follows redirects until one carries the `name` challenge (or reaches the client)."""
    for _ in range(10):
        if url.startswith(REDIRECT) or name in parse_qs(urlsplit(url).query):
            return url
        r = browser.get(url, allow_redirects=False)
        nxt = r.headers["Location"]
        assert r.status_code == (303 if nxt.startswith(REDIRECT) else 302), (url, r.status_code, r.text)
        url = nxt
    raise AssertionError(url)


def test_consent_reject_reaches_the_client_as_an_error(quartet, hydra_admin, openapi_recorder):
    api = o_auth2_api.OAuth2Api(hydra_admin)
    c = api.create_o_auth2_client(OAuth2Client(redirect_uris=S([REDIRECT]), scope="openid"))
    browser = requests.Session()
    login = _challenge(_start_auth(quartet, c.client_id, browser), "login_challenge")
    after_login = api.accept_o_auth2_login_request(login, accept_o_auth2_login_request=AcceptOAuth2LoginRequest(subject="rita")).redirect_to
    consent = _challenge(_follow_to(browser, after_login, "consent_challenge"), "consent_challenge")
    assert api.get_o_auth2_consent_request(consent).subject == "rita"
    redirect = api.reject_o_auth2_consent_request(consent, reject_o_auth2_request=RejectOAuth2Request(
        error="access_denied", error_description="The user said no.")).redirect_to
    assert "consent_verifier=" in redirect
    final = _follow_to(browser, redirect, "never")
    q = parse_qs(urlsplit(final).query)
    assert final.startswith(REDIRECT) and q["error"] == ["access_denied"] and q["state"] == ["12345678"], final
    with pytest.raises(ApiException) as gone:
        api.get_o_auth2_consent_request(consent)
    assert gone.value.status == 410


def _remembered_login(quartet, api, client_id, browser, subject):
    """Runs login + consent with remember=True so that the browser holds a login session."""
    url = _start_auth(quartet, client_id, browser)
    url = _follow_to(browser, url, "login_challenge")
    login = _challenge(url, "login_challenge")
    url = api.accept_o_auth2_login_request(login, accept_o_auth2_login_request=AcceptOAuth2LoginRequest(
        subject=subject, remember=True, remember_for=3600)).redirect_to
    url = _follow_to(browser, url, "consent_challenge")
    consent = _challenge(url, "consent_challenge")
    url = api.accept_o_auth2_consent_request(consent, accept_o_auth2_consent_request=AcceptOAuth2ConsentRequest(
        grant_scope=S(["openid"]), remember=True)).redirect_to
    assert _follow_to(browser, url, "never").startswith(REDIRECT)


def test_logout_requests_get_accept_reject(quartet, hydra_admin, openapi_recorder):
    api = o_auth2_api.OAuth2Api(hydra_admin)
    c = api.create_o_auth2_client(OAuth2Client(redirect_uris=S([REDIRECT]), scope="openid"))
    browser = requests.Session()
    _remembered_login(quartet, api, c.client_id, browser, "lou")
    logout_url = f"{quartet.oauth2_public}/oauth2/sessions/logout"

    # Rejected: the UI decides where to go; the session stays.
    r = browser.get(logout_url, allow_redirects=False)
    assert r.status_code == 302, r.text
    rejected = _challenge(r.headers["Location"], "logout_challenge")
    req = api.get_o_auth2_logout_request(rejected)
    assert req.subject == "lou" and req.rp_initiated is False and req.challenge == rejected
    api.reject_o_auth2_logout_request(rejected)

    # Accepted: the verifier ends the session and lands on the post-logout URL.
    r = browser.get(logout_url, allow_redirects=False)
    accepted = _challenge(r.headers["Location"], "logout_challenge")
    redirect = api.accept_o_auth2_logout_request(accepted).redirect_to
    assert "logout_verifier=" in redirect
    done = browser.get(redirect, allow_redirects=False)
    assert done.status_code in (200, 302), done.text
    with pytest.raises(ApiException) as gone:
        api.get_o_auth2_logout_request(accepted)
    assert gone.value.status == 410
    # Without a login session there is nothing to log out of: straight to the post-logout page.
    again = browser.get(logout_url, allow_redirects=False)
    assert again.status_code == 302 and "logout_challenge" not in again.headers["Location"]


def test_consent_sessions_are_paged(quartet, hydra_admin, openapi_recorder):
    api = o_auth2_api.OAuth2Api(hydra_admin)
    browser = requests.Session()
    clients = []
    for _ in range(3):
        c = api.create_o_auth2_client(OAuth2Client(redirect_uris=S([REDIRECT]), scope="openid"))
        clients.append(c.client_id)
        _remembered_login(quartet, api, c.client_id, browser, "pat")
    seen = []
    token = None
    for _ in range(5):
        kwargs = {"page_size": 2}
        if token:
            kwargs["page_token"] = token
        page, status, headers = api.list_o_auth2_consent_sessions("pat", _return_http_data_only=False, **kwargs)
        assert status == 200 and headers["X-Total-Count"] == "3"
        assert len(page.value) <= 2
        seen += [s.consent_request.client.client_id for s in page.value]
        nxt = re.search(r'<([^>]*)>; rel="next"', headers.get("Link", ""))
        if not nxt:
            break
        assert "subject=pat" in nxt.group(1), headers["Link"]
        token = parse_qs(urlsplit(nxt.group(1)).query)["page_token"][0]
    assert sorted(seen) == sorted(clients)
    api.revoke_o_auth2_consent_sessions("pat", client=clients[0])
    assert len(api.list_o_auth2_consent_sessions("pat").value) == 2
    # The SDK sends a Python bool as `all=True`; Hydra only honours the exact string "true"
    # (consent/handler.go), so the SDK's `all=True` is refused there and here alike.
    with pytest.raises(ApiException) as refused:
        api.revoke_o_auth2_consent_sessions("pat", all=True)
    assert refused.value.status == 400 and "invalid_request" in refused.value.body
    r = requests.delete(f"{quartet.oauth2_admin}/admin/oauth2/auth/sessions/consent", params={"subject": "pat", "all": "true"})
    assert r.status_code == 204
    assert api.list_o_auth2_consent_sessions("pat").value == []


def test_authlib_implicit_and_hybrid_flows_verify_hashes(quartet, hydra_admin, openapi_recorder):
    """`id_token token` (implicit) and `code id_token` (hybrid) through the challenge flow: the
    answer is in the fragment and the ID token's at_hash / c_hash match what authlib computes."""
    from authlib.oidc.core.util import create_half_hash

    api = o_auth2_api.OAuth2Api(hydra_admin)
    c = api.create_o_auth2_client(OAuth2Client(
        grant_types=S(["authorization_code", "implicit"]),
        response_types=S(["id_token token", "code id_token"]),
        redirect_uris=S([REDIRECT]), scope="openid",
        frontchannel_logout_uri="https://rp.example/fc", backchannel_logout_uri="https://rp.example/bc"))
    assert c.frontchannel_logout_uri == "https://rp.example/fc"
    public = quartet.oauth2_public
    jwks = JsonWebKey.import_key_set(requests.get(f"{public}/.well-known/jwks.json").json())
    browser = requests.Session()
    for response_type, hashed, claim in (("id_token token", "access_token", "at_hash"), ("code id_token", "code", "c_hash")):
        rp = OAuth2Session(c.client_id, c.client_secret, scope="openid", redirect_uri=REDIRECT,
                           response_type=response_type)
        auth_url, state = rp.create_authorization_url(f"{public}/oauth2/auth", nonce="nonce-implicit-1")
        done = _play_flow(quartet, api, auth_url, browser)
        assert urlsplit(done).query == "" and urlsplit(done).fragment, done
        params = {k: v[0] for k, v in parse_qs(urlsplit(done).fragment).items()}
        if "access_token" in params:
            assert rp.token_from_fragment(done)["token_type"] == "bearer"
        assert params["state"] == state
        claims = jwt.decode(params["id_token"], jwks)
        claims.validate(now=int(time.time()))
        assert claims["nonce"] == "nonce-implicit-1" and claims["sub"] == "bob"
        alg = jwt.decode(params["id_token"], jwks).header["alg"]
        assert claims[claim] == create_half_hash(params[hashed], alg).decode()


# --- JSON Web Keys: PUT one key, PUT a set, DELETE a set (the ID-token set, so that every
# change shows in /.well-known/jwks.json and in the ID tokens issued next) -------------------

ID_TOKEN_SET = "hydra.openid.id-token"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}


def _code_flow(quartet, api, scope="openid offline_access", subject_claims=None):
    """A fresh client through the whole code flow; returns (client, token response)."""
    c = api.create_o_auth2_client(OAuth2Client(
        grant_types=S(["authorization_code", "refresh_token"]), response_types=S(["code"]),
        redirect_uris=S([REDIRECT]), scope=scope, token_endpoint_auth_method="client_secret_post"))
    public = quartet.oauth2_public
    rp = OAuth2Session(c.client_id, c.client_secret, scope=scope, redirect_uri=REDIRECT,
                       code_challenge_method="S256", token_endpoint_auth_method="client_secret_post")
    verifier = "k" * 64
    auth_url, _ = rp.create_authorization_url(f"{public}/oauth2/auth", code_verifier=verifier, nonce="nonce-keys-1")
    done = _play_flow(quartet, api, auth_url, requests.Session())
    return c, rp.fetch_token(f"{public}/oauth2/token", authorization_response=done, code_verifier=verifier)


def _published(hydra_public):
    """/.well-known/jwks.json through the SDK, checked to hold public keys only."""
    keys = wellknown_api.WellknownApi(hydra_public).discover_json_web_keys().keys
    for k in keys:
        assert not PRIVATE_MEMBERS & set(k.to_dict()), f"private key material published: {k.kid}"
    return {k.kid: k for k in keys}


def _verify_id_token(quartet, id_token):
    """Verifies with the JWKS as published right now; returns (header, claims)."""
    jwks = JsonWebKey.import_key_set(requests.get(f"{quartet.oauth2_public}/.well-known/jwks.json").json())
    claims = jwt.decode(id_token, jwks)
    claims.validate(now=int(time.time()))
    return claims.header, claims


def _sdk_jwk(key, alg):
    fields = key.as_dict(is_private=True)
    return SdkJsonWebKey(alg=alg, use="sig", **{k: v for k, v in fields.items() if k != "use"})


def test_json_web_key_put_set_put_and_delete_keep_id_tokens_verifiable(quartet, hydra_admin, hydra_public, openapi_recorder):
    api = o_auth2_api.OAuth2Api(hydra_admin)
    keys = jwk_api.JwkApi(hydra_admin)
    oidc = oidc_api.OidcApi(hydra_public)

    # PUT /admin/keys/{set}/{kid}: the key joins the set, becomes the newest and so the signer.
    rsa = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "sdk-put-rsa"})
    put = keys.set_json_web_key(ID_TOKEN_SET, "sdk-put-rsa", json_web_key=_sdk_jwk(rsa, "RS256"))
    assert put.kid == "sdk-put-rsa" and put.alg == "RS256" and put.kty == "RSA" and put.n == rsa.as_dict()["n"]
    admin_view = keys.get_json_web_key(ID_TOKEN_SET, "sdk-put-rsa").keys
    assert [k.kid for k in admin_view] == ["sdk-put-rsa"] and admin_view[0].d == rsa.as_dict(is_private=True)["d"]
    published = _published(hydra_public)
    assert "sdk-put-rsa" in published and published["sdk-put-rsa"].n == rsa.as_dict()["n"]
    _, first = _code_flow(quartet, api)
    header, claims = _verify_id_token(quartet, first["id_token"])
    assert header["kid"] == "sdk-put-rsa" and header["alg"] == "RS256" and claims["sub"] == "bob"

    # PUT /admin/keys/{set}: the set is replaced by one ES256 key — discovery and signing follow.
    ec = ec_key("sdk-set-ec")
    replaced = keys.set_json_web_key_set(ID_TOKEN_SET, json_web_key_set=JsonWebKeySet(keys=[_sdk_jwk(ec, "ES256")]))
    assert [(k.kid, k.alg, k.crv) for k in replaced.keys] == [("sdk-set-ec", "ES256", "P-256")]
    assert [k.kid for k in keys.get_json_web_key_set(ID_TOKEN_SET).keys] == ["sdk-set-ec"]
    published = _published(hydra_public)
    assert "sdk-set-ec" in published and "sdk-put-rsa" not in published
    assert published["sdk-set-ec"].x == ec.as_dict()["x"]
    disco = oidc.discover_oidc_configuration()
    assert disco.id_token_signing_alg_values_supported == ["ES256"] and disco.id_token_signed_response_alg == ["ES256"]
    _, second = _code_flow(quartet, api)
    header, _ = _verify_id_token(quartet, second["id_token"])
    assert header["kid"] == "sdk-set-ec" and header["alg"] == "ES256"
    # The first ID token's key is no longer published: it no longer verifies.
    with pytest.raises(Exception):
        _verify_id_token(quartet, first["id_token"])
    # Opaque access tokens do not depend on the ID-token keys.
    assert api.introspect_o_auth2_token(token=second["access_token"]).active

    # DELETE /admin/keys/{set}: gone from the admin API; the next use creates a fresh RS256 key.
    keys.delete_json_web_key_set(ID_TOKEN_SET)
    with pytest.raises(NotFoundException):
        keys.get_json_web_key_set(ID_TOKEN_SET)
    published = _published(hydra_public)
    assert "sdk-set-ec" not in published and "sdk-put-rsa" not in published
    fresh = [k for k in keys.get_json_web_key_set(ID_TOKEN_SET).keys]
    assert len(fresh) == 1 and fresh[0].alg == "RS256" and fresh[0].kid in published
    _, third = _code_flow(quartet, api)
    header, claims = _verify_id_token(quartet, third["id_token"])
    assert header["kid"] == fresh[0].kid and header["alg"] == "RS256" and claims["nonce"] == "nonce-keys-1"
    assert oidc.discover_oidc_configuration().id_token_signing_alg_values_supported == ["RS256"]


def test_jwt_access_tokens_follow_a_key_put_into_their_set(quartet, hydra_admin, hydra_public, openapi_recorder):
    """PUT /admin/keys/hydra.jwt.access-token/{kid}: JWT access tokens are signed with the new
    key and verify against /.well-known/jwks.json; after DELETE of that key, the previous key
    signs again."""
    api = o_auth2_api.OAuth2Api(hydra_admin)
    keys = jwk_api.JwkApi(hydra_admin)
    c = api.create_o_auth2_client(OAuth2Client(grant_types=S(["client_credentials"]), scope="read", access_token_strategy="jwt"))
    session = OAuth2Session(c.client_id, c.client_secret, scope="read")
    token_url = f"{quartet.oauth2_public}/oauth2/token"

    def issue():
        at = session.fetch_token(token_url, grant_type="client_credentials")["access_token"]
        _published(hydra_public)  # public parts only
        header, claims = _verify_id_token(quartet, at)  # any JWT: verified against the JWKS
        assert claims["client_id"] == c.client_id and claims["scp"] == ["read"]
        assert api.introspect_o_auth2_token(token=at).active
        return header

    before = issue()
    ec = ec_key("sdk-at-ec")
    keys.set_json_web_key("hydra.jwt.access-token", "sdk-at-ec", json_web_key=_sdk_jwk(ec, "ES256"))
    assert "sdk-at-ec" in _published(hydra_public)
    assert issue() == {"alg": "ES256", "kid": "sdk-at-ec", "typ": "JWT"}
    keys.delete_json_web_key("hydra.jwt.access-token", "sdk-at-ec")
    assert "sdk-at-ec" not in _published(hydra_public)
    assert issue()["kid"] == before["kid"]


def test_delete_of_an_unbroadcast_key_set(hydra_admin, hydra_public, openapi_recorder):
    keys = jwk_api.JwkApi(hydra_admin)
    created = keys.create_json_web_key_set("sdk-private-set", CreateJsonWebKeySet(alg="RS256", kid="sdk-private-1", use="sig"))
    assert created.keys[0].d, "the admin API answers with the private key"
    assert "sdk-private-1" not in _published(hydra_public)
    keys.delete_json_web_key_set("sdk-private-set")
    with pytest.raises(NotFoundException):
        keys.get_json_web_key("sdk-private-set", "sdk-private-1")


# --- OIDC: dynamic client registration, userinfo, RP-initiated logout, verifiable credentials --


def _bearer_client(host, token):
    from ory_hydra_client import ApiClient, Configuration
    return ApiClient(Configuration(host=host, access_token=token))


def test_dynamic_client_registration_lifecycle(quartet, hydra_admin, hydra_public, openapi_recorder):
    from ory_hydra_client.exceptions import UnauthorizedException

    public = quartet.oauth2_public
    oidc = oidc_api.OidcApi(hydra_public)
    c = oidc.create_oidc_dynamic_client(OAuth2Client(
        client_name="dcr", redirect_uris=S([REDIRECT]), grant_types=S(["client_credentials"]), scope="read"))
    assert str(uuid.UUID(c.client_id)) == c.client_id
    assert len(c.client_secret) == 26 and c.client_name == "dcr"
    assert c.registration_access_token.startswith("ory_at_")
    assert c.registration_client_uri == f"{public}/oauth2/register/{c.client_id}"
    # The registered client works at the token endpoint.
    session = OAuth2Session(c.client_id, c.client_secret, scope="read")
    token = session.fetch_token(f"{public}/oauth2/token", grant_type="client_credentials")
    assert token["scope"] == "read"

    # DCR refuses what only an administrator may set.
    with pytest.raises(ApiException) as refused:
        oidc.create_oidc_dynamic_client(OAuth2Client(client_name="x", metadata={"tier": "gold"}))
    assert refused.value.status == 400 and json.loads(refused.value.body)["error"] == "invalid_client_metadata"
    with pytest.raises(ApiException) as chosen:
        oidc.create_oidc_dynamic_client(OAuth2Client(client_name="x", client_secret="my-own-secret"))
    assert chosen.value.status == 400 and json.loads(chosen.value.body) == {
        "error": "The request was malformed or contained invalid parameters",
        "error_description": "It is not allowed to choose your own OAuth2 Client secret."}

    with _bearer_client(public, c.registration_access_token) as managed:
        got = oidc_api.OidcApi(managed).get_oidc_dynamic_client(c.client_id)
        assert got.client_id == c.client_id and got.client_name == "dcr" and got.scope == "read"
        assert "client_secret" not in got.to_dict() and "registration_access_token" not in got.to_dict()
        # An update may not choose the secret either (Hydra: 403); the token stays valid.
        with pytest.raises(ApiException) as forbidden:
            oidc_api.OidcApi(managed).set_oidc_dynamic_client(c.client_id, OAuth2Client(
                client_name="dcr", client_secret="my-own-secret", redirect_uris=S([REDIRECT])))
        assert forbidden.value.status == 403
        assert json.loads(forbidden.value.body)["error"] == "The requested action was forbidden"
        updated = oidc_api.OidcApi(managed).set_oidc_dynamic_client(c.client_id, OAuth2Client(
            client_name="dcr-2", redirect_uris=S([REDIRECT]), grant_types=S(["client_credentials"]), scope="read"))
        assert updated.client_name == "dcr-2"
        assert updated.registration_access_token.startswith("ory_at_")
        assert updated.registration_access_token != c.registration_access_token
        # The update rotated the registration token: the old one is refused.
        with pytest.raises(UnauthorizedException) as old:
            oidc_api.OidcApi(managed).get_oidc_dynamic_client(c.client_id)
        assert json.loads(old.value.body)["error"] == "The request could not be authorized"
    # The secret survived the update.
    assert OAuth2Session(c.client_id, c.client_secret, scope="read").fetch_token(
        f"{public}/oauth2/token", grant_type="client_credentials")["access_token"]

    with _bearer_client(public, updated.registration_access_token) as managed:
        assert oidc_api.OidcApi(managed).get_oidc_dynamic_client(c.client_id).client_name == "dcr-2"
        oidc_api.OidcApi(managed).delete_oidc_dynamic_client(c.client_id)
        with pytest.raises(UnauthorizedException):
            oidc_api.OidcApi(managed).get_oidc_dynamic_client(c.client_id)
    with pytest.raises(NotFoundException):
        o_auth2_api.OAuth2Api(hydra_admin).get_o_auth2_client(c.client_id)


def test_userinfo_with_an_access_token_of_a_code_flow(quartet, hydra_admin, hydra_public, openapi_recorder):
    from ory_hydra_client.exceptions import UnauthorizedException

    api = o_auth2_api.OAuth2Api(hydra_admin)
    c, token = _code_flow(quartet, api)
    with _bearer_client(quartet.oauth2_public, token["access_token"]) as authed:
        info = oidc_api.OidcApi(authed).get_oidc_user_info()
    assert info.sub == "bob" and info.email == "bob@example.com"
    _, id_claims = _verify_id_token(quartet, token["id_token"])
    assert info.sub == id_claims["sub"]
    # An unknown token is refused with Hydra's WWW-Authenticate challenge.
    with _bearer_client(quartet.oauth2_public, "ory_at_not.known") as authed:
        with pytest.raises(UnauthorizedException) as refused:
            oidc_api.OidcApi(authed).get_oidc_user_info()
    described = "The request could not be authorized. Check that you provided valid credentials in the right format."
    assert refused.value.headers["WWW-Authenticate"] == (
        f'Bearer error="request_unauthorized",error_description="{described}"'
    )
    assert json.loads(refused.value.body) == {"error": "request_unauthorized", "error_description": described}


def test_revoke_oidc_session_redirects_to_the_logout_ui(quartet, hydra_admin, openapi_recorder):
    """GET /oauth2/sessions/logout through the SDK: Hydra answers 302 to the logout UI with a
    logout_challenge (the only response api.json declares), so redirects are not followed."""
    import urllib3
    from ory_hydra_client import ApiClient, Configuration

    api = o_auth2_api.OAuth2Api(hydra_admin)
    c = api.create_o_auth2_client(OAuth2Client(redirect_uris=S([REDIRECT]), scope="openid"))
    browser = requests.Session()
    _remembered_login(quartet, api, c.client_id, browser, "sid-user")
    cookie = next(f"{k}={v}" for k, v in browser.cookies.items() if k.startswith("ory_hydra_session"))
    config = Configuration(host=quartet.oauth2_public)
    config.retries = urllib3.Retry(total=0, redirect=0, raise_on_redirect=False)
    with ApiClient(config, cookie=cookie) as client:
        with pytest.raises(ApiException) as redirected:
            oidc_api.OidcApi(client).revoke_oidc_session()
    assert redirected.value.status == 302
    location = redirected.value.headers["Location"]
    assert location.startswith(f"{quartet.oauth2_public}/oauth2/fallbacks/logout?"), location
    challenge = _challenge(location, "logout_challenge")
    req = api.get_o_auth2_logout_request(challenge)
    assert req.subject == "sid-user" and req.rp_initiated is False and req.sid
    done = browser.get(api.accept_o_auth2_logout_request(challenge).redirect_to, allow_redirects=False)
    assert done.status_code == 302 and "logout/callback" in done.headers["Location"]
    # Without the session cookie the SDK's call lands on the post-logout page straight away.
    with ApiClient(config) as client:
        with pytest.raises(ApiException) as again:
            oidc_api.OidcApi(client).revoke_oidc_session()
    assert again.value.status == 302 and "logout_challenge" not in again.value.headers["Location"]


def test_verifiable_credentials_are_refused_with_an_oauth2_error(quartet, hydra_admin, hydra_public, openapi_recorder):
    """Quartet does not issue verifiable credentials (docs/oauth2.md): /credentials answers
    RFC 6749 errors in Hydra's shape — request_unauthorized without an access token, then
    invalid_request — never a bare 404."""
    from ory_hydra_client.exceptions import UnauthorizedException
    from ory_hydra_client.model.create_verifiable_credential_request_body import CreateVerifiableCredentialRequestBody
    from ory_hydra_client.model.verifiable_credential_proof import VerifiableCredentialProof

    body = CreateVerifiableCredentialRequestBody(
        format="jwt_vc_json", types=["VerifiableCredential", "UserInfoCredential"],
        proof=VerifiableCredentialProof(proof_type="jwt", jwt="a.b.c"))
    with pytest.raises(UnauthorizedException) as anonymous:
        oidc_api.OidcApi(hydra_public).create_verifiable_credential(create_verifiable_credential_request_body=body)
    assert json.loads(anonymous.value.body)["error"] == "request_unauthorized"
    _, token = _code_flow(quartet, o_auth2_api.OAuth2Api(hydra_admin))
    # api.json declares no security for this operation, so the SDK's access_token is not sent:
    # the bearer goes in as a default header.
    from ory_hydra_client import ApiClient, Configuration
    bearer = f"Bearer {token['access_token']}"
    with ApiClient(Configuration(host=quartet.oauth2_public), header_name="Authorization", header_value=bearer) as authed:
        with pytest.raises(ApiException) as refused:
            oidc_api.OidcApi(authed).create_verifiable_credential(create_verifiable_credential_request_body=body)
    assert refused.value.status == 400
    err = json.loads(refused.value.body)
    assert err["error"] == "invalid_request" and "not supported" in err["error_description"]


# --- admin operations not covered above ------------------------------------------------------


def _next_link(headers):
    m = re.search(r'<([^>]*)>; rel="next"', headers.get("Link", ""))
    return m.group(1) if m else None


def test_list_clients_pages_to_the_end_and_json_patch(quartet, hydra_admin, openapi_recorder):
    api = o_auth2_api.OAuth2Api(hydra_admin)
    owner = f"pager-{uuid.uuid4()}"
    made = [api.create_o_auth2_client(OAuth2Client(client_name=f"p{i}", owner=owner, redirect_uris=S([REDIRECT]))).client_id
            for i in range(5)]
    seen, pages, token = [], 0, None
    while True:
        kwargs = {"owner": owner, "page_size": 2}
        if token:
            kwargs["page_token"] = token
        page, status, headers = api.list_o_auth2_clients(_return_http_data_only=False, **kwargs)
        pages += 1
        assert status == 200 and headers["X-Total-Count"] == "5"
        seen += [c.client_id for c in page]
        nxt = _next_link(headers)
        if not nxt:
            break
        assert f"owner={owner}" in nxt and "page_size=2" in nxt, headers["Link"]
        token = parse_qs(urlsplit(nxt).query)["page_token"][0]
        assert pages < 5
    assert pages == 3 and sorted(seen) == sorted(made) and len(seen) == len(set(seen))

    cid = made[0]
    patched = api.patch_o_auth2_client(cid, [
        JsonPatch(op="add", path="/redirect_uris/-", value="https://rp.example/second"),
        JsonPatch(op="replace", path="/client_name", value="patched"),
        JsonPatch(op="add", path="/metadata", value={"team": "blue"}),
        JsonPatch(op="remove", path="/owner"),
    ])
    assert patched.redirect_uris.value == [REDIRECT, "https://rp.example/second"]
    assert patched.client_name == "patched" and patched.metadata == {"team": "blue"} and patched.owner == ""
    got = api.get_o_auth2_client(cid)
    assert got.redirect_uris.value == [REDIRECT, "https://rp.example/second"] and got.metadata == {"team": "blue"}
    # A failing test op leaves the client untouched; client_id is not patchable.
    with pytest.raises(ApiException) as failed:
        api.patch_o_auth2_client(cid, [JsonPatch(op="test", path="/client_name", value="other"),
                                       JsonPatch(op="replace", path="/client_name", value="never")])
    assert failed.value.status == 400
    with pytest.raises(ApiException) as fixed_id:
        api.patch_o_auth2_client(cid, [JsonPatch(op="replace", path="/client_id", value="other-id")])
    assert fixed_id.value.status == 400
    assert api.get_o_auth2_client(cid).client_name == "patched"


def test_refresh_token_introspection_and_consent_revocation_for_all_clients(quartet, hydra_admin, openapi_recorder):
    api = o_auth2_api.OAuth2Api(hydra_admin)
    c, token = _code_flow(quartet, api)
    rt = api.introspect_o_auth2_token(token=token["refresh_token"])
    at = api.introspect_o_auth2_token(token=token["access_token"])
    assert rt.active and rt.token_use == "refresh_token" and at.token_use == "access_token"
    assert rt.client_id == c.client_id and rt.sub == "bob" and rt.scope == "openid offline_access"
    assert rt.token_type == "Bearer" and rt.exp > at.exp
    # A scope the token does not cover makes it inactive for this caller.
    assert api.introspect_o_auth2_token(token=token["refresh_token"], scope="admin").active is False

    subject = f"all-{uuid.uuid4()}"
    browser = requests.Session()
    clients = [api.create_o_auth2_client(OAuth2Client(redirect_uris=S([REDIRECT]), scope="openid")).client_id for _ in range(2)]
    for cid in clients:
        _remembered_login(quartet, api, cid, browser, subject)
    sessions = api.list_o_auth2_consent_sessions(subject)
    assert sorted(s.consent_request.client.client_id for s in sessions.value) == sorted(clients)
    assert all(s.grant_scope.value == ["openid"] and s.remember is True for s in sessions.value)
    # `all` must be the string "true" (Hydra's check); the SDK sends Python's True as "True".
    r = requests.delete(f"{quartet.oauth2_admin}/admin/oauth2/auth/sessions/consent", params={"subject": subject, "all": "true"})
    assert r.status_code == 204, r.text
    openapi_check.check_response("hydra", r)
    assert api.list_o_auth2_consent_sessions(subject).value == []


def test_trusted_issuers_are_paged(quartet, hydra_admin, openapi_recorder):
    api = o_auth2_api.OAuth2Api(hydra_admin)
    mine = []
    for i in range(3):
        key = ec_key(f"pager-{i}").as_dict(is_private=False)
        trust = api.trust_o_auth2_jwt_grant_issuer(trust_o_auth2_jwt_grant_issuer=TrustOAuth2JwtGrantIssuer(
            issuer=f"https://pager-{uuid.uuid4()}.example", allow_any_subject=True, scope=["read"],
            expires_at=datetime(2099, 1, 1, tzinfo=timezone.utc),
            jwk=SdkJsonWebKey(alg="ES256", kid=f"pager-{i}", kty="EC", use="sig", crv=key["crv"], x=key["x"], y=key["y"])))
        mine.append(trust.id)
    # The SDK sends MaxItems/DefaultItems (api.json), which Hydra ignores: one page of all.
    listed, status, headers = api.list_trusted_o_auth2_jwt_grant_issuers(max_items=1, _return_http_data_only=False)
    total = int(headers["X-Total-Count"])
    assert status == 200 and total >= 3 and len(listed.value) == total
    # page_size / page_token (what Hydra reads) through the Link header, to the end.
    url = f"{quartet.oauth2_admin}/admin/trust/grants/jwt-bearer/issuers?page_size=2"
    seen = []
    for _ in range(total):
        r = requests.get(url)
        openapi_check.check_response("hydra", r)
        assert r.status_code == 200 and r.headers["X-Total-Count"] == str(total)
        page = r.json()
        assert 1 <= len(page) <= 2
        seen += [g["id"] for g in page]
        nxt = _next_link(r.headers)
        if not nxt:
            break
        url = quartet.oauth2_admin + nxt
    assert len(seen) == total == len(set(seen)) and set(mine) <= set(seen)
    for tid in mine:
        api.delete_trusted_o_auth2_jwt_grant_issuer(tid)


def test_handled_login_challenge_is_410_with_redirect_to(quartet, hydra_admin, openapi_recorder):
    api = o_auth2_api.OAuth2Api(hydra_admin)
    c = api.create_o_auth2_client(OAuth2Client(redirect_uris=S([REDIRECT]), scope="openid"))
    browser = requests.Session()
    login = _challenge(_start_auth(quartet, c.client_id, browser), "login_challenge")
    accepted = api.accept_o_auth2_login_request(login, accept_o_auth2_login_request=AcceptOAuth2LoginRequest(subject="gone")).redirect_to
    with pytest.raises(ApiException) as gone:
        api.get_o_auth2_login_request(login)
    assert gone.value.status == 410
    assert json.loads(gone.value.body) == {"redirect_to": accepted}
    # Accepting twice is refused the same way.
    with pytest.raises(ApiException) as twice:
        api.accept_o_auth2_login_request(login, accept_o_auth2_login_request=AcceptOAuth2LoginRequest(subject="gone"))
    assert twice.value.status in (400, 409, 410), twice.value.body


def test_token_and_revocation_errors_are_fosites(quartet, hydra_admin, openapi_recorder):
    """Through the SDK's own token and revocation calls: a grant type no fosite handler serves is
    a bare invalid_request (not RFC 6749's unsupported_grant_type, which fosite never sends);
    revocation of an unknown token is a 200 and bad client credentials a hint-less 401."""
    import ory_hydra_client

    c = _cc_client(o_auth2_api.OAuth2Api(hydra_admin), "client_secret_basic")

    def public(password):
        cfg = ory_hydra_client.Configuration(host=quartet.oauth2_public, username=c.client_id, password=password)
        return ory_hydra_client.ApiClient(cfg)

    with public(c.client_secret) as client:
        api = o_auth2_api.OAuth2Api(client)
        with pytest.raises(ApiException) as e:
            api.oauth2_token_exchange(grant_type="password")
        assert e.value.status == 400
        assert json.loads(e.value.body) == {
            "error": "invalid_request",
            "error_description": "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.",
        }
        token = api.oauth2_token_exchange(grant_type="client_credentials")
        assert token.access_token.startswith("ory_at_")
        assert api.revoke_o_auth2_token(token="ory_at_unknown.x") is None
        api.revoke_o_auth2_token(token=token.access_token)
    assert o_auth2_api.OAuth2Api(hydra_admin).introspect_o_auth2_token(token=token.access_token).active is False
    with public("wrong") as client:
        with pytest.raises(ApiException) as e:
            o_auth2_api.OAuth2Api(client).revoke_o_auth2_token(token="ory_at_unknown.x")
        assert e.value.status == 401
        assert json.loads(e.value.body) == {
            "error": "invalid_client",
            "error_description": "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).",
        }
