"""2.102's table of known query parameters against the routes the application really serves, and 2.104's pinning
of a server that has no availability zone yet (in process: the server stays in BUILD, never placed)."""

from __future__ import annotations

from api.compute.query_rules import KNOWN, PREFIX
from tests.unit.api.conftest import InProcessCloud


def _compute_gets(api_cloud: InProcessCloud) -> set[str]:
    rules = api_cloud.app.url_map.iter_rules()
    return {r.rule.removeprefix(PREFIX) for r in rules if r.rule.startswith(PREFIX) and "GET" in (r.methods or ())}


def test_every_compute_get_but_the_listing_and_the_version_document_has_its_known_parameters(api_cloud):
    """A new GET route must say which query parameters it knows, or 2.102 would let anything through it."""
    not_in_table = {"", "/", "/servers", "/servers/detail"}  # version documents; the listing is strict from 2.75
    assert _compute_gets(api_cloud) - not_in_table == set(KNOWN)


def test_a_server_not_placed_yet_can_be_unpinned_but_not_pinned(api_cloud):
    token = api_cloud.demo_token
    server_id = api_cloud.server(token, "unplaced", api_cloud.image(token, "unplaced"))
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.104"}
    path = f"/compute/v2.1/servers/{server_id}"
    client = api_cloud.client()
    pinned = client.put(path, json={"server": {"pinned_availability_zone": "nova"}}, headers=headers)
    assert (
        pinned.status_code == 409 and "not in an availability zone yet" in pinned.json["conflictingRequest"]["message"]
    )
    unpinned = client.put(path, json={"server": {"pinned_availability_zone": None}}, headers=headers)
    assert unpinned.status_code == 200 and unpinned.json["server"]["pinned_availability_zone"] is None
