"""Compute query strings the fuzz test (tests/unit/api/test_hostile_input.py) found answered with a 500."""

from __future__ import annotations

import pytest

from tests.unit.api.conftest import InProcessCloud


@pytest.mark.parametrize("path", ["os-server-groups?limit=²", "os-server-groups?offset=²", "servers?limit=²"])
def test_a_limit_of_a_digit_int_refuses_is_a_400(api_cloud: InProcessCloud, path: str):
    """``str.isdigit`` takes "²" but ``int()`` does not: the paging code raised ValueError."""
    response = api_cloud.client().get(f"/compute/v2.1/{path}", headers={"X-Auth-Token": api_cloud.demo_token})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "badRequest" in response.json


def test_a_hypervisor_id_of_a_digit_int_refuses_is_a_404(api_cloud: InProcessCloud):
    response = api_cloud.client().get("/compute/v2.1/os-hypervisors/²", headers={"X-Auth-Token": api_cloud.admin_token})
    assert response.status_code == 404, response.get_data(as_text=True)
    assert "itemNotFound" in response.json
