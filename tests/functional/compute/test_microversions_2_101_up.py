"""Compute microversions 2.101 to 2.104 over real HTTP, each at its boundary (the version below and at it): an
asynchronous volume attach (2.101), closed query strings and no ``rxtx_factor`` in flavor create (2.102), and
pinning or unpinning a server's availability zone in an update (2.104); and the real CLI doing the last."""

from __future__ import annotations

import uuid

import pytest

from api.compute.microversions import MAX_VERSION
from tests.functional.compute import BASE, cli_json, fault, version
from tests.functional.compute.conftest import create_server, wait_for_status
from tests.functional.compute.test_volume_attachments import make_volume, wait_volume

pytestmark = [pytest.mark.functional]


def needs(microversion: str) -> pytest.MarkDecorator:
    major, minor = microversion.split(".")
    return pytest.mark.skipif((int(major), int(minor)) > MAX_VERSION, reason=f"compute API below {microversion}")


def get(cloud, token: str, path: str, microversion: str):
    return cloud.request("GET", f"{BASE}{path}", token, headers=version(microversion))


def put_server(cloud, token: str, server_id: str, body: dict, microversion: str):
    path = f"{BASE}/servers/{server_id}"
    return cloud.request("PUT", path, token, json={"server": body}, headers=version(microversion))


@pytest.fixture(scope="module")
def member(cloud) -> str:
    return cloud.demo().get_token()


@pytest.fixture(scope="module")
def pinned(cloud, server_image, member) -> dict:
    """One ACTIVE server of the demo project, created in zone ``nova`` and so pinned to it."""
    made = create_server(cloud, member, server_image, "mv-pinned", availability_zone="nova")
    return wait_for_status(cloud, member, made["id"], "ACTIVE")


# --- 2.101: an attach is accepted, not answered with the attachment ------------------------------------------


@needs("2.101")
def test_a_volume_attach_answers_the_attachment_until_2_100_and_202_without_a_body_from_2_101(
    cloud, member, pinned, unique
):
    path = f"{BASE}/servers/{pinned['id']}/os-volume_attachments"
    first, second = make_volume(cloud, member, f"{unique}-a"), make_volume(cloud, member, f"{unique}-b")
    before = cloud.request(
        "POST", path, member, json={"volumeAttachment": {"volumeId": first["id"]}}, headers=version("2.100")
    )
    assert before.status_code == 200, before.text
    assert before.json()["volumeAttachment"]["volumeId"] == first["id"]
    at = cloud.request(
        "POST", path, member, json={"volumeAttachment": {"volumeId": second["id"]}}, headers=version("2.101")
    )
    assert at.status_code == 202, at.text
    assert at.content == b""
    wait_volume(cloud, member, second["id"], "in-use")
    listed = get(cloud, member, f"/servers/{pinned['id']}/os-volume_attachments", "2.101").json()["volumeAttachments"]
    assert {a["volumeId"] for a in listed} == {first["id"], second["id"]}
    missing = cloud.request(
        "POST", path, member, json={"volumeAttachment": {"volumeId": str(uuid.uuid4())}}, headers=version("2.101")
    )
    assert "could not be found" in fault(missing, "itemNotFound", 404)  # the checks still answer at once
    for made in (first, second):
        assert cloud.request("DELETE", f"{path}/{made['id']}", member).status_code == 202


# --- 2.102: query strings are closed; flavor create takes no rxtx_factor --------------------------------------


@needs("2.102")
def test_an_unknown_query_parameter_is_dropped_until_2_101_and_a_400_from_2_102(cloud, member, pinned):
    one = f"/servers/{pinned['id']}?verbose=1"
    assert get(cloud, member, one, "2.101").status_code == 200
    refused = get(cloud, member, one, "2.102")
    assert "Additional properties are not allowed ('verbose' was unexpected)" in fault(refused, "badRequest", 400)
    assert get(cloud, member, "/os-keypairs?sort=name", "2.102").status_code == 400
    assert get(cloud, member, "/flavors/detail?minRam=0&is_public=true&limit=2", "2.102").status_code == 200
    assert get(cloud, member, "/os-keypairs?limit=1", "2.102").status_code == 200
    assert get(cloud, member, "/servers/detail?name=mv-pinned", "2.102").status_code == 200
    assert get(cloud, member, f"/servers/{pinned['id']}/os-instance-actions?limit=1", "2.102").status_code == 200
    assert get(cloud, member, "/limits?verbose=1", "2.102").status_code == 400


@needs("2.102")
def test_flavor_create_takes_rxtx_factor_until_2_101_and_refuses_it_from_2_102(cloud, unique):
    admin = cloud.admin_token()

    def create(name: str, microversion: str, **extra):
        body = {"flavor": {"name": name, "ram": 64, "vcpus": 1, "disk": 1, **extra}}
        return cloud.request("POST", f"{BASE}/flavors", admin, json=body, headers=version(microversion))

    before = create(f"{unique}-a", "2.101", rxtx_factor=2.0)
    assert before.status_code == 200, before.text
    refused = create(f"{unique}-b", "2.102", rxtx_factor=2.0)
    assert "'rxtx_factor' was unexpected" in fault(refused, "badRequest", 400)
    plain = create(f"{unique}-b", "2.102")
    assert plain.status_code == 200, plain.text
    for made in (before, plain):
        cloud.request("DELETE", f"{BASE}/flavors/{made.json()['flavor']['id']}", admin)


# --- 2.104: unpin, or pin to the zone the server is in -------------------------------------------------------


@needs("2.104")
def test_the_pinned_zone_is_not_an_update_field_before_2_104(cloud, member, pinned):
    refused = put_server(cloud, member, pinned["id"], {"pinned_availability_zone": None}, "2.103")
    assert "'pinned_availability_zone' was unexpected" in fault(refused, "badRequest", 400)


@needs("2.104")
def test_an_update_unpins_and_pins_again_to_the_current_zone_from_2_104(cloud, member, pinned):
    server_id = pinned["id"]
    assert get(cloud, member, f"/servers/{server_id}", "2.104").json()["server"]["pinned_availability_zone"] == "nova"
    for _ in range(2):  # unpinning an unpinned server is a no-op
        unpinned = put_server(cloud, member, server_id, {"pinned_availability_zone": None}, "2.104")
        assert unpinned.status_code == 200, unpinned.text
        assert unpinned.json()["server"]["pinned_availability_zone"] is None
    shown = get(cloud, member, f"/servers/{server_id}", "2.104").json()["server"]
    assert shown["pinned_availability_zone"] is None and shown["OS-EXT-AZ:availability_zone"] == "nova"
    for _ in range(2):  # pinning to the zone it is pinned to already is a no-op
        repinned = put_server(cloud, member, server_id, {"pinned_availability_zone": "nova"}, "2.104")
        assert repinned.status_code == 200, repinned.text
        assert repinned.json()["server"]["pinned_availability_zone"] == "nova"
    assert get(cloud, member, f"/servers/{server_id}", "2.104").json()["server"]["pinned_availability_zone"] == "nova"


@needs("2.104")
@pytest.mark.parametrize("zone", ["elsewhere", "", " nova", 7])
def test_a_zone_the_server_is_not_in_or_not_a_zone_name_is_400(cloud, member, pinned, zone):
    refused = put_server(cloud, member, pinned["id"], {"pinned_availability_zone": zone}, "2.104")
    fault(refused, "badRequest", 400)
    assert get(cloud, member, f"/servers/{pinned['id']}", "2.104").json()["server"]["pinned_availability_zone"] in (
        "nova",
        None,
    )


@needs("2.104")
def test_cli_unpins_and_pins_a_server_at_2_104(cloud, member, pinned):
    server_id = pinned["id"]
    cloud.openstack("stratus", "--os-compute-api-version", "2.104", "server", "unset",
                    "--pinned-availability-zone", server_id)  # fmt: skip
    shown = cli_json(cloud, "stratus", "--os-compute-api-version", "2.104", "server", "show", server_id)
    assert shown["pinned_availability_zone"] is None
    cloud.openstack("stratus", "--os-compute-api-version", "2.104", "server", "set",
                    "--pinned-availability-zone", "nova", server_id)  # fmt: skip
    assert get(cloud, member, f"/servers/{server_id}", "2.104").json()["server"]["pinned_availability_zone"] == "nova"
