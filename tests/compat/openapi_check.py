"""Check HTTP responses against Ory's own OpenAPI 3.0 documents (spec/ory/<dir>/api.json).

Given a role ('kratos' | 'hydra' | 'keto' | 'oathkeeper'), a method, a concrete path, a status
code, the response headers and body, find the operation (path templates such as
`/admin/identities/{id}`; literal segments win over templates), check that the status code is
declared (exactly, as `4XX`, or as `default`) and validate a JSON body against the response
schema. OpenAPI 3.0 schemas are converted to JSON Schema draft 4 (`nullable`, `$ref` into
`#/components/...`, `allOf`/`oneOf`/`anyOf`; OpenAPI-only keywords are dropped).

Hooks:
- `Recorder` + `install_sdk_hooks(recorder)`: every request made by one of the four official Ory
  SDKs (they all go through `<package>.rest.RESTClientObject.request`) is recorded with its
  response, so a test can check them all at the end (conftest.py does this for every test).
- `check_response(role, requests.Response)` for plain `requests` calls.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

import jsonschema

REPO = Path(__file__).resolve().parents[2]
SPEC_DIRS = {
    "kratos": "kratos-v1.1.0",
    "hydra": "hydra-v2.2.0",
    "keto": "keto-v0.14.0",
    "oathkeeper": "oathkeeper-v0.40.9",
}
# The SDK package behind each role, for install_sdk_hooks.
SDK_PACKAGES = {
    "kratos": "ory_kratos_client",
    "hydra": "ory_hydra_client",
    "keto": "ory_keto_client",
    "oathkeeper": "ory_oathkeeper_client",
}

# OpenAPI 3.0 Schema Object keywords with no JSON Schema meaning: dropped before validation.
_OPENAPI_ONLY = {
    "nullable",
    "discriminator",
    "readOnly",
    "writeOnly",
    "xml",
    "externalDocs",
    "example",
    "deprecated",
}


class OpenAPIMismatch(AssertionError):
    """A response that does not match the OpenAPI document."""


def _convert(node: Any) -> Any:
    """OpenAPI 3.0 Schema Object -> JSON Schema draft 4 (recursively)."""
    if isinstance(node, list):
        return [_convert(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _OPENAPI_ONLY or key.startswith("x-"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _convert(v) for k, v in value.items()}
        else:
            out[key] = _convert(value)
    disc = node.get("discriminator")
    if isinstance(disc, dict) and disc.get("mapping") and "oneOf" in out:
        # Ory's variants often share the discriminator's plain `type: string` (kratos
        # uiNodeAttributes.node_type), so `oneOf` would match several: dispatch on the value.
        name = disc["propertyName"]
        out.pop("oneOf")
        out["anyOf"] = [
            {"required": [name], "properties": {name: {"enum": [value]}}, "allOf": [{"$ref": ref}]}
            for value, ref in disc["mapping"].items()
        ]
    if node.get("nullable") is True:
        if "$ref" in out or "type" not in out:
            # `nullable` next to $ref/allOf/oneOf: the value may be null or match the schema
            out = {"anyOf": [{"type": "null"}, out]}
        else:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            if "null" not in types:
                out["type"] = types + ["null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = list(out["enum"]) + [None]
    return out


def _format_checker() -> jsonschema.FormatChecker:
    """Formats worth enforcing on the wire: uuid and date-time (RFC 3339)."""
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("uuid", raises=ValueError)
    def _uuid(value: object) -> bool:
        if not isinstance(value, str):
            return True
        uuid.UUID(value)
        return True

    rfc3339 = re.compile(
        r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
    )

    @checker.checks("date-time")
    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or bool(rfc3339.match(value))

    return checker


@dataclass
class Operation:
    role: str
    method: str
    template: str
    op: dict[str, Any]

    @property
    def operation_id(self) -> str:
        return self.op.get("operationId", f"{self.method.upper()} {self.template}")


class Spec:
    """One role's api.json, with its path templates compiled."""

    def __init__(self, role: str):
        if role not in SPEC_DIRS:
            raise ValueError(f"unknown role {role!r}; one of {sorted(SPEC_DIRS)}")
        self.role = role
        self.path = REPO / "spec" / "ory" / SPEC_DIRS[role] / "api.json"
        self.doc = json.loads(self.path.read_text())
        self._components = _convert(self.doc.get("components", {}))
        routes = []
        for template, item in self.doc["paths"].items():
            parts = template.strip("/").split("/")
            regex = "/".join(
                "[^/]+" if re.fullmatch(r"\{[^}]+\}", p) else re.escape(p) for p in parts
            )
            literal = sum(1 for p in parts if not p.startswith("{"))
            routes.append((template, re.compile("^/" + regex + "/?$"), literal, item))
        # most literal segments first: /admin/identities/by/... before /admin/identities/{id}
        routes.sort(key=lambda r: (-r[2], -len(r[0])))
        self._routes = routes
        self._checker = _format_checker()

    def resolve(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Follow a `$ref` to `#/components/...` in the raw document."""
        seen = 0
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"external $ref {ref} not supported")
            node: Any = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            obj = node
            seen += 1
            if seen > 20:
                raise ValueError(f"$ref loop at {ref}")
        return obj

    def find(self, method: str, path: str) -> Operation | None:
        path = urlsplit(path).path or "/"
        method = method.lower()
        for template, regex, _, item in self._routes:
            if regex.match(path) and method in item:
                return Operation(self.role, method, template, item[method])
        return None

    def paths_for(self, path: str) -> list[str]:
        path = urlsplit(path).path or "/"
        return [t for t, regex, _, _ in self._routes if regex.match(path)]

    def validator(self, schema: dict[str, Any]) -> jsonschema.Draft4Validator:
        # Wrap so that `#/components/...` resolves against the document root.
        root = {"allOf": [_convert(schema)], "components": self._components}
        return jsonschema.Draft4Validator(root, format_checker=self._checker)

    def errors(
        self,
        method: str,
        path: str,
        status: int,
        body: bytes | str | None,
        headers: dict[str, str] | None = None,
    ) -> list[str]:
        """Every way in which this response disagrees with the document (empty: it agrees)."""
        where = f"{self.role}: {method.upper()} {urlsplit(path).path} -> {status}"
        op = self.find(method, path)
        if op is None:
            others = self.paths_for(path)
            if others:
                return [f"{where}: method not in api.json for {others}"]
            return [f"{where}: path not in api.json"]
        where = f"{where} ({op.operation_id}, {op.template})"
        responses = op.op.get("responses", {})
        key = None
        for candidate in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
            if candidate in responses:
                key = candidate
                break
        if key is None:
            return [f"{where}: status {status} not declared (declared: {sorted(responses)})"]
        response = self.resolve(responses[key])
        content = response.get("content") or {}
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if isinstance(body, str):
            body = body.encode()
        body = body or b""
        if not content:
            return []
        if not body and status == 204:
            return []
        media = content.get(ctype)
        if media is None and ctype.endswith("+json"):
            media = content.get("application/json")
        if media is None:
            if "application/json" in content and not ctype:
                return [f"{where}: no Content-Type; expected application/json"]
            if "*/*" not in content:
                return [
                    f"{where}: Content-Type {ctype!r} not declared (declared: {sorted(content)})"
                ]
            return []
        schema = media.get("schema")
        if schema is None:
            return []
        if ctype and not (ctype == "application/json" or ctype.endswith("+json")):
            return []
        try:
            value = json.loads(body)
        except ValueError as e:
            return [f"{where}: body is not JSON ({e}): {body[:200]!r}"]
        problems = []
        for err in sorted(self.validator(schema).iter_errors(value), key=lambda e: list(e.path)):
            at = "/".join(str(p) for p in err.absolute_path) or "(root)"
            problems.append(f"{where}: body at {at}: {err.message}")
        return problems

    def check(self, method, path, status, body, headers=None) -> None:
        problems = self.errors(method, path, status, body, headers)
        if problems:
            raise OpenAPIMismatch("\n".join(problems))


@functools.lru_cache(maxsize=None)
def spec(role: str) -> Spec:
    return Spec(role)


def errors(role, method, path, status, body, headers=None) -> list[str]:
    return spec(role).errors(method, path, status, body, headers)


def check(role, method, path, status, body, headers=None) -> None:
    spec(role).check(method, path, status, body, headers)


def check_response(role: str, response) -> None:
    """Check a `requests.Response` (plain HTTP calls in tests)."""
    check(
        role,
        response.request.method,
        response.request.path_url,
        response.status_code,
        response.content,
        dict(response.headers),
    )


# --- recording what the SDKs do ---------------------------------------------------------------


@dataclass
class Exchange:
    role: str
    method: str
    url: str
    status: int
    body: bytes
    headers: dict[str, str]

    def __str__(self) -> str:
        return f"{self.role} {self.method} {self.url} -> {self.status}"


@dataclass
class Recorder:
    exchanges: list[Exchange] = field(default_factory=list)

    def add(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)

    def problems(self) -> list[str]:
        out = []
        for ex in self.exchanges:
            out.extend(errors(ex.role, ex.method, ex.url, ex.status, ex.body, ex.headers))
        return out

    def check(self) -> None:
        problems = self.problems()
        if problems:
            raise OpenAPIMismatch(
                "responses that do not match Ory's api.json:\n  " + "\n  ".join(problems)
            )

    def clear(self) -> None:
        self.exchanges.clear()


def _headers_of(resp) -> dict[str, str]:
    for attr in ("headers", "getheaders"):
        h = getattr(resp, attr, None)
        if callable(h):
            h = h()
        if h is not None:
            try:
                return {str(k): str(v) for k, v in dict(h).items()}
            except (TypeError, ValueError):
                pass
    return {}


def _read_body(resp) -> bytes:
    """Body of whatever a RESTClientObject.request returned, without consuming it for the SDK."""
    # ory_keto_client (openapi-generator 7.x): RESTResponse.read() caches into .data
    if hasattr(resp, "response") and hasattr(resp, "read") and getattr(resp, "data", None) is None:
        data = resp.read()
        return data or b""
    data = getattr(resp, "data", None)  # older RESTResponse, or a urllib3 response (cached)
    if isinstance(data, str):
        return data.encode()
    return data or b""


def _record(recorder: Recorder, role: str, method: str, url: str, resp) -> None:
    status = getattr(resp, "status", None)
    if status is None:
        return
    recorder.add(
        Exchange(role, method.upper(), url, int(status), _read_body(resp), _headers_of(resp))
    )


def install_sdk_hooks(recorder: Recorder, monkeypatch) -> None:
    """Patch every installed Ory SDK so that its responses land in `recorder`.

    `monkeypatch` is pytest's fixture (undone after the test)."""
    import importlib

    for role, package in SDK_PACKAGES.items():
        try:
            rest = importlib.import_module(f"{package}.rest")
            exceptions = importlib.import_module(f"{package}.exceptions")
        except ImportError:
            continue
        original = rest.RESTClientObject.request
        api_exception = exceptions.ApiException

        def request(self, method, url, *args, __orig=original, __role=role, __exc=api_exception, **kw):
            try:
                resp = __orig(self, method, url, *args, **kw)
            except __exc as e:
                # old generator raises for non-2xx inside request(); e carries the response
                if getattr(e, "status", 0):
                    body = e.body if e.body is not None else b""
                    if isinstance(body, str):
                        body = body.encode()
                    recorder.add(
                        Exchange(__role, method.upper(), url, int(e.status), body, dict(e.headers or {}))
                    )
                raise
            _record(recorder, __role, method, url, resp)
            return resp

        monkeypatch.setattr(rest.RESTClientObject, "request", request)


def iter_operations(role: str) -> Iterable[Operation]:
    s = spec(role)
    for template, item in s.doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "put", "post", "delete", "patch", "head", "options"):
                yield Operation(role, method, template, op)


def _main(argv: list[str]) -> int:
    """python openapi_check.py ROLE METHOD PATH STATUS [BODY_FILE]: check one response."""
    if len(argv) not in (4, 5):
        print(_main.__doc__)
        return 2
    role, method, path, status = argv[:4]
    body = Path(argv[4]).read_bytes() if len(argv) == 5 else b""
    problems = errors(role, method, path, int(status), body, {"content-type": "application/json"})
    print("\n".join(problems) or "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))
