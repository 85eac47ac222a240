"""Servers over real HTTP with the fake driver on three simulated hosts: lifecycle, actions and the state
table, visibility between projects, listing, and the answers to bad requests."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.compute.microversions import MAX_VERSION, as_text
from tests.functional.compute.conftest import (
    COMPUTE,
    action,
    create_server,
    show,
    wait_for_pending_deletes,
    wait_for_status,
    wait_until_gone,
)

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]


def test_a_server_goes_through_every_power_action(cloud, server_image, unique):
    token = cloud.demo().get_token()
    created = create_server(
        cloud,
        token,
        server_image,
        unique,
        metadata={"role": "web"},
        user_data=base64.b64encode(b"#!/bin/sh\necho hi\n").decode(),
    )
    assert created["adminPass"] and created["links"][0]["rel"] == "self"
    server = wait_for_status(cloud, token, created["id"], "ACTIVE")
    assert server["OS-EXT-STS:power_state"] == 1 and server["metadata"] == {"role": "web"}
    assert server["OS-SRV-USG:launched_at"] and server["hostId"]
    assert "OS-EXT-SRV-ATTR:host" not in server  # admin-only

    steps = [
        ({"os-stop": None}, "SHUTOFF", 4),
        ({"os-start": None}, "ACTIVE", 1),
        ({"pause": None}, "PAUSED", 3),
        ({"unpause": None}, "ACTIVE", 1),
        ({"suspend": None}, "SUSPENDED", 7),
        ({"resume": None}, "ACTIVE", 1),
        ({"reboot": {"type": "SOFT"}}, "ACTIVE", 1),
        ({"reboot": {"type": "HARD"}}, "ACTIVE", 1),
    ]
    for body, status, power in steps:
        assert action(cloud, token, created["id"], body).status_code == 202, body
        server = wait_for_status(cloud, token, created["id"], status)
        assert server["OS-EXT-STS:power_state"] == power, body
        # Nova shows progress only while a server is active or changing, never stopped, paused or suspended
        assert ("progress" in server) == (status == "ACTIVE"), server

    console = action(cloud, token, created["id"], {"os-getConsoleOutput": {"length": 50}}).json()["output"]
    assert f"STRATUS-READY hostname={unique.lower().replace('_', '-')}" in console
    history = cloud.request("GET", f"/compute/v2.1/servers/{created['id']}/os-instance-actions", token).json()
    assert [a["action"] for a in history["instanceActions"]][-3:] == ["start", "stop", "create"]
    one = cloud.request(
        "GET",
        f"/compute/v2.1/servers/{created['id']}/os-instance-actions/{history['instanceActions'][-1]['request_id']}",
        token,
    ).json()["instanceAction"]
    assert one["events"][0]["event"] == "compute_build_and_run_instance" and one["events"][0]["result"] == "Success"

    assert cloud.request("DELETE", f"/compute/v2.1/servers/{created['id']}", token).status_code == 204
    wait_until_gone(cloud, token, created["id"])


@pytest.mark.parametrize(
    ("body", "state_needed"),
    [
        ({"os-start": None}, "SHUTOFF"),
        ({"unpause": None}, "PAUSED"),
        ({"resume": None}, "SUSPENDED"),
    ],
)
def test_actions_in_the_wrong_state_are_409(cloud, server_image, unique, body, state_needed):
    token = cloud.demo().get_token()
    server = create_server(cloud, token, server_image, unique)
    wait_for_status(cloud, token, server["id"], "ACTIVE")
    response = action(cloud, token, server["id"], body)
    assert response.status_code == 409
    assert "conflictingRequest" in response.json() and "ACTIVE" in response.json()["conflictingRequest"]["message"]
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", token)


def test_a_second_action_while_one_runs_is_409(cloud, server_image, unique):
    token = cloud.demo().get_token()
    server = create_server(cloud, token, server_image, unique)
    wait_for_status(cloud, token, server["id"], "ACTIVE")
    with ThreadPoolExecutor(5) as pool:
        codes = list(pool.map(lambda _: action(cloud, token, server["id"], {"os-stop": None}).status_code, range(5)))
    assert sorted(codes) == [202, 409, 409, 409, 409]
    wait_for_status(cloud, token, server["id"], "SHUTOFF")
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", token)


def test_servers_of_another_project_are_404(cloud, server_image, unique):
    admin = cloud.admin_token()
    server = create_server(cloud, admin, server_image, unique)
    demo = cloud.demo().get_token()
    for method, suffix, body in (
        ("GET", "", None),
        ("DELETE", "", None),
        ("PUT", "", {"server": {"name": "x"}}),
        ("POST", "/action", {"os-stop": None}),
        ("GET", "/metadata", None),
        ("GET", "/os-instance-actions", None),
    ):
        response = cloud.request(method, f"/compute/v2.1/servers/{server['id']}{suffix}", demo, json=body)
        assert response.status_code == 404, (method, suffix, response.text)
        assert "itemNotFound" in response.json()
    assert server["id"] not in {s["id"] for s in cloud.request("GET", "/compute/v2.1/servers", demo).json()["servers"]}
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", admin)


def test_admins_see_every_project_only_when_they_ask(cloud, server_image, unique):
    demo, admin = cloud.demo().get_token(), cloud.admin_token()
    server = create_server(cloud, demo, server_image, unique)
    mine = {s["id"] for s in cloud.request("GET", "/compute/v2.1/servers", admin).json()["servers"]}
    everyone = cloud.request("GET", "/compute/v2.1/servers?all_tenants=1", admin).json()["servers"]
    refused = cloud.request("GET", "/compute/v2.1/servers?all_tenants=1", demo)
    assert server["id"] not in mine and server["id"] in {s["id"] for s in everyone}
    assert refused.status_code == 403 and "forbidden" in refused.json()
    detail = show(cloud, admin, server["id"])
    assert "OS-EXT-SRV-ATTR:host" in detail
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", demo)


def test_listing_filters_and_pages(cloud, server_image, unique):
    token = cloud.demo().get_token()
    ids = [create_server(cloud, token, server_image, f"{unique}-{i}")["id"] for i in range(4)]
    for server_id in ids:
        wait_for_status(cloud, token, server_id, "ACTIVE")
    action(cloud, token, ids[0], {"os-stop": None})
    wait_for_status(cloud, token, ids[0], "SHUTOFF")

    by_name = cloud.request("GET", f"/compute/v2.1/servers?name=^{unique}-[12]$", token).json()["servers"]
    stopped = cloud.request("GET", f"/compute/v2.1/servers/detail?status=SHUTOFF&name={unique}", token).json()
    page = cloud.request("GET", f"/compute/v2.1/servers?name={unique}&limit=2", token).json()
    assert sorted(s["name"] for s in by_name) == [f"{unique}-1", f"{unique}-2"]
    assert [s["id"] for s in stopped["servers"]] == [ids[0]]
    assert len(page["servers"]) == 2 and page["servers_links"][0]["rel"] == "next"
    assert cloud.request("GET", "/compute/v2.1/servers?status=NAPPING", token).status_code == 400
    assert cloud.request("GET", "/compute/v2.1/servers?marker=nope", token).status_code == 400
    for server_id in ids:
        cloud.request("DELETE", f"/compute/v2.1/servers/{server_id}", token)


def test_pages_of_a_listing_filtered_in_the_database_walk_the_same_order_as_the_whole_listing(
    cloud, server_image, unique
):
    """A listing whose filters are all SQL is one query's first rows; a marker or a Python-side filter takes the
    other path: the two must agree on the order and on when there is a next page."""
    token = cloud.demo().get_token()
    pair = {"keypair": {"name": unique}}  # made by the cloud
    assert cloud.request("POST", "/compute/v2.1/os-keypairs", token, json=pair).status_code == 200
    ids = [create_server(cloud, token, server_image, f"{unique}-{i}", key_name=unique)["id"] for i in range(3)]
    base = f"/compute/v2.1/servers/detail?key_name={unique}"
    whole = [s["id"] for s in cloud.request("GET", base, token).json()["servers"]]
    first = cloud.request("GET", f"{base}&limit=2", token).json()
    marker = first["servers_links"][0]["href"].split("marker=")[1]
    rest = cloud.request("GET", f"{base}&limit=2&marker={marker}", token).json()
    exact = cloud.request("GET", f"{base}&limit=3", token).json()
    assert sorted(whole) == sorted(ids) and len(whole) == 3
    assert [s["id"] for s in first["servers"]] + [s["id"] for s in rest["servers"]] == whole
    assert marker == whole[1] and "servers_links" not in rest and "servers_links" not in exact
    assert cloud.request("GET", f"{base}&limit=0", token).json()["servers"] == []
    for server_id in ids:
        cloud.request("DELETE", f"/compute/v2.1/servers/{server_id}", token)
    cloud.request("DELETE", f"/compute/v2.1/os-keypairs/{unique}", token)


def test_members_can_neither_filter_nor_sort_servers_by_host_and_markers_stay_in_their_project(
    cloud, server_image, unique
):
    """Issue 11 item 5, as Nova: ``host`` is an admin-only filter that other callers' requests drop, and sorting
    by it is a 403 for them (the order would tell which of their servers share a host). A marker of another
    project's server is answered as a missing marker."""
    demo, admin = cloud.demo().get_token(), cloud.admin_token()
    server = create_server(cloud, demo, server_image, unique)
    host = wait_for_status(cloud, admin, server["id"], "ACTIVE")["OS-EXT-SRV-ATTR:host"]
    theirs = create_server(cloud, admin, server_image, f"{unique}-admin")
    base = "/compute/v2.1/servers"

    ignored = cloud.request("GET", f"{base}?name={unique}&host=no-such-host", demo, headers=COMPUTE)
    assert [s["id"] for s in ignored.json()["servers"]] == [server["id"]]
    sorted_by_host = cloud.request("GET", f"{base}?sort_key=host&sort_dir=asc", demo, headers=COMPUTE)
    assert sorted_by_host.status_code == 403
    assert sorted_by_host.json()["forbidden"]["message"] == "Only administrators can sort servers by host"
    elsewhere = f"{base}?all_tenants=1&name={unique}&host=no-such-host"
    assert cloud.request("GET", elsewhere, admin, headers=COMPUTE).json()["servers"] == []
    on_host = cloud.request("GET", f"{base}?all_tenants=1&name={unique}&host={host}&sort_key=host", admin)
    assert server["id"] in {s["id"] for s in on_host.json()["servers"]}

    missing = cloud.request("GET", f"{base}?marker=5d1f0a7e-0000-4000-8000-000000000000", demo, headers=COMPUTE)
    invisible = cloud.request("GET", f"{base}?marker={theirs['id']}", demo, headers=COMPUTE)
    assert invisible.status_code == missing.status_code == 400
    assert invisible.json()["badRequest"]["message"].replace(theirs["id"], "X") == missing.json()["badRequest"][
        "message"
    ].replace("5d1f0a7e-0000-4000-8000-000000000000", "X")
    for token, server_id in ((demo, server["id"]), (admin, theirs["id"])):
        cloud.request("DELETE", f"{base}/{server_id}", token)


def test_update_and_metadata(cloud, server_image, unique):
    token = cloud.demo().get_token()
    server = create_server(cloud, token, server_image, unique)
    base = f"/compute/v2.1/servers/{server['id']}"
    renamed = cloud.request(
        "PUT",
        base,
        token,
        json={"server": {"name": f"{unique}-new", "description": "d"}},
        headers={"OpenStack-API-Version": "compute 2.19"},
    )
    assert renamed.json()["server"]["name"] == f"{unique}-new" and renamed.json()["server"]["description"] == "d"
    cloud.request("POST", f"{base}/metadata", token, json={"metadata": {"a": "1", "b": "2"}})
    cloud.request("PUT", f"{base}/metadata/c", token, json={"meta": {"c": "3"}})
    cloud.request("DELETE", f"{base}/metadata/a", token)
    assert cloud.request("GET", f"{base}/metadata", token).json()["metadata"] == {"b": "2", "c": "3"}
    assert cloud.request("GET", f"{base}/metadata/a", token).status_code == 404
    cloud.request("DELETE", base, token)


@pytest.mark.parametrize(
    ("server", "status", "named"),
    [
        ({"flavorRef": "1", "networks": "none"}, 400, "name"),
        ({"name": "x", "flavorRef": "no-such-flavor", "networks": "none"}, 400, "Flavor"),
        ({"name": "x", "flavorRef": "1", "imageRef": "no-such-image", "networks": "none"}, 400, "Image"),
        ({"name": "x", "flavorRef": "1", "networks": "none", "key_name": "nope"}, 400, "key_name"),
        ({"name": "x", "flavorRef": "1", "networks": "none", "user_data": "%%%"}, 400, "user_data"),
        ({"name": "x", "flavorRef": "1", "networks": "none", "colour": "red"}, 400, "colour"),
        ({"name": "x", "flavorRef": "1"}, 400, "networks"),
        ({"name": "x", "flavorRef": "1", "networks": "none", "availability_zone": "mars"}, 400, "mars"),
        ({"name": "x", "flavorRef": "1", "networks": "none", "availability_zone": "nova:somehost"}, 403, "forced"),
    ],
)
def test_bad_create_requests_are_refused_and_leave_nothing(cloud, server_image, server, status, named):
    token = cloud.demo().get_token()
    body = {"server": {"imageRef": server_image, **server}}
    wait_for_pending_deletes(cloud)
    before = {s["id"] for s in cloud.request("GET", "/compute/v2.1/servers", token).json()["servers"]}
    response = cloud.request("POST", "/compute/v2.1/servers", token, json=body, headers=COMPUTE)
    assert response.status_code == status, response.text
    message = next(iter(response.json().values()))["message"]
    assert named in message
    assert {s["id"] for s in cloud.request("GET", "/compute/v2.1/servers", token).json()["servers"]} == before


def test_microversion_negotiation_is_echoed_and_bounded(cloud):
    token = cloud.demo().get_token()
    latest = cloud.request("GET", "/compute/v2.1/servers", token, headers={"OpenStack-API-Version": "compute latest"})
    legacy = cloud.request("GET", "/compute/v2.1/servers", token, headers={"X-OpenStack-Nova-API-Version": "2.9"})
    beyond = f"compute 2.{MAX_VERSION[1] + 1}"
    too_new = cloud.request("GET", "/compute/v2.1/servers", token, headers={"OpenStack-API-Version": beyond})
    assert latest.headers["OpenStack-API-Version"] == f"compute {as_text(MAX_VERSION)}"
    assert legacy.headers["X-OpenStack-Nova-API-Version"] == "2.9"
    assert too_new.status_code == 406 and too_new.headers["OpenStack-API-Version"] == "compute 2.1"


def test_openstacksdk_creates_waits_and_deletes(cloud, server_image, unique):
    import openstack

    conn = openstack.connect(
        auth_url=cloud.server.auth_url,
        username="demo",
        password="demo-secret",
        project_name="demo",
        user_domain_name="Default",
        project_domain_name="Default",
        region_name="RegionOne",
    )
    server = conn.compute.create_server(name=unique, image_id=server_image, flavor_id="1", networks="none")
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=30, interval=0.2)
    assert server.status == "ACTIVE" and server.power_state == 1
    conn.compute.stop_server(server)
    conn.compute.wait_for_server(server, status="SHUTOFF", wait=30, interval=0.2)
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=30, interval=0.2)
