"""Network listing queries the fuzz test (tests/unit/api/test_hostile_input.py) found answered with a 500."""

from __future__ import annotations

from tests.unit.api.conftest import InProcessCloud


def _get(api_cloud: InProcessCloud, path: str):
    return api_cloud.client().get(f"/network/v2.0/{path}", headers={"X-Auth-Token": api_cloud.demo_token})


def test_an_integer_filter_beyond_64_bits_is_a_400(api_cloud: InProcessCloud):
    response = _get(api_cloud, "networks?mtu=" + "9" * 40)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "mtu" in response.json["NeutronError"]["message"]


def test_tag_filters_on_a_collection_without_tags_are_a_400(api_cloud: InProcessCloud):
    """Security group rules have no tags in Neutron: the filter is an invalid one, not a crash."""
    response = _get(api_cloud, "security-group-rules?tags-any=x")
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "tags-any" in response.json["NeutronError"]["message"]


def test_a_limit_beyond_64_bits_is_no_limit(api_cloud: InProcessCloud):
    response = _get(api_cloud, "subnets?limit=" + "9" * 40)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "subnets" in response.json
