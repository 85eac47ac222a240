"""A real API application on a private SQLite database, driven through Flask's test client: the portal's server
side (sign-in, sessions, CSRF, forms, error mapping) is tested in milliseconds, without a browser or workers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.unit.in_process import DEMO_PASSWORD, bootstrapped_app


@pytest.fixture(scope="session")
def portal_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    yield (app := bootstrapped_app(tmp_path_factory.mktemp("portal-state")))
    app.extensions["stratus"].db.dispose()


@pytest.fixture
def client(portal_app: Flask) -> FlaskClient:
    return portal_app.test_client()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: FlaskClient, user: str = "demo", password: str = DEMO_PASSWORD, project: str = "") -> str:
    """Signs in through the form; returns a CSRF token of the session's pages."""
    page = client.get("/sign-in").get_data(as_text=True)
    response = client.post(
        "/sign-in", data={"csrf_token": csrf_of(page), "username": user, "password": password, "project": project}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return csrf_of(client.get("/").get_data(as_text=True))


@pytest.fixture
def demo(client: FlaskClient) -> tuple[FlaskClient, str]:
    return client, sign_in(client)


def state_dir(app: Flask) -> Path:
    return Path(app.extensions["stratus"].settings.state_dir)
