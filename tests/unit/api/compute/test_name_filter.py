"""``GET /servers?name=``: Nova's regular-expression search, run in linear time whatever the pattern."""

from __future__ import annotations

import time
import uuid
from urllib.parse import quote

import pytest

from tests.unit.api.conftest import InProcessCloud


@pytest.fixture(scope="module")
def named(api_cloud: InProcessCloud) -> dict[str, str]:
    """Servers of the member's project by name; a unique prefix keeps them apart from other tests' servers."""
    prefix = uuid.uuid4().hex[:8]
    image_id = api_cloud.image(api_cloud.demo_token)
    names = {
        "trap": f"{prefix}" + "a" * 28 + "!",
        "bob": f"{prefix}-bob",
        "bobby": f"{prefix}-bobby",
        "upper": f"{prefix}-BOB",
    }
    return {key: api_cloud.server(api_cloud.demo_token, name, image_id) for key, name in names.items()} | {
        "prefix": prefix
    }


def _names(api_cloud: InProcessCloud, pattern: str) -> tuple[int, object]:
    response = api_cloud.client().get(
        f"/compute/v2.1/servers?name={quote(pattern)}", headers={"X-Auth-Token": api_cloud.demo_token}
    )
    return response.status_code, response.json


def test_a_backtracking_name_pattern_costs_what_any_name_costs(api_cloud: InProcessCloud, named: dict[str, str]):
    """``^(a+)+$`` against 28 ``a``s and a ``!`` is 2^28 steps for a backtracking engine (tens of seconds)."""
    started = time.perf_counter()
    status, body = _names(api_cloud, f"^{named['prefix']}(a+)+$")
    elapsed = time.perf_counter() - started
    assert status == 200 and body == {"servers": []}
    assert elapsed < 2, f"the pattern held the request for {elapsed:.1f} s"
    status, body = _names(api_cloud, f"^{named['prefix']}(a+)+!$")
    assert [s["id"] for s in body["servers"]] == [named["trap"]]


def test_the_name_filter_is_a_case_sensitive_search_as_in_nova(api_cloud: InProcessCloud, named: dict[str, str]):
    status, body = _names(api_cloud, f"{named['prefix']}-bob")
    assert status == 200
    assert {s["id"] for s in body["servers"]} == {named["bob"], named["bobby"]}
    status, body = _names(api_cloud, f"{named['prefix']}-bob$")
    assert [s["id"] for s in body["servers"]] == [named["bob"]]


@pytest.mark.parametrize("pattern", ["[", "(a)\\1", "a(?=b)", "a{1000}{1000}", "a" * 1025])
def test_an_invalid_or_backtracking_only_name_pattern_is_a_400(api_cloud: InProcessCloud, pattern: str):
    status, body = _names(api_cloud, pattern)
    assert status == 400, body
    assert "Invalid name filter" in body["badRequest"]["message"]
