"""Kratos v1.1 identity role through the official `ory-kratos-client==1.1.0`: the admin
IdentityApi and the FrontendApi's native (api) login/registration flows, whoami and logout,
plus the browser login flow with a `requests` session as the cookie jar. Every SDK response is
validated against Kratos' api.json by conftest's recorder.
"""

import uuid

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

PASSWORD = "correct-horse-battery-9"


def email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


def create(admin: IdentityApi, address: str, password: str | None = PASSWORD):
    kwargs = {}
    if password:
        kwargs["credentials"] = IdentityWithCredentials(
            password=IdentityWithCredentialsPassword(config=IdentityWithCredentialsPasswordConfig(password=password))
        )
    return admin.create_identity(create_identity_body=CreateIdentityBody(schema_id="default", traits={"email": address}, **kwargs))


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
