"""The whole API application in-process on a private SQLite database, with tokens for an admin and a member:
what the APIs answer to a request (faults, limits, hostile input) is tested in milliseconds, without a server,
workers or Redis (the in-process broker takes what the API sends)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.unit.in_process import ADMIN_PASSWORD, DEMO_PASSWORD, bootstrapped_app


@dataclass(frozen=True)
class InProcessCloud:
    """The application, and a token of each of its two bootstrap users (``admin`` and the member ``demo``)."""

    app: Flask
    admin_token: str
    demo_token: str

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def image(self, token: str, name: str = "image") -> str:
        """An active raw image of the token's project (64 KiB of zeros)."""
        client, headers = self.client(), {"X-Auth-Token": token}
        body = {"name": name, "disk_format": "raw", "container_format": "bare"}
        image_id = client.post("/image/v2/images", json=body, headers=headers).json["id"]
        data_headers = {**headers, "Content-Type": "application/octet-stream"}
        uploaded = client.put(f"/image/v2/images/{image_id}/file", data=bytes(65536), headers=data_headers)
        assert uploaded.status_code == 204, uploaded.get_data(as_text=True)
        return image_id

    def server(self, token: str, name: str, image_id: str) -> str:
        """A server without networks; it stays in BUILD (no worker takes the in-process broker's messages)."""
        body = {"server": {"name": name, "imageRef": image_id, "flavorRef": "1", "networks": "none"}}
        headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.37"}
        created = self.client().post("/compute/v2.1/servers", json=body, headers=headers)
        assert created.status_code == 202, created.get_data(as_text=True)
        return created.json["server"]["id"]


def _token(app: Flask, user: str, password: str) -> str:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
            },
            "scope": {"project": {"name": user, "domain": {"id": "default"}}},
        }
    }
    response = app.test_client().post("/identity/v3/auth/tokens", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.headers["X-Subject-Token"]


@pytest.fixture(scope="session")
def api_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessCloud]:
    app = bootstrapped_app(tmp_path_factory.mktemp("api-state"))
    yield InProcessCloud(app, _token(app, "admin", ADMIN_PASSWORD), _token(app, "demo", DEMO_PASSWORD))
    app.extensions["stratus"].db.dispose()
