"""Image listing queries that reached ``int()`` or the database unchecked."""

from __future__ import annotations

import pytest

from tests.unit.api.conftest import InProcessCloud


@pytest.mark.parametrize("query", ["limit=²", "size_min=²", "size_max=" + "9" * 40])
def test_a_number_int_or_the_database_refuses_is_a_400(api_cloud: InProcessCloud, query: str):
    response = api_cloud.client().get(f"/image/v2/images?{query}", headers={"X-Auth-Token": api_cloud.demo_token})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["code"] == "400 Bad Request"
