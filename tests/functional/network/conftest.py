"""Tokens for the Network API tests: the admin, the demo member, a reader of demo, and a member of a third
project (so cross-project checks never involve the admin role)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

OTHER_PASSWORD = "other-secret"


@dataclass(frozen=True)
class Tokens:
    admin: str
    demo: str
    reader: str
    other: str
    demo_project: str
    other_project: str


def _grant(cloud, admin: str, user: str, project: str, role: str) -> None:
    user_id = cloud.request(
        "POST", "/identity/v3/users", admin, json={"user": {"name": user, "password": OTHER_PASSWORD}}
    )
    assert user_id.status_code == 201, user_id.text
    role_id = cloud.request("GET", f"/identity/v3/roles?name={role}", admin).json()["roles"][0]["id"]
    project_id = cloud.request("GET", f"/identity/v3/projects?name={project}", admin).json()["projects"][0]["id"]
    grant = f"/identity/v3/projects/{project_id}/users/{user_id.json()['user']['id']}/roles/{role_id}"
    assert cloud.request("PUT", grant, admin).status_code == 204


def _project_id(cloud, admin: str, name: str) -> str:
    return cloud.request("GET", f"/identity/v3/projects?name={name}", admin).json()["projects"][0]["id"]


@pytest.fixture(scope="session")
def tokens(cloud) -> Tokens:
    admin = cloud.admin_token()
    created = cloud.request("POST", "/identity/v3/projects", admin, json={"project": {"name": "net-other"}})
    assert created.status_code == 201, created.text
    _grant(cloud, admin, "net-other-member", "net-other", "member")
    _grant(cloud, admin, "net-demo-reader", "demo", "reader")
    return Tokens(
        admin=admin,
        demo=cloud.demo().get_token(),
        reader=cloud.session("net-demo-reader", OTHER_PASSWORD, project="demo").get_token(),
        other=cloud.session("net-other-member", OTHER_PASSWORD, project="net-other").get_token(),
        demo_project=_project_id(cloud, admin, "demo"),
        other_project=created.json()["project"]["id"],
    )
