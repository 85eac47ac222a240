"""What the admin page tests share: an admin signed in through the form, API calls made directly with a token
(to set the scene and to check what a page did), and a project with a member of its own."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.unit.in_process import ADMIN_PASSWORD
from tests.unit.portal.conftest import sign_in

COMPUTE = {"OpenStack-API-Version": "compute 2.37"}
MEMBER_PASSWORD = "member-secret"


def token(client: FlaskClient, user: str, password: str, project: str) -> str:
    body = {"auth": {
        "identity": {"methods": ["password"],
                     "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}},
    }}  # fmt: skip
    response = client.post("/identity/v3/auth/tokens", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.headers["X-Subject-Token"]


def call(client: FlaskClient, method: str, path: str, auth: str, **kwargs: Any) -> Any:
    """An API call as ``auth``; returns the parsed body (None when empty), asserting success."""
    response = client.open(path, method=method, headers={"X-Auth-Token": auth, **COMPUTE}, **kwargs)
    assert response.status_code < 300, (method, path, response.status_code, response.get_data(as_text=True))
    return response.get_json(silent=True)


@dataclass(frozen=True)
class Tenant:
    name: str
    project_id: str
    user: str
    user_id: str

    def token(self, client: FlaskClient) -> str:
        return token(client, self.user, MEMBER_PASSWORD, self.name)


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(3).hex()}"


def make_tenant(client: FlaskClient, role: str = "member") -> Tenant:
    """A new project and a user with ``role`` on it (created through the API as the admin)."""
    admin = token(client, "admin", ADMIN_PASSWORD, "admin")
    name = unique("proj")
    project_id = call(client, "POST", "/identity/v3/projects", admin, json={"project": {"name": name}})["project"]["id"]
    user_body = {"user": {"name": f"{name}-u", "password": MEMBER_PASSWORD, "default_project_id": project_id}}
    user_id = call(client, "POST", "/identity/v3/users", admin, json=user_body)["user"]["id"]
    role_id = call(client, "GET", f"/identity/v3/roles?name={role}", admin)["roles"][0]["id"]
    call(client, "PUT", f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{role_id}", admin)
    return Tenant(name, project_id, f"{name}-u", user_id)


@pytest.fixture(name="admin")
def admin_fixture(client: FlaskClient) -> tuple[FlaskClient, str]:
    """The portal's test client signed in as the cloud admin, and a CSRF token of its pages."""
    return client, sign_in(client, "admin", ADMIN_PASSWORD, project="admin")


def admin_token(client: FlaskClient) -> str:
    return token(client, "admin", ADMIN_PASSWORD, "admin")
