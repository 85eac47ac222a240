"""Neutron listings page among what the caller may see: a ``marker`` of another project's row is answered exactly
as a missing marker, for every collection, so paging with ``sort_key`` can never reveal another project's values
(before, the marker row was read from every project and its sort values decided the page)."""

from __future__ import annotations

import pytest

from tests.functional.network import BASE, create, delete, network, port, subnet

pytestmark = pytest.mark.functional
MISSING = "5d1f0a7e-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def theirs(cloud, tokens):
    """One of each listed resource in the other project (private network, its subnet, a port, a group, a rule)."""
    net = network(cloud, tokens.other, "listing-theirs")
    sub = subnet(cloud, tokens.other, net["id"], "10.52.0.0/24")
    own = port(cloud, tokens.other, net["id"], name="listing-theirs")
    group = create(cloud, tokens.other, "security_group", "security-groups", name="listing-theirs")
    rule = create(
        cloud, tokens.other, "security_group_rule", "security-group-rules", security_group_id=group["id"],
        direction="ingress", protocol="tcp", port_range_min=22, port_range_max=22,
    )  # fmt: skip
    yield {"networks": net, "subnets": sub, "ports": own, "security-groups": group, "security-group-rules": rule}
    delete(cloud, tokens.other, "ports", own["id"])
    delete(cloud, tokens.other, "security-groups", group["id"])
    delete(cloud, tokens.other, "networks", net["id"])


@pytest.mark.parametrize("collection", ["networks", "subnets", "ports", "security-groups", "security-group-rules"])
def test_a_marker_of_another_projects_row_is_a_missing_marker(cloud, tokens, theirs, collection):
    hidden = theirs[collection]["id"]
    for query in ("limit=1", "limit=1&sort_key=name&sort_dir=asc", "limit=2&page_reverse=True"):
        if collection == "security-group-rules" and "name" in query:
            query = "limit=1&sort_key=protocol&sort_dir=asc"
        invisible = cloud.request("GET", f"{BASE}/{collection}?{query}&marker={hidden}", tokens.demo)
        missing = cloud.request("GET", f"{BASE}/{collection}?{query}&marker={MISSING}", tokens.demo)
        assert (invisible.status_code, missing.status_code) == (404, 404), invisible.text
        assert invisible.json()["NeutronError"]["type"] == missing.json()["NeutronError"]["type"]
        assert (
            invisible.json()["NeutronError"]["message"].replace(hidden, MISSING)
            == missing.json()["NeutronError"]["message"]
        )
    own = cloud.request("GET", f"{BASE}/{collection}?limit=1&marker={hidden}", tokens.other)
    assert own.status_code == 200, own.text  # the owner pages from it as before
