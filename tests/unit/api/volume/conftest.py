"""The in-process cloud with the volume types ``stratus-manage bootstrap`` makes, and a client of its Block
Storage API at a chosen microversion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.test import TestResponse

from tests.unit.api.conftest import InProcessCloud
from volume import types
from volume.models import Volume


@dataclass
class VolumeApi:
    cloud: InProcessCloud

    def call(self, method: str, path: str, token: str, version: str | None = None, **kwargs: Any) -> TestResponse:
        headers = {"X-Auth-Token": token, **kwargs.pop("headers", {})}
        if version:
            headers["OpenStack-API-Version"] = f"volume {version}"
        return self.cloud.client().open(f"/volume/v3{path}", method=method, headers=headers, **kwargs)

    def create(self, token: str, version: str | None = None, **fields: Any) -> dict[str, Any]:
        response = self.call("POST", "/volumes", token, version, json={"volume": {"size": 1, **fields}})
        assert response.status_code == 202, response.get_data(as_text=True)
        return response.json["volume"]

    def made(self, volume_id: str) -> None:
        """What ``stratus-volume`` would have done (no worker runs in-process): the data made, ``available``."""
        runtime = self.cloud.app.extensions["stratus"]
        with runtime.db.session() as session:
            volume = session.get(Volume, volume_id)
            volume.status, volume.location = "available", f"volume-{volume_id}.qcow2"


@pytest.fixture(scope="session")
def volume_api(api_cloud: InProcessCloud) -> VolumeApi:
    runtime = api_cloud.app.extensions["stratus"]
    with runtime.db.session() as session:
        types.ensure_types(session, runtime.settings)
    return VolumeApi(api_cloud)
