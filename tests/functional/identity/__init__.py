"""What the identity tests share: the API's root and the two requests nearly every module makes."""

from __future__ import annotations

V3 = "/identity/v3"


def create(cloud, kind: str, body: dict, token: str) -> dict:
    """POST ``/v3/<kind>s`` with ``{kind: body}``; the made resource (asserting 201)."""
    response = cloud.request("POST", f"{V3}/{kind}s", token, json={kind: body})
    assert response.status_code == 201, response.text
    return response.json()[kind]


def role_id(cloud, name: str, token: str) -> str:
    return cloud.request("GET", f"{V3}/roles?name={name}", token).json()["roles"][0]["id"]
