"""Kratos v1.1 identity role through the official `ory-kratos-client==1.1.0`: the admin
IdentityApi and the FrontendApi's native (api) login/registration flows, whoami and logout,
plus the browser login flow with a `requests` session as the cookie jar. Every SDK response is
validated against Kratos' api.json by conftest's recorder.
"""

import hashlib
import json
import os
import time
import uuid
from base64 import b64encode
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ory_kratos_client.api.frontend_api import FrontendApi
from ory_kratos_client.api.identity_api import IdentityApi
from ory_kratos_client.exceptions import ApiException
from ory_kratos_client.model.create_identity_body import CreateIdentityBody
from ory_kratos_client.model.update_identity_body import UpdateIdentityBody
from ory_kratos_client.model.json_patch import JsonPatch
from ory_kratos_client.model.json_patch_document import JsonPatchDocument
from ory_kratos_client.model.identity_with_credentials import IdentityWithCredentials
from ory_kratos_client.model.identity_with_credentials_password import IdentityWithCredentialsPassword
from ory_kratos_client.model.identity_with_credentials_password_config import IdentityWithCredentialsPasswordConfig
from ory_kratos_client.model.update_login_flow_body import UpdateLoginFlowBody
from ory_kratos_client.model.update_registration_flow_body import UpdateRegistrationFlowBody
from ory_kratos_client.model.perform_native_logout_body import PerformNativeLogoutBody
from ory_kratos_client.model.identity_patch import IdentityPatch
from ory_kratos_client.model.patch_identities_body import PatchIdentitiesBody
from ory_kratos_client.model.update_settings_flow_body import UpdateSettingsFlowBody

import conftest

PASSWORD = "correct-horse-battery-9"


def email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


def password_credentials(password: str | None = None, hashed: str | None = None) -> IdentityWithCredentials:
    config = IdentityWithCredentialsPasswordConfig(password=password) if password else IdentityWithCredentialsPasswordConfig(hashed_password=hashed)
    return IdentityWithCredentials(password=IdentityWithCredentialsPassword(config=config))


def create_body(address: str, password: str | None = PASSWORD, hashed: str | None = None) -> CreateIdentityBody:
    kwargs = {}
    if password or hashed:
        kwargs["credentials"] = password_credentials(password, hashed)
    return CreateIdentityBody(schema_id="default", traits={"email": address}, **kwargs)


def create(admin: IdentityApi, address: str, password: str | None = PASSWORD, hashed: str | None = None):
    return admin.create_identity(create_identity_body=create_body(address, password, hashed))


def test_admin_identity_crud(kratos_admin):
    admin = IdentityApi(kratos_admin)
    address = email()
    created = create(admin, address)
    assert created.traits["email"] == address
    assert created.verifiable_addresses[0].value == address
    assert created.credentials["password"].identifiers == [address]

    got = admin.get_identity(created.id, include_credential=["password"])
    assert got.credentials["password"].config["hashed_password"].startswith("$2")

    listed = admin.list_identities(credentials_identifier=address)
    assert [i.id for i in listed] == [created.id]
    assert any(i.id == created.id for i in admin.list_identities(page_size=500))

    updated = admin.update_identity(
        created.id,
        update_identity_body=UpdateIdentityBody(schema_id="default", traits={"email": address, "name": "Ann"}, state="active", metadata_public={"plan": "pro"}),
    )
    assert updated.traits["name"] == "Ann"
    assert updated.metadata_public == {"plan": "pro"}

    patched = admin.patch_identity(created.id, json_patch_document=JsonPatchDocument([JsonPatch(op="replace", path="/traits/name", value="Bea")]))
    assert patched.traits["name"] == "Bea"

    with pytest.raises(ApiException) as conflict:
        create(admin, address)
    assert conflict.value.status == 409

    assert admin.list_identity_sessions(created.id) == []
    admin.delete_identity(created.id)
    with pytest.raises(ApiException) as gone:
        admin.get_identity(created.id)
    assert gone.value.status == 404


def test_schemas(kratos_public):
    api = IdentityApi(kratos_public)
    schemas = api.list_identity_schemas().value
    assert schemas[0].id == "default"
    schema = api.get_identity_schema("default")
    assert schema["properties"]["traits"]["properties"]["email"]["format"] == "email"


def test_native_registration_login_whoami_logout(kratos_public, kratos_admin):
    frontend = FrontendApi(kratos_public)
    address = email()

    flow = frontend.create_native_registration_flow()
    assert flow.type == "api"
    result = frontend.update_registration_flow(
        flow.id,
        UpdateRegistrationFlowBody(method="password", password=PASSWORD, traits={"email": address}),
    )
    assert result.identity.traits["email"] == address

    flow = frontend.create_native_login_flow()
    with pytest.raises(ApiException) as bad:
        frontend.update_login_flow(flow.id, UpdateLoginFlowBody(method="password", identifier=address, password="wrong-password-1"))
    assert bad.value.status == 400
    assert "4000006" in bad.value.body

    flow = frontend.get_login_flow(flow.id)
    login = frontend.update_login_flow(flow.id, UpdateLoginFlowBody(method="password", identifier=address, password=PASSWORD))
    token = login.session_token
    assert token.startswith("ory_st_")

    session, status, headers = frontend.to_session(x_session_token=token, _return_http_data_only=False)
    assert status == 200
    assert session.identity.traits["email"] == address
    # feature_flags.cacheable_sessions is on in this config: seconds until the session expires.
    assert 0 < int(headers["Ory-Session-Cache-For"]) <= 24 * 3600
    assert session.authentication_methods.value[0].method == "password"

    admin = IdentityApi(kratos_admin)
    sessions = admin.list_identity_sessions(session.identity.id)
    assert [s.id for s in sessions] == [session.id]
    extended = admin.extend_session(session.id)
    assert extended.id == session.id

    frontend.perform_native_logout(PerformNativeLogoutBody(session_token=token))
    with pytest.raises(ApiException) as unauth:
        frontend.to_session(x_session_token=token)
    assert unauth.value.status == 401
    assert "Ory-Session-Cache-For" not in unauth.value.headers, "a revoked credential is never cacheable"


def test_browser_login_and_logout_with_a_cookie_jar(quartet, kratos_admin):
    admin = IdentityApi(kratos_admin)
    address = email()
    create(admin, address)
    browser = requests.Session()
    base = quartet.identity_public
    r = browser.get(f"{base}/self-service/login/browser", headers={"Accept": "application/json"})
    assert r.status_code == 200
    flow = r.json()
    csrf = next(n["attributes"]["value"] for n in flow["ui"]["nodes"] if n["attributes"].get("name") == "csrf_token")
    r = browser.post(flow["ui"]["action"], json={"method": "password", "identifier": address, "password": PASSWORD, "csrf_token": csrf}, headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    assert "session_token" not in r.json()
    assert "ory_kratos_session" in browser.cookies.get_dict()
    r = browser.get(f"{base}/sessions/whoami")
    assert r.status_code == 200
    assert r.headers["X-Kratos-Authenticated-Identity-Id"] == r.json()["identity"]["id"]
    logout = browser.get(f"{base}/self-service/logout/browser").json()
    r = browser.get(logout["logout_url"], headers={"Accept": "application/json"})
    assert r.status_code == 204
    assert browser.get(f"{base}/sessions/whoami").status_code == 401


# --- helpers for the flows below ----------------------------------------------------------------

NEW_PASSWORD = "another-staple-horse-31"


class Jar:
    """A browser's cookie jar for SDK calls: a `requests.Session` keeps the cookies the server
    sets, and every SDK call gets them back as its `cookie=` header (as an SSR app forwards them)."""

    def __init__(self, base: str):
        self.session = requests.Session()
        self.host = urlsplit(base).hostname

    def absorb(self, headers) -> None:
        for line in headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(line).items():
                if morsel["max-age"] in ("0", "-1") or morsel.value == "":
                    self.session.cookies.set(name, None, domain=self.host)
                else:
                    self.session.cookies.set(name, morsel.value, domain=self.host, path=morsel["path"] or "/")

    def names(self) -> set[str]:
        return {c.name for c in self.session.cookies}

    def header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)

    def call(self, method, *args, **kwargs):
        """Calls an SDK method with this jar's cookies (when it takes a `cookie` parameter: the
        registration init does not), keeps the cookies it sets, returns its data."""
        endpoint = getattr(method.__self__, method.__name__ + "_endpoint")
        if "cookie" in endpoint.params_map["all"]:
            kwargs["cookie"] = self.header()
        data, _, headers = method(*args, _return_http_data_only=False, **kwargs)
        self.absorb(headers)
        return data


def csrf_of(flow) -> str:
    return node(flow, "csrf_token").attributes.value


def node(flow, name: str):
    return next(n for n in flow.ui.nodes.value if n.attributes.get("name") == name)


def error_body(exc: ApiException) -> dict:
    return json.loads(exc.body)


def native_login(frontend: FrontendApi, identifier: str, password: str = PASSWORD):
    flow = frontend.create_native_login_flow()
    return frontend.update_login_flow(flow.id, UpdateLoginFlowBody(method="password", identifier=identifier, password=password))


def browser_login(frontend: FrontendApi, jar: Jar, identifier: str, password: str = PASSWORD):
    flow = jar.call(frontend.create_browser_login_flow)
    return jar.call(
        frontend.update_login_flow, flow.id,
        UpdateLoginFlowBody(method="password", identifier=identifier, password=password, csrf_token=csrf_of(flow)),
    )


def next_token(headers) -> str | None:
    """The page_token of the Link header's rel="next", or None on the last page."""
    for part in headers.get("Link", "").split(","):
        if 'rel="next"' in part:
            url = part.split(";")[0].strip().strip("<>")
            return parse_qs(urlsplit(url).query)["page_token"][0]
    return None


def b64(raw: bytes) -> str:
    return b64encode(raw).decode()


# --- IdentityApi --------------------------------------------------------------------------------


def test_batch_patch_identities_creates_all_or_nothing(kratos_admin, kratos_public):
    admin, frontend = IdentityApi(kratos_admin), FrontendApi(kratos_public)
    a, b = email(), email()
    pa, pb = str(uuid.uuid4()), str(uuid.uuid4())
    body = PatchIdentitiesBody(identities=[
        IdentityPatch(create=create_body(a), patch_id=pa),
        IdentityPatch(create=create_body(b), patch_id=pb),
    ])
    result = admin.batch_patch_identities(patch_identities_body=body)
    assert [(r.action, r.patch_id) for r in result.identities] == [("create", pa), ("create", pb)]
    for r, address in zip(result.identities, [a, b]):
        assert admin.get_identity(r.identity).traits["email"] == address
    assert native_login(frontend, b).session.identity.id == result.identities[1].identity

    # Kratos v1.1 writes a batch in one transaction: one conflicting item fails the whole batch
    # with 409 (per-item `error` results, action "error", came with v1.2; the 1.1.0 SDK's enum
    # for `action` is ["create"] only).
    c = email()
    conflict = PatchIdentitiesBody(identities=[
        IdentityPatch(create=create_body(c)),
        IdentityPatch(create=create_body(a)),
    ])
    with pytest.raises(ApiException) as err:
        admin.batch_patch_identities(patch_identities_body=conflict)
    assert err.value.status == 409
    assert error_body(err.value)["error"]["code"] == 409
    assert admin.list_identities(credentials_identifier=c) == []
    assert [i.id for i in admin.list_identities(credentials_identifier=a)] == [result.identities[0].identity]


def test_delete_identity_credentials_only_removes_second_factors(kratos_admin):
    admin = IdentityApi(kratos_admin)
    created = create(admin, email())
    # Kratos: password and oidc are first factors → 400; a type the identity lacks → 404.
    with pytest.raises(ApiException) as first:
        admin.delete_identity_credentials(created.id, "password")
    assert first.value.status == 400
    assert error_body(first.value)["error"]["reason"] == "You can't remove first factor credentials."
    with pytest.raises(ApiException) as missing:
        admin.delete_identity_credentials(created.id, "totp")
    assert missing.value.status == 404
    assert error_body(missing.value)["error"]["reason"] == "You tried to remove a totp but this user have no totp set up."
    with pytest.raises(ApiException) as unknown:
        admin.delete_identity_credentials(str(uuid.uuid4()), "totp")
    assert unknown.value.status == 404
    assert admin.get_identity(created.id).credentials["password"].identifiers == [created.traits["email"]]


def test_list_identities_pages_with_page_token_to_the_end(kratos_admin):
    admin = IdentityApi(kratos_admin)
    mine = {create(admin, email()).id for _ in range(5)}
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"page_size": 2, **({"page_token": token} if token else {})}
        page, status, headers = admin.list_identities(_return_http_data_only=False, **kwargs)
        assert status == 200
        assert len(page) <= 2
        assert 'rel="first"' in headers["Link"]
        seen += [i.id for i in page]
        pages += 1
        token = next_token(headers)
        if token is None:
            break
    assert len(seen) == len(set(seen)), "a keyset page never repeats an identity"
    assert mine <= set(seen)
    assert pages >= 3
    assert len(seen) == len(admin.list_identities(page_size=500))


def pbkdf2_hash(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 1000, 32)
    strip = lambda raw: b64(raw).rstrip("=")  # noqa: E731 (raw base64, no padding)
    return f"$pbkdf2-sha256$i=1000,l=32${strip(salt)}${strip(digest)}"


def scrypt_hash(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**10, r=8, p=1, dklen=32)
    return f"$scrypt$ln=10,r=8,p=1${b64(salt)}${b64(digest)}"


# bcrypt (cost 4) of PASSWORD, made by libxcrypt's crypt(3), not by Quartet.
BCRYPT_OF_PASSWORD = "$2b$04$ZqaZfVO6baP3QSJZkJe55eh9u8Qmvn96fiYfkrM5yAK4X8SI29OMK"


@pytest.mark.parametrize("kind", ["bcrypt", "pbkdf2", "scrypt"])
def test_import_hashed_password_then_login_with_the_plain_one(kratos_admin, kratos_public, kind):
    admin, frontend = IdentityApi(kratos_admin), FrontendApi(kratos_public)
    hashed = {"bcrypt": BCRYPT_OF_PASSWORD, "pbkdf2": pbkdf2_hash(PASSWORD), "scrypt": scrypt_hash(PASSWORD)}[kind]
    address = email()
    created = create(admin, address, password=None, hashed=hashed)
    with pytest.raises(ApiException) as wrong:
        native_login(frontend, address, "not-the-password-1")
    assert wrong.value.status == 400
    login = native_login(frontend, address)
    assert login.session.identity.id == created.id
    # Kratos re-hashes an imported hash with the configured hasher on the first login.
    stored = admin.get_identity(created.id, include_credential=["password"]).credentials["password"].config
    assert stored["hashed_password"].startswith("$2")
    assert native_login(frontend, address).session.identity.id == created.id


def test_admin_sessions_paging_active_expand_disable_and_delete(kratos_admin, kratos_public):
    admin, frontend = IdentityApi(kratos_admin), FrontendApi(kratos_public)
    address = email()
    identity = create(admin, address)
    logins = [native_login(frontend, address) for _ in range(3)]
    ids = {l.session.id for l in logins}

    listed = admin.list_identity_sessions(identity.id)
    assert {s.id for s in listed} == ids
    disabled = logins[0].session.id
    admin.disable_session(disabled)
    with pytest.raises(ApiException) as unauth:
        frontend.to_session(x_session_token=logins[0].session_token)
    assert unauth.value.status == 401

    def walk(**filters):
        seen, token = [], None
        while True:
            page, _, headers = admin.list_sessions(page_size=1, _return_http_data_only=False, **filters, **({"page_token": token} if token else {}))
            assert len(page) <= 1
            seen += page
            token = next_token(headers)
            if token is None:
                return seen

    everything = walk()
    assert len({s.id for s in everything}) == len(everything)
    assert ids <= {s.id for s in everything}
    active = walk(active=True)
    assert all(s.active for s in active)
    assert ids - {disabled} <= {s.id for s in active} and disabled not in {s.id for s in active}
    inactive = walk(active=False)
    assert disabled in {s.id for s in inactive} and not any(s.active for s in inactive)

    # Without expand, Kratos leaves identity and devices out.
    plain = admin.get_session(logins[1].session.id)
    assert plain.id == logins[1].session.id
    assert "identity" not in plain and "devices" not in plain
    # The 1.1.0 SDK's enum for `expand` is empty (its generator dropped the values of Kratos'
    # array enum), so it refuses every value client-side; clients fill in Kratos' documented ones.
    api = IdentityApi(kratos_admin)
    api.get_session_endpoint.allowed_values[("expand",)] = {"IDENTITY": "Identity", "DEVICES": "Devices"}
    full = api.get_session(logins[1].session.id, expand=["Identity", "Devices"])
    assert full.identity.id == identity.id
    assert full.identity.traits["email"] == address
    assert len(full.devices) == 1 and full.devices[0].ip_address == "127.0.0.1"
    with pytest.raises(ApiException) as absent:
        admin.get_session(str(uuid.uuid4()))
    assert absent.value.status == 404

    admin.delete_identity_sessions(identity.id)
    assert admin.list_identity_sessions(identity.id) == []
    with pytest.raises(ApiException) as gone:
        frontend.to_session(x_session_token=logins[2].session_token)
    assert gone.value.status == 401
    with pytest.raises(ApiException) as gone:
        admin.get_session(logins[2].session.id)
    assert gone.value.status == 404
    # Kratos answers 404 when there is no session left to delete.
    with pytest.raises(ApiException) as none_left:
        admin.delete_identity_sessions(identity.id)
    assert none_left.value.status == 404


# --- FrontendApi: browser flows through a cookie jar ---------------------------------------------


def test_browser_registration_with_and_without_csrf(quartet, kratos_public, kratos_admin):
    frontend = FrontendApi(kratos_public)
    jar = Jar(quartet.identity_public)
    flow = jar.call(frontend.create_browser_registration_flow)
    assert flow.type == "browser"
    assert any(n.startswith("csrf_token_") for n in jar.names())
    assert node(flow, "traits.email").attributes.type == "email"
    again = jar.call(frontend.get_registration_flow, flow.id)
    assert again.id == flow.id

    address = email()
    body = dict(method="password", password=PASSWORD, traits={"email": address})
    with pytest.raises(ApiException) as csrf:
        frontend.update_registration_flow(flow.id, UpdateRegistrationFlowBody(**body), cookie=jar.header())
    assert csrf.value.status == 403
    err = error_body(csrf.value)["error"]
    assert err["id"] == "security_csrf_violation"
    assert err["code"] == 403 and err["status"] == "Forbidden"
    assert err["message"] == "the request was rejected to protect you from Cross-Site-Request-Forgery"
    assert IdentityApi(kratos_admin).list_identities(credentials_identifier=address) == []

    # Without its cookie, the flow cannot be read either.
    with pytest.raises(ApiException) as no_cookie:
        frontend.get_registration_flow(flow.id)
    assert no_cookie.value.status == 403

    done = jar.call(frontend.update_registration_flow, flow.id, UpdateRegistrationFlowBody(csrf_token=csrf_of(again), **body))
    assert done.identity.traits["email"] == address
    assert "session_token" not in done
    assert [i.id for i in IdentityApi(kratos_admin).list_identities(credentials_identifier=address)] == [done.identity.id]


def test_browser_settings_profile_and_password(quartet, kratos_public, kratos_admin):
    frontend = FrontendApi(kratos_public)
    address = email()
    create(IdentityApi(kratos_admin), address)
    jar = Jar(quartet.identity_public)
    login = browser_login(frontend, jar, address)
    assert "session_token" not in login
    assert "ory_kratos_session" in jar.names()

    flow = jar.call(frontend.create_browser_settings_flow)
    assert flow.type == "browser" and flow.state == "show_form"
    assert flow.identity.id == login.session.identity.id
    flow = jar.call(frontend.get_settings_flow, flow.id)
    saved = jar.call(frontend.update_settings_flow, flow.id, UpdateSettingsFlowBody(
        method="profile", traits={"email": address, "name": "Cleo"}, csrf_token=csrf_of(flow)))
    assert saved.state == "success"
    assert saved.identity.traits["name"] == "Cleo"
    assert 1050001 in [m.id for m in saved.ui.messages.value]
    assert jar.call(frontend.to_session).identity.traits["name"] == "Cleo"

    changed = jar.call(frontend.update_settings_flow, flow.id, UpdateSettingsFlowBody(
        method="password", password=NEW_PASSWORD, csrf_token=csrf_of(saved)))
    assert changed.state == "success"
    with pytest.raises(ApiException):
        native_login(frontend, address, PASSWORD)
    assert native_login(frontend, address, NEW_PASSWORD).session.identity.id == flow.identity.id


def test_browser_logout_flow_with_return_to(quartet, kratos_public, kratos_admin):
    frontend = FrontendApi(kratos_public)
    address = email()
    create(IdentityApi(kratos_admin), address)
    back = f"{quartet.proxy_proxy}/signed-out"

    # SDK (JSON): 204.
    jar = Jar(quartet.identity_public)
    browser_login(frontend, jar, address)
    logout = jar.call(frontend.create_browser_logout_flow, return_to=back)
    assert logout.logout_token.startswith("ory_lo_")
    query = parse_qs(urlsplit(logout.logout_url).query)
    assert query["token"] == [logout.logout_token] and query["return_to"] == [back]
    with pytest.raises(ApiException) as wrong:
        jar.call(frontend.update_logout_flow, token="ory_lo_" + "x" * 32, return_to=back)
    assert wrong.value.status == 403
    assert jar.call(frontend.update_logout_flow, token=logout.logout_token, return_to=back) is None
    with pytest.raises(ApiException) as out:
        jar.call(frontend.to_session)
    assert out.value.status == 401

    # A browser following the logout URL: 303 to return_to, session cookie cleared.
    jar = Jar(quartet.identity_public)
    browser_login(frontend, jar, address)
    logout = jar.call(frontend.create_browser_logout_flow, return_to=back)
    r = jar.session.get(logout.logout_url, allow_redirects=False)
    assert r.status_code == 303
    assert r.headers["Location"] == back
    assert "ory_kratos_session" not in jar.session.cookies.get_dict()


def test_my_sessions_list_and_revoke(kratos_public, kratos_admin):
    frontend = FrontendApi(kratos_public)
    address = email()
    create(IdentityApi(kratos_admin), address)
    logins = [native_login(frontend, address) for _ in range(4)]
    me = logins[0].session_token
    others = frontend.list_my_sessions(x_session_token=me)
    assert {s.id for s in others} == {l.session.id for l in logins[1:]}, "the current session is not listed"
    assert all(s.identity.traits["email"] == address for s in others)

    frontend.disable_my_session(logins[1].session.id, x_session_token=me)
    with pytest.raises(ApiException) as revoked:
        frontend.to_session(x_session_token=logins[1].session_token)
    assert revoked.value.status == 401
    with pytest.raises(ApiException) as own:
        frontend.disable_my_session(logins[0].session.id, x_session_token=me)
    assert own.value.status == 400
    with pytest.raises(ApiException) as foreign:
        frontend.disable_my_session(str(uuid.uuid4()), x_session_token=me)
    assert foreign.value.status == 404

    assert frontend.disable_my_other_sessions(x_session_token=me).count == 2
    for l in logins[2:]:
        with pytest.raises(ApiException):
            frontend.to_session(x_session_token=l.session_token)
    assert frontend.to_session(x_session_token=me).id == logins[0].session.id
    assert frontend.list_my_sessions(x_session_token=me) == []
    with pytest.raises(ApiException) as anonymous:
        frontend.list_my_sessions()
    assert anonymous.value.status == 401


@pytest.mark.no_openapi_check  # the 303 to the error UI is read with requests, not the SDK
def test_flow_error_of_a_failed_browser_flow(quartet, kratos_public):
    frontend = FrontendApi(kratos_public)
    browser = requests.Session()
    base = quartet.identity_public
    r = browser.get(f"{base}/self-service/registration/browser", allow_redirects=False)
    assert r.status_code == 303
    flow_id = parse_qs(urlsplit(r.headers["Location"]).query)["flow"][0]
    # A form post without csrf_token: Kratos stores the error and sends the browser to the error UI.
    r = browser.post(f"{base}/self-service/registration?flow={flow_id}",
                     data={"method": "password", "password": PASSWORD, "traits.email": email()}, allow_redirects=False)
    assert r.status_code == 303, r.text
    location = urlsplit(r.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://www.ory.sh/kratos/docs/fallback/error"
    error_id = parse_qs(location.query)["id"][0]

    flow_error = frontend.get_flow_error(error_id)
    assert flow_error.id == error_id
    assert flow_error.error["id"] == "security_csrf_violation"
    assert flow_error.error["code"] == 403
    assert flow_error.created_at is not None

    with pytest.raises(ApiException) as unknown:
        frontend.get_flow_error(str(uuid.uuid4()))
    assert unknown.value.status == 404
    stub = frontend.get_flow_error("stub:500")
    assert stub.error["code"] == 500


# --- FrontendApi: native flows --------------------------------------------------------------------


def test_native_settings_with_session_token(kratos_public, kratos_admin):
    frontend = FrontendApi(kratos_public)
    address = email()
    create(IdentityApi(kratos_admin), address)
    token = native_login(frontend, address).session_token
    flow = frontend.create_native_settings_flow(x_session_token=token)
    assert flow.type == "api"
    assert frontend.get_settings_flow(flow.id, x_session_token=token).id == flow.id
    saved = frontend.update_settings_flow(
        flow.id, UpdateSettingsFlowBody(method="profile", traits={"email": address, "name": "Dora"}), x_session_token=token)
    assert saved.state == "success"
    assert frontend.to_session(x_session_token=token).identity.traits["name"] == "Dora"
    saved = frontend.update_settings_flow(flow.id, UpdateSettingsFlowBody(method="password", password=NEW_PASSWORD), x_session_token=token)
    assert saved.state == "success"
    assert native_login(frontend, address, NEW_PASSWORD).session.identity.traits["name"] == "Dora"
    with pytest.raises(ApiException) as anonymous:
        frontend.create_native_settings_flow()
    assert anonymous.value.status == 401


def test_native_login_refresh_reauthenticates_the_session(kratos_public, kratos_admin):
    frontend = FrontendApi(kratos_public)
    address = email()
    create(IdentityApi(kratos_admin), address)
    first = native_login(frontend, address)
    token = first.session_token
    with pytest.raises(ApiException) as already:
        frontend.create_native_login_flow(x_session_token=token)
    assert already.value.status == 400
    assert error_body(already.value)["error"]["id"] == "session_already_available"

    # a second factor needs the first one's session: aal2 with the token is a flow asking for it,
    # without one Kratos' 401 session_aal1_required
    assert str(frontend.create_native_login_flow(aal="aal2", x_session_token=token).requested_aal) == "aal2"
    with pytest.raises(ApiException) as no_session:
        frontend.create_native_login_flow(aal="aal2")
    assert no_session.value.status == 401
    assert error_body(no_session.value)["error"]["id"] == "session_aal1_required"

    flow = frontend.create_native_login_flow(refresh=True, x_session_token=token)
    assert flow.refresh is True
    again = frontend.update_login_flow(
        flow.id, UpdateLoginFlowBody(method="password", identifier=address, password=PASSWORD), x_session_token=token)
    assert again.session.id == first.session.id
    assert again.session.authenticated_at >= first.session.authenticated_at
    assert [m.method for m in again.session.authentication_methods.value] == ["password", "password"]


def test_native_login_flow_unknown_id_and_registration_schema_violation(kratos_public):
    frontend = FrontendApi(kratos_public)
    with pytest.raises(ApiException) as unknown:
        frontend.get_login_flow(str(uuid.uuid4()))
    assert unknown.value.status == 404
    assert error_body(unknown.value)["error"]["code"] == 404

    flow = frontend.create_native_registration_flow()
    with pytest.raises(ApiException) as invalid:
        frontend.update_registration_flow(flow.id, UpdateRegistrationFlowBody(method="password", password=PASSWORD, traits={"email": "not-an-email"}))
    assert invalid.value.status == 400
    body = error_body(invalid.value)
    assert body["id"] == flow.id
    nodes = {n["attributes"].get("name"): n for n in body["ui"]["nodes"]}
    assert [m["id"] for m in nodes["traits.email"]["messages"]] == [4000001]
    assert nodes["traits.email"]["attributes"]["value"] == "not-an-email"
    assert nodes["password"]["messages"] == []


@pytest.fixture(scope="module")
def short_lived_flows(quartet, tmp_path_factory):
    """A second server (on the same PostgreSQL database; its own in-memory one for `memory`)
    whose login flows expire after one second."""
    original = conftest.build_config

    def build(workdir, ports, dsn):
        cfg = original(workdir, ports, dsn)
        cfg["identity"]["selfservice"]["flows"] = {"login": {"lifespan": "1s"}}
        return cfg

    # Patched only while this server starts: every other server keeps the shared config.
    conftest.build_config = build
    try:
        q = conftest.start_quartet(quartet.backend, quartet.dsn, tmp_path_factory.mktemp("short-flows"))
    finally:
        conftest.build_config = original
    try:
        yield q
    finally:
        conftest.stop_quartet(q)


def test_expired_login_flow_answers_410(short_lived_flows):
    import ory_kratos_client

    with ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=short_lived_flows.identity_public)) as client:
        frontend = FrontendApi(client)
        flow = frontend.create_native_login_flow()
        time.sleep(1.2)
        with pytest.raises(ApiException) as expired:
            frontend.get_login_flow(flow.id)
        assert expired.value.status == 410
        body = error_body(expired.value)
        assert body["error"]["id"] == "self_service_flow_expired"
        assert body["use_flow_id"] == flow.id
        assert body["since"] > 0 and body["expired_at"]
        with pytest.raises(ApiException) as submit:
            frontend.update_login_flow(flow.id, UpdateLoginFlowBody(method="password", identifier=email(), password=PASSWORD))
        assert submit.value.status == 410


def test_session_token_exchange_without_a_code_behind_it(quartet, kratos_public):
    """exchangeSessionToken: Quartet issues no exchange codes (no social sign-in yet), so any
    pair of codes is Kratos' 404; without both codes it is Kratos' 400."""
    frontend = FrontendApi(kratos_public)
    with pytest.raises(ApiException) as unknown:
        frontend.exchange_session_token(init_code="init-1", return_to_code="return-1")
    assert unknown.value.status == 404
    assert json.loads(unknown.value.body)["error"]["reason"] == 'no session yet for this "code"'
    r = requests.get(f"{quartet.identity_public}/sessions/token-exchange", params={"init_code": "init-1"})
    assert r.status_code == 400
    assert r.json()["error"]["reason"] == '"init_code" and "return_to_code" query params must be set'
