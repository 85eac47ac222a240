"""Cold migration and resize across hosts over real HTTP and the openstack CLI, on fake hosts of one agent process
(their drivers share a registry, so the disk 'copy' hands the guest to the target): where the server runs and what
each host holds for it at each step, confirm and revert, a failure injected at each step, concurrent moves to one
target, and the answers to requests that cannot be done.

The cloud runs seven fake hosts. -1..-3 are healthy; the others fail one step of a move
(``compute_fake_failing_moves``) and are disabled unless a test needs one, so the scheduler never picks them:
-4 fails ``finish_migration`` (a bad target), -5 ``migrate_disk_and_power_off`` (a bad source), -6
``confirm_migration`` and ``finish_revert_migration`` (a source that cannot end a move), -7 ``destroy_moved``
(a target that cannot give a revert back). Whether a host holds a copy of a guest is asked of its agent directly
(its console, which a host without the guest refuses).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery.exceptions import TimeoutError as CeleryTimeout

from common.queue import make_celery
from common.settings import load
from compute import client as compute_client
from tests.functional.compute import BASE, cli_json, fault, moving, version
from tests.functional.compute.conftest import public_raw_image, show, wait_for_status
from tests.functional.conftest import CloudClient
from tests.harness import wait_until

pytestmark = pytest.mark.functional

HOST = f"cm{secrets.token_hex(2)}"
H = {n: f"{HOST}-{n}" for n in range(1, 8)}
HEALTHY = (H[1], H[2], H[3])
BAD_TARGET, BAD_SOURCE, BAD_ENDING_SOURCE, BAD_REVERT_TARGET = H[4], H[5], H[6], H[7]
FAILING = (BAD_TARGET, BAD_SOURCE, BAD_ENDING_SOURCE, BAD_REVERT_TARGET)
V256 = version("2.56")
NET = "/network/v2.0"


@pytest.fixture(scope="module")
def moves_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudClient]:
    failing = (
        f"{BAD_TARGET}:finish_migration,{BAD_SOURCE}:migrate_disk_and_power_off,"
        f"{BAD_ENDING_SOURCE}:confirm_migration,{BAD_ENDING_SOURCE}:finish_revert_migration,"
        f"{BAD_REVERT_TARGET}:destroy_moved"
    )
    env = {"STRATUS_HOST": HOST, "STRATUS_COMPUTE_FAKE_HOSTS": "7", "STRATUS_COMPUTE_FAKE_FAILING_MOVES": failing}
    yield from moving.fake_hosts_cloud(
        tmp_path_factory, "cold-migration", env, {"stratus-admin": "admin", "stratus": "demo"}
    )


@pytest.fixture(scope="module")
def tokens(moves_cloud) -> dict[str, str]:
    return moving.tokens(moves_cloud)


@pytest.fixture(scope="module")
def image(moves_cloud, tokens) -> str:
    return public_raw_image(moves_cloud, tokens["admin"], "cold-migration")


@pytest.fixture(autouse=True)
def only_healthy_hosts(moves_cloud, tokens) -> Iterator[None]:
    """Each test starts with the healthy hosts enabled and up and the failing ones disabled."""
    wait_until(
        lambda: moves_cloud.request("GET", f"{BASE}/os-hypervisors", tokens["admin"]).json()["hypervisors"],
        60,
        interval=0.2,
        message="the fake hosts never came up",
        until=lambda found: set(H.values()) <= {h["hypervisor_hostname"] for h in found if h["state"] == "up"},
    )
    for host in HEALTHY:
        _set_enabled(moves_cloud, tokens["admin"], host, True)
    for host in FAILING:
        _set_enabled(moves_cloud, tokens["admin"], host, False)
    yield


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _set_enabled(cloud, admin: str, host: str, enabled: bool) -> None:
    body = {"host": host, "binary": "nova-compute"}
    response = cloud.request("PUT", f"{BASE}/os-services/{'enable' if enabled else 'disable'}", admin, json=body)
    assert response.status_code == 200, response.text


@contextmanager
def enabled(cloud, admin: str, *hosts: str) -> Iterator[None]:
    for host in hosts:
        _set_enabled(cloud, admin, host, True)
    try:
        yield
    finally:
        for host in hosts:
            _set_enabled(cloud, admin, host, False)


def server_on(cloud, admin: str, image: str, host: str, name: str, flavor: str = "1", **extra: Any) -> str:
    """A new ACTIVE server built on ``host`` (the admin's forced host)."""
    body = {
        "server": {
            "name": name, "imageRef": image, "flavorRef": flavor, "networks": "none",
            "availability_zone": f"nova:{host}", **extra,
        }
    }  # fmt: skip
    response = cloud.request("POST", f"{BASE}/servers", admin, json=body, headers=version("2.37"))
    assert response.status_code == 202, response.text
    server_id = response.json()["server"]["id"]
    server = wait_for_status(cloud, admin, server_id, "ACTIVE", "ERROR")
    assert server["status"] == "ACTIVE" and server["OS-EXT-SRV-ATTR:host"] == host, server
    return server_id


def act(cloud, token: str, server_id: str, body: Any, headers: dict[str, str] | None = None):
    return cloud.request(
        "POST", f"{BASE}/servers/{server_id}/action", token, json=body, headers=headers or version("2.37")
    )


def usage(cloud, admin: str, host: str) -> tuple[int, int]:
    """(vcpus_used, memory_mb_used) of one host, as os-hypervisors reports them."""
    for hypervisor in cloud.request("GET", f"{BASE}/os-hypervisors/detail", admin).json()["hypervisors"]:
        if hypervisor["hypervisor_hostname"] == host:
            return hypervisor["vcpus_used"], hypervisor["memory_mb_used"]
    raise AssertionError(f"no hypervisor {host}")


def flavor(cloud, admin: str, flavor_id: str) -> tuple[int, int]:
    found = cloud.request("GET", f"{BASE}/flavors/{flavor_id}", admin).json()["flavor"]
    return found["vcpus"], found["ram"]


def plus(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] + b[0], a[1] + b[1]


def holds(cloud, host: str, server_id: str) -> bool:
    """Whether ``host``'s hypervisor has a guest of the server (running or kept off), asked of its agent."""
    with make_celery(load(cloud.server.env)) as app:
        try:
            compute_client.console_output(app, host, server_id, 64, 10)
        except CeleryTimeout:
            raise AssertionError(f"host {host} did not answer") from None
        except Exception:  # the guest is not there (InstanceNotFound, raised on the host)
            return False
        return True


def copies(cloud, server_id: str) -> set[str]:
    return {host for host in H.values() if holds(cloud, host, server_id)}


def ended(cloud, admin: str, server_id: str, *statuses: str, timeout: float = 40) -> dict[str, Any]:
    return wait_for_status(cloud, admin, server_id, *statuses, timeout=timeout)


def events_of(cloud, admin: str, server_id: str, action: str) -> list[dict[str, Any]]:
    listing = cloud.request("GET", f"{BASE}/servers/{server_id}/os-instance-actions", admin).json()["instanceActions"]
    request_id = next(a["request_id"] for a in listing if a["action"] == action)
    detail = cloud.request("GET", f"{BASE}/servers/{server_id}/os-instance-actions/{request_id}", admin)
    return detail.json()["instanceAction"]["events"]


def delete(cloud, admin: str, *server_ids: str) -> None:
    for server_id in server_ids:
        cloud.request("DELETE", f"{BASE}/servers/{server_id}", admin)
    for server_id in server_ids:
        wait_until(
            lambda server_id=server_id: cloud.request("GET", f"{BASE}/servers/{server_id}", admin).status_code == 404,
            30,
            interval=0.1,
            message=f"server {server_id} was not deleted",
        )


# ---------------------------------------------------------------------------------------------------------------
# Migrate, resize; confirm, revert


def test_migrate_then_confirm_moves_the_server_and_its_claim_to_another_host(moves_cloud, tokens, image):
    cloud, admin = moves_cloud, tokens["admin"]
    _set_enabled(cloud, admin, H[3], False)  # the scheduler's only choice is -2
    server_id = server_on(cloud, admin, image, H[1], "migrate-confirm")
    tiny = flavor(cloud, admin, "1")
    before = {h: usage(cloud, admin, h) for h in (H[1], H[2])}

    assert act(cloud, admin, server_id, {"migrate": None}).status_code == 202
    server = ended(cloud, admin, server_id, "VERIFY_RESIZE")
    assert server["OS-EXT-SRV-ATTR:host"] == H[2] and server["flavor"]["id"] == "1"
    assert server["OS-EXT-STS:power_state"] == 1
    # Waiting for confirmation, the source keeps its claim (and its copy, off) and the target holds the server's.
    assert usage(cloud, admin, H[1]) == before[H[1]] and usage(cloud, admin, H[2]) == plus(before[H[2]], tiny)
    assert copies(cloud, server_id) == {H[1], H[2]}
    row = moving.move_of(cloud, server_id)
    assert (row.migration_type, row.status, row.source_compute, row.dest_compute) == (
        "migration",
        "finished",
        H[1],
        H[2],
    )

    assert act(cloud, admin, server_id, {"confirmResize": None}).status_code == 204
    server = ended(cloud, admin, server_id, "ACTIVE")
    assert server["OS-EXT-SRV-ATTR:host"] == H[2]
    assert usage(cloud, admin, H[1]) == plus(before[H[1]], (-tiny[0], -tiny[1]))
    assert usage(cloud, admin, H[2]) == plus(before[H[2]], tiny)
    assert copies(cloud, server_id) == {H[2]}
    assert moving.move_of(cloud, server_id).status == "confirmed"
    listed = cloud.request(
        "GET", f"{BASE}/os-migrations", admin, headers=version("2.80"), params={"instance_uuid": server_id}
    ).json()["migrations"]
    assert [(m["migration_type"], m["status"], m["source_compute"], m["dest_compute"]) for m in listed] == [
        ("migration", "confirmed", H[1], H[2])
    ]
    assert listed[0]["user_id"] and listed[0]["project_id"]  # who asked (2.80)
    steps = [e["event"] for e in events_of(cloud, admin, server_id, "migrate")]
    assert steps == ["compute_prep_resize", "compute_resize_instance", "compute_finish_resize"]
    delete(cloud, admin, server_id)


def test_migrate_to_a_named_host_then_revert_brings_a_stopped_server_back_stopped(moves_cloud, tokens, image):
    cloud, admin = moves_cloud, tokens["admin"]
    server_id = server_on(cloud, admin, image, H[1], "migrate-revert")
    assert act(cloud, admin, server_id, {"os-stop": None}).status_code == 202
    ended(cloud, admin, server_id, "SHUTOFF")
    before = {h: usage(cloud, admin, h) for h in (H[1], H[3])}

    assert act(cloud, admin, server_id, {"migrate": {"host": H[3]}}, V256).status_code == 202
    server = ended(cloud, admin, server_id, "VERIFY_RESIZE")
    assert server["OS-EXT-SRV-ATTR:host"] == H[3] and server["OS-EXT-STS:power_state"] == 4  # off as it was

    assert act(cloud, admin, server_id, {"revertResize": None}).status_code == 202
    server = ended(cloud, admin, server_id, "SHUTOFF")
    assert server["OS-EXT-SRV-ATTR:host"] == H[1]
    assert {h: usage(cloud, admin, h) for h in (H[1], H[3])} == before
    assert copies(cloud, server_id) == {H[1]}
    assert moving.move_of(cloud, server_id).status == "reverted"
    delete(cloud, admin, server_id)


def test_a_server_on_a_network_has_its_port_bound_to_the_target_and_back_to_the_source_on_revert(
    moves_cloud, tokens, image
):
    cloud, admin = moves_cloud, tokens["admin"]
    net = cloud.request("POST", f"{NET}/networks", admin, json={"network": {"name": "moves"}}).json()["network"]
    body = {"subnet": {"network_id": net["id"], "cidr": "10.9.0.0/24", "ip_version": 4}}
    assert cloud.request("POST", f"{NET}/subnets", admin, json=body).status_code == 201
    server_id = server_on(cloud, admin, image, H[1], "networked", networks=[{"uuid": net["id"]}])
    (port,) = cloud.request("GET", f"{NET}/ports", admin, params={"device_id": server_id}).json()["ports"]
    assert port["binding:host_id"] == H[1]

    assert act(cloud, admin, server_id, {"migrate": {"host": H[2]}}, V256).status_code == 202
    ended(cloud, admin, server_id, "VERIFY_RESIZE")
    moved = cloud.request("GET", f"{NET}/ports/{port['id']}", admin).json()["port"]
    assert (moved["binding:host_id"], moved["status"]) == (H[2], "ACTIVE")

    assert act(cloud, admin, server_id, {"revertResize": None}).status_code == 202
    server = ended(cloud, admin, server_id, "ACTIVE")
    assert server["OS-EXT-SRV-ATTR:host"] == H[1] and copies(cloud, server_id) == {H[1]}
    back = wait_until(
        lambda: cloud.request("GET", f"{NET}/ports/{port['id']}", admin).json()["port"],
        20,
        interval=0.1,
        message="the port never came back to the source",
        until=lambda found: found["status"] == "ACTIVE",
    )
    assert (
        back["binding:host_id"] == H[1]
        and server["addresses"]["moves"][0]["addr"] == port["fixed_ips"][0]["ip_address"]
    )
    delete(cloud, admin, server_id)
    cloud.request("DELETE", f"{NET}/networks/{net['id']}", admin)


def test_an_attached_volume_follows_the_server_to_the_target_and_back_on_revert(moves_cloud, tokens, image):
    cloud, admin = moves_cloud, tokens["admin"]
    server_id = server_on(cloud, admin, image, H[1], "with-volume")
    made = cloud.request("POST", "/volume/v3/volumes", admin, json={"volume": {"name": "moves", "size": 1}})
    volume_id = made.json()["volume"]["id"]

    def volume() -> dict[str, Any]:
        return cloud.request("GET", f"/volume/v3/volumes/{volume_id}", admin).json()["volume"]

    wait_until(
        volume,
        30,
        interval=0.1,
        message="the volume never became available",
        until=lambda v: v["status"] == "available",
    )
    body = {"volumeAttachment": {"volumeId": volume_id}}
    attached = cloud.request("POST", f"{BASE}/servers/{server_id}/os-volume_attachments", admin, json=body)
    assert attached.status_code == 200, attached.text
    in_use = wait_until(volume, 30, interval=0.1, message="never in use", until=lambda v: v["status"] == "in-use")
    assert in_use["attachments"][0]["host_name"] == H[1]

    assert act(cloud, admin, server_id, {"migrate": {"host": H[2]}}, V256).status_code == 202
    ended(cloud, admin, server_id, "VERIFY_RESIZE")
    (attachment,) = volume()["attachments"]
    assert (attachment["server_id"], attachment["host_name"]) == (server_id, H[2])

    assert act(cloud, admin, server_id, {"revertResize": None}).status_code == 202
    ended(cloud, admin, server_id, "ACTIVE")
    assert volume()["attachments"][0]["host_name"] == H[1]
    delete(cloud, admin, server_id)
    wait_until(volume, 30, interval=0.1, message="never detached", until=lambda v: v["status"] == "available")
    cloud.request("DELETE", f"/volume/v3/volumes/{volume_id}", admin)


@pytest.mark.parametrize("ending", ["confirmResize", "revertResize"])
def test_resize_to_another_host_holds_both_flavors_until_it_is_confirmed_or_reverted(
    moves_cloud, tokens, image, ending
):
    cloud, admin = moves_cloud, tokens["admin"]
    _set_enabled(cloud, admin, H[3], False)
    tiny, medium = flavor(cloud, admin, "1"), flavor(cloud, admin, "3")
    server_id = server_on(cloud, admin, image, H[1], f"resize-{ending}")
    before = {h: usage(cloud, admin, h) for h in (H[1], H[2])}

    assert act(cloud, admin, server_id, {"resize": {"flavorRef": "3"}}).status_code == 202
    server = ended(cloud, admin, server_id, "VERIFY_RESIZE")
    assert server["OS-EXT-SRV-ATTR:host"] == H[2] and server["flavor"]["id"] == "3"
    assert usage(cloud, admin, H[1]) == before[H[1]] and usage(cloud, admin, H[2]) == plus(before[H[2]], medium)
    assert moving.move_of(cloud, server_id).migration_type == "resize"

    assert act(cloud, admin, server_id, {ending: None}).status_code in (202, 204)
    server = ended(cloud, admin, server_id, "ACTIVE")
    if ending == "confirmResize":
        assert (server["OS-EXT-SRV-ATTR:host"], server["flavor"]["id"]) == (H[2], "3")
        assert usage(cloud, admin, H[1]) == plus(before[H[1]], (-tiny[0], -tiny[1]))
        assert usage(cloud, admin, H[2]) == plus(before[H[2]], medium)
        assert copies(cloud, server_id) == {H[2]}
    else:
        assert (server["OS-EXT-SRV-ATTR:host"], server["flavor"]["id"]) == (H[1], "1")
        assert {h: usage(cloud, admin, h) for h in (H[1], H[2])} == before
        assert copies(cloud, server_id) == {H[1]}
    delete(cloud, admin, server_id)


def test_with_no_other_host_a_migrate_changes_nothing_and_a_resize_stays_in_place(moves_cloud, tokens, image):
    cloud, admin = moves_cloud, tokens["admin"]
    server_id = server_on(cloud, admin, image, H[1], "alone")
    with_others_off = (H[2], H[3])
    for host in with_others_off:
        _set_enabled(cloud, admin, host, False)
    try:
        assert act(cloud, admin, server_id, {"migrate": None}).status_code == 202
        server = wait_until(
            lambda: show(cloud, admin, server_id),
            30,
            interval=0.1,
            message="the migrate never ended",
            until=lambda s: s["OS-EXT-STS:task_state"] is None and s["status"] == "ACTIVE",
        )
        assert server["OS-EXT-SRV-ATTR:host"] == H[1] and server["flavor"]["id"] == "1"
        (event,) = events_of(cloud, admin, server_id, "migrate")
        assert event["result"] == "Error" and "No valid host" in event["traceback"]
        assert moving.move_of(cloud, server_id).status == "error"
        assert copies(cloud, server_id) == {H[1]}

        # allow_resize_to_same_host (default true): a one-host cloud still resizes.
        assert act(cloud, admin, server_id, {"resize": {"flavorRef": "2"}}).status_code == 202
        server = ended(cloud, admin, server_id, "VERIFY_RESIZE")
        assert server["OS-EXT-SRV-ATTR:host"] == H[1]
        assert act(cloud, admin, server_id, {"confirmResize": None}).status_code == 204
        server = ended(cloud, admin, server_id, "ACTIVE")
        assert (server["OS-EXT-SRV-ATTR:host"], server["flavor"]["id"]) == (H[1], "2")
        row = moving.move_of(cloud, server_id)  # recorded as Nova records a resize in place
        assert (row.migration_type, row.source_compute, row.dest_compute, row.status) == (
            "resize",
            H[1],
            H[1],
            "confirmed",
        )
    finally:
        for host in with_others_off:
            _set_enabled(cloud, admin, host, True)
    delete(cloud, admin, server_id)


def test_deleting_a_server_waiting_for_confirmation_leaves_no_copy_on_either_host(moves_cloud, tokens, image):
    cloud, admin = moves_cloud, tokens["admin"]
    server_id = server_on(cloud, admin, image, H[1], "deleted-mid-move")
    before = {h: usage(cloud, admin, h) for h in (H[1], H[3])}
    assert act(cloud, admin, server_id, {"migrate": {"host": H[3]}}, V256).status_code == 202
    ended(cloud, admin, server_id, "VERIFY_RESIZE")
    delete(cloud, admin, server_id)
    wait_until(lambda: copies(cloud, server_id), 20, interval=0.2, message="a copy stayed", until=lambda c: not c)
    assert moving.move_of(cloud, server_id).status == "error"
    tiny = flavor(cloud, admin, "1")
    assert (
        usage(cloud, admin, H[1]) == plus(before[H[1]], (-tiny[0], -tiny[1]))
        and usage(cloud, admin, H[3]) == (before[H[3]])
    )


# ---------------------------------------------------------------------------------------------------------------
# A failure at each step: one copy, where the server was, and the step's error in its action


def _failed_and_back(cloud, admin: str, server_id: str, source: str, target: str, event: str, before) -> None:
    server = wait_until(
        lambda: show(cloud, admin, server_id),
        40,
        interval=0.1,
        message="the failed move never ended",
        until=lambda s: s["OS-EXT-STS:task_state"] is None and s["status"] != "VERIFY_RESIZE",
    )
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"], server["OS-EXT-STS:power_state"]) == (
        "ACTIVE",
        source,
        1,
    )
    assert server["flavor"]["id"] == "1"
    failed = [e for e in events_of(cloud, admin, server_id, "migrate") if e["result"] == "Error"]
    assert [e["event"] for e in failed][:1] == [event] and "injected failure" in failed[0]["traceback"]
    row = moving.move_of(cloud, server_id)
    assert row.status == "error" and "injected failure" in (row.error or "")
    assert copies(cloud, server_id) == {source}
    assert usage(cloud, admin, target) == before  # the target's claim released


def test_a_failed_disk_copy_leaves_the_server_running_on_its_source_and_nothing_on_the_target(
    moves_cloud, tokens, image
):
    cloud, admin = moves_cloud, tokens["admin"]
    with enabled(cloud, admin, BAD_SOURCE):
        server_id = server_on(cloud, admin, image, BAD_SOURCE, "bad-disk-copy")
    before = usage(cloud, admin, H[2])
    assert act(cloud, admin, server_id, {"migrate": {"host": H[2]}}, V256).status_code == 202
    _failed_and_back(cloud, admin, server_id, BAD_SOURCE, H[2], "compute_resize_instance", before)
    delete(cloud, admin, server_id)


def test_a_target_that_cannot_start_the_guest_gives_the_server_back_to_its_source(moves_cloud, tokens, image):
    cloud, admin = moves_cloud, tokens["admin"]
    server_id = server_on(cloud, admin, image, H[1], "bad-finish")
    with enabled(cloud, admin, BAD_TARGET):
        before = usage(cloud, admin, BAD_TARGET)
        assert act(cloud, admin, server_id, {"migrate": {"host": BAD_TARGET}}, V256).status_code == 202
        _failed_and_back(cloud, admin, server_id, H[1], BAD_TARGET, "compute_finish_resize", before)
    delete(cloud, admin, server_id)


def test_a_source_that_cannot_confirm_keeps_the_server_waiting_and_a_failed_revert_leaves_a_fault(
    moves_cloud, tokens, image
):
    cloud, admin = moves_cloud, tokens["admin"]
    with enabled(cloud, admin, BAD_ENDING_SOURCE):
        server_id = server_on(cloud, admin, image, BAD_ENDING_SOURCE, "bad-ending")
    assert act(cloud, admin, server_id, {"migrate": {"host": H[2]}}, V256).status_code == 202
    ended(cloud, admin, server_id, "VERIFY_RESIZE")

    assert act(cloud, admin, server_id, {"confirmResize": None}).status_code == 204
    server = ended(cloud, admin, server_id, "VERIFY_RESIZE")  # still waiting: the user may try again
    (event,) = events_of(cloud, admin, server_id, "confirmResize")
    assert event["result"] == "Error" and "injected failure" in event["traceback"]
    assert copies(cloud, server_id) == {BAD_ENDING_SOURCE, H[2]}
    assert moving.move_of(cloud, server_id).status == "finished"

    # The revert removes the target's copy, then the source cannot start its own: one copy, the error, no task.
    assert act(cloud, admin, server_id, {"revertResize": None}).status_code == 202
    server = ended(cloud, admin, server_id, "SHUTOFF", "ERROR")
    assert server["OS-EXT-SRV-ATTR:host"] == BAD_ENDING_SOURCE
    reverted = {e["event"]: e for e in events_of(cloud, admin, server_id, "revertResize")}
    assert reverted["compute_revert_resize"]["result"] == "Success"  # the target's copy is gone
    failed = reverted["compute_finish_revert_resize"]
    assert failed["result"] == "Error" and "injected failure" in failed["traceback"]
    assert copies(cloud, server_id) == {BAD_ENDING_SOURCE}
    assert moving.move_of(cloud, server_id).status == "error"
    delete(cloud, admin, server_id)


def test_a_target_that_cannot_give_a_revert_back_keeps_the_server_there_waiting_for_a_confirm(
    moves_cloud, tokens, image
):
    cloud, admin = moves_cloud, tokens["admin"]
    server_id = server_on(cloud, admin, image, H[1], "bad-revert")
    with enabled(cloud, admin, BAD_REVERT_TARGET):
        assert act(cloud, admin, server_id, {"migrate": {"host": BAD_REVERT_TARGET}}, V256).status_code == 202
        ended(cloud, admin, server_id, "VERIFY_RESIZE")
        assert act(cloud, admin, server_id, {"revertResize": None}).status_code == 202
        server = ended(cloud, admin, server_id, "VERIFY_RESIZE")
        assert server["OS-EXT-SRV-ATTR:host"] == BAD_REVERT_TARGET
        (event,) = events_of(cloud, admin, server_id, "revertResize")
        assert event["result"] == "Error" and "injected failure" in event["traceback"]
        # Never a second running copy: the source's stays off until a revert succeeds.
        assert copies(cloud, server_id) == {H[1], BAD_REVERT_TARGET}

        assert act(cloud, admin, server_id, {"confirmResize": None}).status_code == 204
        server = ended(cloud, admin, server_id, "ACTIVE")
        assert server["OS-EXT-SRV-ATTR:host"] == BAD_REVERT_TARGET
        assert copies(cloud, server_id) == {BAD_REVERT_TARGET}
        delete(cloud, admin, server_id)


# ---------------------------------------------------------------------------------------------------------------
# A step whose message is lost


def test_a_disk_copy_whose_message_was_lost_is_sent_again_and_the_move_ends_on_the_target(moves_cloud, tokens, image):
    """The agent (every fake host's) is frozen while the migrate sends the source its disk copy, and what Redis holds
    of the source's queue is deleted, as a broker that restarted would lose it: the step is sent again once the
    source has not acknowledged it within compute_build_take_timeout, and the move ends on the target, one guest."""
    cloud, admin = moves_cloud, tokens["admin"]
    _set_enabled(cloud, admin, H[3], False)  # the scheduler's only choice is -2
    server_id = server_on(cloud, admin, image, H[1], "lost-disk-copy")
    with moving.agent_frozen(cloud):
        assert act(cloud, admin, server_id, {"migrate": None}).status_code == 202
        wait_until(
            lambda: _awaited_step(cloud, server_id),
            30,
            interval=0.1,
            message="the disk copy was never sent",
            until=lambda step: step == ("migrate_disk_and_power_off", H[1], 1),
        )
        assert moving.lose_queue(cloud, H[1]) >= 1, "the disk copy was not waiting in the source's queue"
    # Before the step was sent again, the server stayed in resize_migrating until compute_task_timeout.
    server = ended(cloud, admin, server_id, "VERIFY_RESIZE")
    assert server["OS-EXT-SRV-ATTR:host"] == H[2]
    steps = [(e["event"], e["result"]) for e in events_of(cloud, admin, server_id, "migrate")]
    assert steps == [
        ("compute_prep_resize", "Success"), ("compute_resize_instance", "Success"), ("compute_finish_resize", "Success")
    ]  # fmt: skip
    assert act(cloud, admin, server_id, {"confirmResize": None}).status_code == 204
    assert ended(cloud, admin, server_id, "ACTIVE")["OS-EXT-SRV-ATTR:host"] == H[2]
    assert copies(cloud, server_id) == {H[2]}
    delete(cloud, admin, server_id)


def _awaited_step(cloud, server_id: str) -> tuple[str | None, str | None, int] | None:
    """The step the server's move waits for its host to acknowledge (step, host, times sent), if it has a move."""
    row = moving.newest_move(cloud, server_id)
    return None if row is None else (row.step, row.step_host, row.step_sends)


# ---------------------------------------------------------------------------------------------------------------
# Concurrency, rights, bad requests, the CLI


def test_concurrent_migrations_to_one_target_never_overcommit_it(moves_cloud, tokens, image):
    cloud, admin = moves_cloud, tokens["admin"]
    big = cloud.request(
        "POST", f"{BASE}/flavors", admin, json={"flavor": {"name": f"half-{HOST}", "vcpus": 1, "ram": 33000, "disk": 1}}
    ).json()["flavor"]
    try:
        # One such server fills a fake host's 64 GiB past half: -2 can take one of them, never both.
        first = server_on(cloud, admin, image, H[1], "race-1", flavor=big["id"])
        second = server_on(cloud, admin, image, H[3], "race-2", flavor=big["id"])
        answers: list[int] = []
        threads = [
            threading.Thread(target=lambda s=s: answers.append(act(cloud, admin, s, {"migrate": None}).status_code))
            for s in (first, second)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [202, 202]
        servers = [
            wait_until(
                lambda s=s: show(cloud, admin, s),
                40,
                interval=0.1,
                message="a migration never ended",
                until=lambda found: found["OS-EXT-STS:task_state"] is None,
            )
            for s in (first, second)
        ]
        statuses = sorted((s["status"], s["OS-EXT-SRV-ATTR:host"]) for s in servers)
        assert [status for status, _ in statuses] == ["ACTIVE", "VERIFY_RESIZE"], statuses
        assert (statuses[1][1]) == H[2]
        _, memory_used = usage(cloud, admin, H[2])
        assert memory_used <= 65536
        delete(cloud, admin, first, second)
    finally:
        cloud.request("DELETE", f"{BASE}/flavors/{big['id']}", admin)


def test_migrate_is_for_admins_and_hostile_bodies_are_refused(moves_cloud, tokens, image):
    cloud, admin, demo = moves_cloud, tokens["admin"], tokens["demo"]
    body = {"server": {"name": "demo-own", "imageRef": image, "flavorRef": "1", "networks": "none"}}
    created = cloud.request("POST", f"{BASE}/servers", demo, json=body, headers=version("2.37"))
    server_id = created.json()["server"]["id"]
    wait_for_status(cloud, demo, server_id, "ACTIVE")
    host = show(cloud, admin, server_id)["OS-EXT-SRV-ATTR:host"]

    fault(act(cloud, demo, server_id, {"migrate": None}), "forbidden", 403)
    hostile = [
        {"migrate": {"host": 5}},
        {"migrate": {"bogus": "x"}},
        {"migrate": "somewhere"},
        {"migrate": {"host": ""}},
        {"migrate": {"host": "x" * 256}},
        {"migrate": {"host": "no-such-host"}},
        {"migrate": {"host": host}},
        {"migrate": {"host": "$(reboot)"}},
        {"migrate": None, "resize": {"flavorRef": "2"}},
    ]
    for hostile_body in hostile:
        fault(act(cloud, admin, server_id, hostile_body, V256), "badRequest", 400)
    fault(act(cloud, admin, "00000000-0000-4000-8000-000000000000", {"migrate": None}), "itemNotFound", 404)
    server = show(cloud, admin, server_id)
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"], server["OS-EXT-STS:task_state"]) == ("ACTIVE", host, None)

    # Before 2.56 Nova reads nothing of the body: a host named there is no error, and not honoured.
    assert act(cloud, admin, server_id, {"migrate": {"host": "no-such-host"}}, version("2.55")).status_code == 202
    ended(cloud, admin, server_id, "VERIFY_RESIZE")
    fault(act(cloud, admin, server_id, {"migrate": None}), "conflictingRequest", 409)  # already moved, unconfirmed
    assert act(cloud, demo, server_id, {"revertResize": None}).status_code == 202  # the owner ends it
    server = ended(cloud, admin, server_id, "ACTIVE")
    assert server["OS-EXT-SRV-ATTR:host"] == host
    delete(cloud, admin, server_id)


def test_a_server_whose_host_is_down_is_neither_migrated_nor_resized(moves_cloud, tokens, image):
    cloud, admin = moves_cloud, tokens["admin"]
    server_id = server_on(cloud, admin, image, H[3], "host-down")

    def force_down(down: bool) -> None:
        body = {"host": H[3], "binary": "nova-compute", "forced_down": down}
        answer = cloud.request("PUT", f"{BASE}/os-services/force-down", admin, json=body, headers=version("2.11"))
        assert answer.status_code == 200, answer.text

    force_down(True)
    try:
        for body in ({"migrate": None}, {"resize": {"flavorRef": "2"}}):
            assert "is down" in fault(act(cloud, admin, server_id, body), "conflictingRequest", 409)
        server = show(cloud, admin, server_id)
        assert (server["OS-EXT-STS:task_state"], server["flavor"]["id"]) == (None, "1")
    finally:
        force_down(False)
        _set_enabled(cloud, admin, H[3], True)
    delete(cloud, admin, server_id)


def test_the_openstack_cli_migrates_confirms_resizes_and_reverts(moves_cloud, tokens, image):
    cloud, admin = moves_cloud, tokens["admin"]
    server_id = server_on(cloud, admin, image, H[1], "cli-moves")

    cloud.openstack("stratus-admin", "server", "migrate", "--host", H[2], "--wait", server_id)
    shown = cli_json(cloud, "stratus-admin", "server", "show", server_id)
    assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("VERIFY_RESIZE", H[2])
    cloud.openstack("stratus-admin", "server", "migration", "confirm", server_id)
    assert ended(cloud, admin, server_id, "ACTIVE")["OS-EXT-SRV-ATTR:host"] == H[2]
    listed = cli_json(cloud, "stratus-admin", "server", "migration", "list", "--server", server_id)
    assert [(m["Type"], m["Status"], m["Dest Compute"]) for m in listed] == [("migration", "confirmed", H[2])]

    cloud.openstack("stratus-admin", "server", "resize", "--flavor", "m1.small", "--wait", server_id)
    shown = cli_json(cloud, "stratus-admin", "server", "show", server_id)
    assert shown["status"] == "VERIFY_RESIZE" and shown["OS-EXT-SRV-ATTR:host"] != H[2]
    cloud.openstack("stratus-admin", "server", "resize", "revert", server_id)
    server = ended(cloud, admin, server_id, "ACTIVE")
    assert (server["OS-EXT-SRV-ATTR:host"], server["flavor"]["id"]) == (H[2], "1")

    cloud.openstack("stratus-admin", "server", "resize", "--flavor", "m1.small", "--wait", server_id)
    cloud.openstack("stratus-admin", "server", "resize", "confirm", server_id)
    server = ended(cloud, admin, server_id, "ACTIVE")
    assert server["flavor"]["id"] == "2" and copies(cloud, server_id) == {server["OS-EXT-SRV-ATTR:host"]}
    delete(cloud, admin, server_id)
