"""Compute request bodies the fuzz test (tests/unit/api/test_hostile_input.py) found answered with a 500."""

from __future__ import annotations

import pytest

from tests.unit.api.conftest import InProcessCloud


@pytest.mark.parametrize("path", ["os-quota-sets/{project}", "os-quota-class-sets/default"])
@pytest.mark.parametrize("value", ["1" * 40, "2147483648", "-2"])
def test_a_quota_limit_string_out_of_range_is_a_400(api_cloud: InProcessCloud, path: str, value: str):
    """The schema's minimum and maximum hold only for JSON numbers; a string of 40 digits reached the
    database as an integer SQLite cannot hold."""
    client, headers = api_cloud.client(), {"X-Auth-Token": api_cloud.admin_token}
    project = client.get("/identity/v3/auth/projects", headers={"X-Auth-Token": api_cloud.demo_token}).json
    wrapper = "quota_set" if path.startswith("os-quota-sets") else "quota_class_set"
    url = "/compute/v2.1/" + path.format(project=project["projects"][0]["id"])
    response = client.put(url, json={wrapper: {"cores": value}}, headers=headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "cores" in response.json["badRequest"]["message"]


@pytest.mark.parametrize("field", ["block_device_mapping_v2", "personality"])
@pytest.mark.parametrize("item", ["x", 1, None, ["x"]])
def test_a_server_create_list_of_non_objects_is_a_400(api_cloud: InProcessCloud, field: str, item: object):
    image_id = api_cloud.image(api_cloud.demo_token)
    body = {"server": {"name": "s", "imageRef": image_id, "flavorRef": "1", "networks": "none", field: [item]}}
    headers = {"X-Auth-Token": api_cloud.demo_token, "OpenStack-API-Version": "compute 2.37"}
    response = api_cloud.client().post("/compute/v2.1/servers", json=body, headers=headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert field in response.json["badRequest"]["message"]
