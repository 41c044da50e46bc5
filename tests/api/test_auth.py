"""Keys are required, stored hashed, and a role reaches only what docs/roles.md allows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from tessera.api.app import ROUTERS
from tessera.governance.roles import ROLE_PERMISSIONS, Permission, Role
from tessera.store.models import ApiKey
from tessera.workflows.keys import create_key, revoke_key

PUBLIC = {"/healthz", "/v1/policy/retention"}


def protected_routes(app) -> list[tuple[str, str, Permission]]:
    """(method, path, permission) of every API route, read off the routers the app mounts."""
    found = []
    for route in [route for router in ROUTERS for route in router.routes]:
        if not isinstance(route, APIRoute) or route.path in PUBLIC:
            continue
        permissions = [d.call.permission for d in route.dependant.dependencies if hasattr(d.call, "permission")]
        assert len(permissions) == 1, f"{route.path} must need exactly one permission, needs {permissions}"
        for method in route.methods:
            found.append((method.lower(), route.path, permissions[0]))
    return found


def test_no_key_or_a_bad_key_is_401(client):
    assert client.get("/healthz").status_code == 200
    response = client.get("/v1/audit/verify")
    assert response.status_code == 401 and response.json()["error"]["code"] == "missing_key"
    response = client.get("/v1/audit/verify", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401
    response = client.get("/v1/audit/verify", headers={"Authorization": "Bearer tsk_0000_wrong"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_key"


def test_me_tells_a_key_its_role(client, headers):
    body = client.get("/v1/me", headers=headers["verifier"]).json()
    assert body["role"] == "verifier" and body["permissions"] == ["read_galleries", "verify"]
    assert client.get("/v1/me").status_code == 401


def test_answers_are_not_cached(client, headers):
    assert client.get("/v1/me", headers=headers["auditor"]).headers["cache-control"] == "no-store"


def test_revoked_key_is_refused(client, instance):
    key = create_key(instance, "test", "auditor")
    headers = {"Authorization": f"Bearer {key.secret}"}
    assert client.get("/v1/audit/verify", headers=headers).status_code == 200
    revoke_key(instance, "test", key.id)
    response = client.get("/v1/audit/verify", headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "key_revoked"


def test_keys_are_stored_hashed(instance):
    key = create_key(instance, "test", "admin")
    secret = key.secret.removeprefix("tsk_").partition("_")[2]  # the secret may itself hold "_"
    assert len(secret) >= 32
    with instance.sessions() as session:
        stored = session.scalars(select(ApiKey)).all()
    assert all(secret not in (row.secret_sha256 + row.id + row.label) for row in stored)


@pytest.mark.parametrize("role", list(Role))
def test_every_route_with_every_role(client, headers, role):
    routes = protected_routes(client.app)
    assert len(routes) >= 20
    for method, path, permission in routes:
        url = path.replace("{", "").replace("}", "")  # placeholder ids: unknown, so allowed calls end in 404/422
        response = client.request(
            method.upper(), url, headers=headers[role.value], json={} if method in ("post", "put") else None
        )
        if permission in ROLE_PERMISSIONS[role]:
            assert response.status_code not in (401, 403), (role, method, path, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.text)
            assert response.json()["error"]["code"] == "forbidden"


def test_docs_name_every_route_under_its_permission(client):
    doc = (Path(__file__).resolve().parents[2] / "docs" / "roles.md").read_text()
    routes_table = {}
    for line in doc.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] in {p.value for p in Permission}:
            routes_table[cells[0]] = cells[1]
    for method, path, permission in protected_routes(client.app):
        assert f"`{method.upper()} {path}`" in routes_table.get(permission.value, ""), (method, path, permission)


def test_docs_role_table_matches_the_code():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "roles.md").read_text()
    rows = {}
    for line in doc.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == len(Role) + 1 and cells[0] in {p.value for p in Permission}:
            rows[cells[0]] = cells[1:]
    header = next(line for line in doc.splitlines() if line.startswith("| permission"))
    roles = [cell.strip() for cell in header.strip().strip("|").split("|")][1:]
    assert set(rows) == {p.value for p in Permission}
    for permission, cells in rows.items():
        for role, cell in zip(roles, cells):
            assert (cell == "yes") == (Permission(permission) in ROLE_PERMISSIONS[Role(role)]), (permission, role)


def test_openapi_lists_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/galleries",
        "/v1/subjects",
        "/v1/subjects/{subject_id}/faces",
        "/v1/verify",
        "/v1/identify",
        "/v1/subjects/{subject_id}",
        "/v1/audit/verify",
        "/healthz",
    ):
        assert path in paths
    assert re.search("candidates", client.get("/openapi.json").text)
