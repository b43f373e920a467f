"""Keto compat: every RelationshipApi and PermissionApi operation of ory-keto-client 25.4.0
against the real binary, configured with the seed's OPL model (config/imprun/namespaces.keto.ts)
as a Keto user would (`permission.namespaces.location: file://...`). Every SDK response is
validated against Keto's api.json by conftest's recorder (openapi_check).

MetadataApi (health, version) is covered on every Keto port by test_metadata.py.
"""

from __future__ import annotations

import shutil

import pytest

import conftest

ory_keto_client = pytest.importorskip("ory_keto_client")
from ory_keto_client.api.permission_api import PermissionApi  # noqa: E402
from ory_keto_client.api.relationship_api import RelationshipApi  # noqa: E402
from ory_keto_client.exceptions import ApiException, ForbiddenException  # noqa: E402
from ory_keto_client.models.batch_check_permission_body import BatchCheckPermissionBody  # noqa: E402
from ory_keto_client.models.create_relationship_body import CreateRelationshipBody  # noqa: E402
from ory_keto_client.models.post_check_permission_body import PostCheckPermissionBody  # noqa: E402
from ory_keto_client.models.post_check_permission_or_error_body import (  # noqa: E402
    PostCheckPermissionOrErrorBody,
)
from ory_keto_client.models.relationship import Relationship  # noqa: E402
from ory_keto_client.models.relationship_patch import RelationshipPatch  # noqa: E402
from ory_keto_client.models.subject_set import SubjectSet  # noqa: E402

SEED_OPL = conftest.REPO / "config" / "imprun" / "namespaces.keto.ts"


@pytest.fixture(scope="module", params=conftest.BACKENDS)
def keto(request, tmp_path_factory):
    """A Quartet whose permission section points at the seed's OPL file."""
    backend = request.param
    workdir = tmp_path_factory.mktemp(f"keto-{backend}")
    opl = workdir / "namespaces.keto.ts"
    shutil.copy(SEED_OPL, opl)
    original = conftest.build_config

    def build(wd, ports, dsn):
        cfg = original(wd, ports, dsn)
        cfg["permission"]["namespaces"] = {"location": opl.as_uri()}
        cfg["permission"]["limit"] = {"max_batch_check_size": 4}
        return cfg

    pg = None
    dsn = "memory"
    if backend == "postgres":
        pg = conftest.PostgresDatabase(conftest.os.environ["TEST_DATABASE_URL"])
        dsn = pg.url
    conftest.build_config = build
    try:
        q = conftest.start_quartet(backend, dsn, workdir)
    finally:
        conftest.build_config = original
    try:
        yield q
    finally:
        conftest.stop_quartet(q)
        if pg is not None:
            pg.drop()


def client(url: str):
    return ory_keto_client.ApiClient(ory_keto_client.Configuration(host=url))


@pytest.fixture
def write(keto):
    with client(keto.permission_write) as c:
        yield RelationshipApi(c)


@pytest.fixture
def read(keto):
    with client(keto.permission_read) as c:
        yield RelationshipApi(c)


@pytest.fixture
def perm(keto):
    with client(keto.permission_read) as c:
        yield PermissionApi(c)


def member(org: str, subject: str, relation: str = "members") -> CreateRelationshipBody:
    return CreateRelationshipBody(
        namespace="Organization", object=org, relation=relation, subject_id=subject
    )


def gateway_viewers(gw: str, org: str) -> CreateRelationshipBody:
    return CreateRelationshipBody(
        namespace="Gateway",
        object=gw,
        relation="viewers",
        subject_set=SubjectSet(namespace="Organization", object=org, relation="members"),
    )


@pytest.fixture
def seeded(write):
    """Org `o-<n>` with alice as member and bob as admin; gateway `g-<n>` inheriting viewers."""
    n = conftest.secrets.token_hex(4)
    org, gw = f"o-{n}", f"g-{n}"
    write.create_relationship(create_relationship_body=member(org, "alice"))
    write.create_relationship(create_relationship_body=member(org, "bob", "admins"))
    write.create_relationship(create_relationship_body=gateway_viewers(gw, org))
    yield org, gw
    write.delete_relationships(namespace="Organization", object=org)
    write.delete_relationships(namespace="Gateway", object=gw)


def test_create_relationship_echoes_the_tuple(write, read):
    created = write.create_relationship(create_relationship_body=member("o-create", "zoe"))
    assert (created.namespace, created.object, created.relation, created.subject_id) == (
        "Organization",
        "o-create",
        "members",
        "zoe",
    )
    page = read.get_relationships(namespace="Organization", object="o-create")
    assert [t.subject_id for t in page.relation_tuples] == ["zoe"]
    assert page.next_page_token == ""
    write.delete_relationships(namespace="Organization", object="o-create", subject_id="zoe")
    assert read.get_relationships(namespace="Organization", object="o-create").relation_tuples == []


def test_create_relationship_in_unknown_namespace_is_404(write):
    body = CreateRelationshipBody(namespace="Nope", object="x", relation="y", subject_id="z")
    with pytest.raises(ApiException) as e:
        write.create_relationship(create_relationship_body=body)
    assert e.value.status == 404


def test_get_relationships_paginates_to_the_end(write, read):
    for i in range(7):
        write.create_relationship(create_relationship_body=member("o-pages", f"u{i}"))
    seen, token, pages = [], None, 0
    while True:
        page = read.get_relationships(namespace="Organization", object="o-pages", page_size=3, page_token=token)
        pages += 1
        seen += [t.subject_id for t in page.relation_tuples]
        if not page.next_page_token:
            break
        token = page.next_page_token
    assert sorted(seen) == [f"u{i}" for i in range(7)]
    assert pages == 3
    with pytest.raises(ApiException) as e:
        read.get_relationships(namespace="Organization", object="o-pages", page_token=token + "x")
    assert e.value.status == 400
    write.delete_relationships(namespace="Organization", object="o-pages")


def test_get_relationships_filters_by_subject_set(seeded, read):
    org, gw = seeded
    page = read.get_relationships(
        subject_set_namespace="Organization", subject_set_object=org, subject_set_relation="members"
    )
    assert [(t.namespace, t.object, t.relation) for t in page.relation_tuples] == [("Gateway", gw, "viewers")]
    assert page.relation_tuples[0].subject_set.relation == "members"


def test_list_relationship_namespaces(read):
    names = [n.name for n in read.list_relationship_namespaces().namespaces]
    assert names == ["User", "Organization", "Gateway"]


def test_check_permission_or_error_raises_forbidden_on_deny(seeded, perm):
    org, gw = seeded
    ok = perm.check_permission_or_error(namespace="Gateway", object=gw, relation="view", subject_id="alice")
    assert ok.allowed is True
    with pytest.raises(ForbiddenException) as e:
        perm.check_permission_or_error(namespace="Gateway", object=gw, relation="manage", subject_id="alice")
    assert e.value.status == 403
    assert conftest.json.loads(e.value.body) == {"allowed": False}


def test_check_permission_openapi_answers_false_with_200(seeded, perm):
    org, gw = seeded
    assert perm.check_permission(namespace="Organization", object=org, relation="manage", subject_id="bob").allowed
    assert not perm.check_permission(namespace="Gateway", object=gw, relation="manage", subject_id="alice").allowed
    # depth 2 cannot reach Organization#members through viewers
    assert not perm.check_permission(
        namespace="Gateway", object=gw, relation="view", subject_id="alice", max_depth=2
    ).allowed
    # unknown relation of an OPL class: 400
    with pytest.raises(ApiException) as e:
        perm.check_permission(namespace="Gateway", object=gw, relation="fly", subject_id="alice")
    assert e.value.status == 400


def test_post_check_permission_and_or_error(seeded, perm):
    org, gw = seeded
    body = PostCheckPermissionBody(namespace="Organization", object=org, relation="view", subject_id="bob")
    assert perm.post_check_permission(post_check_permission_body=body).allowed
    denied = PostCheckPermissionOrErrorBody(namespace="Gateway", object=gw, relation="delete", subject_id="bob")
    with pytest.raises(ForbiddenException):
        perm.post_check_permission_or_error(post_check_permission_or_error_body=denied)
    allowed = PostCheckPermissionOrErrorBody(namespace="Organization", object=org, relation="view", subject_id="alice")
    assert perm.post_check_permission_or_error(post_check_permission_or_error_body=allowed).allowed


def test_batch_check_permission(seeded, perm):
    org, gw = seeded
    tuples = [
        Relationship(namespace="Gateway", object=gw, relation="view", subject_id="alice"),
        Relationship(namespace="Gateway", object=gw, relation="manage", subject_id="alice"),
        Relationship(namespace="Nope", object=gw, relation="view", subject_id="alice"),
    ]
    res = perm.batch_check_permission(batch_check_permission_body=BatchCheckPermissionBody(tuples=tuples))
    assert [r.allowed for r in res.results] == [True, False, False]
    assert res.results[0].error is None
    assert "Nope" in res.results[2].error
    too_many = BatchCheckPermissionBody(tuples=tuples + tuples)
    with pytest.raises(ApiException) as e:
        perm.batch_check_permission(batch_check_permission_body=too_many)
    assert e.value.status == 400


def test_expand_permissions(seeded, perm):
    org, gw = seeded
    tree = perm.expand_permissions(namespace="Gateway", object=gw, relation="viewers")
    assert tree.type == "union"
    assert tree.tuple.subject_set.object == gw
    [child] = tree.children
    assert child.type == "union"
    assert child.tuple.subject_set.namespace == "Organization"
    assert [leaf.tuple.subject_id for leaf in child.children] == ["alice"]
    assert child.children[0].type == "leaf"


def test_patch_relationships_is_atomic(write, read):
    ok = Relationship(namespace="Organization", object="o-patch", relation="members", subject_id="pat")
    bad = Relationship(namespace="Nope", object="o-patch", relation="members", subject_id="pat")
    with pytest.raises(ApiException) as e:
        write.patch_relationships(
            relationship_patch=[
                RelationshipPatch(action="insert", relation_tuple=ok),
                RelationshipPatch(action="insert", relation_tuple=bad),
            ]
        )
    assert e.value.status == 404
    assert read.get_relationships(namespace="Organization", object="o-patch").relation_tuples == []
    write.patch_relationships(relationship_patch=[RelationshipPatch(action="insert", relation_tuple=ok)])
    assert len(read.get_relationships(namespace="Organization", object="o-patch").relation_tuples) == 1
    write.patch_relationships(relationship_patch=[RelationshipPatch(action="delete", relation_tuple=ok)])
    assert read.get_relationships(namespace="Organization", object="o-patch").relation_tuples == []


def test_delete_relationships_requires_namespace(write):
    with pytest.raises(ApiException) as e:
        write.delete_relationships(object="x")
    assert e.value.status == 400


def test_check_opl_syntax(keto):
    with client(keto.permission_opl) as c:
        api = RelationshipApi(c)
        assert api.check_opl_syntax(body=SEED_OPL.read_text()).errors is None
        res = api.check_opl_syntax(body="class A implements Namespace {\n  related: { x: Nope[] }\n}")
        [err] = res.errors
        assert err.message == 'namespace "Nope" was not declared'
        assert err.start.line >= 1 and err.start.column >= 0
