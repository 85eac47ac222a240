"""Evacuation, fencing and HA restart: a server of a fenced host that is down is rebuilt on another host, its ports
and claim follow it, and the host that comes back never runs a second copy.

The cloud runs three hosts with agent processes of their own (``hosts`` = 3, fake driver and dataplane): VICTIM,
whose agents are frozen to make it go down (as a hung or dead machine), SURVIVOR, and BROKEN, whose spawns always
fail (disabled, so only an evacuation forced onto it reaches it). The fence command is a script that records its
arguments; HA servers are evacuated 2 s after their host is down (heartbeat 1 s, down after 5 s). The tests run
in order (one outage of VICTIM for the ones in the middle) and share the module's cloud.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import text

from common.db import make_engine
from manage.clouds import write_clouds_yaml
from tests.functional.compute import BASE, fault, version
from tests.functional.compute.conftest import public_raw_image, show, wait_for_status
from tests.functional.conftest import CloudClient
from tests.harness import running_cloud, wait_until

pytestmark = pytest.mark.functional

HOST = f"ev{secrets.token_hex(2)}"
VICTIM, SURVIVOR, BROKEN = f"{HOST}-1", f"{HOST}-2", f"{HOST}-3"
NET = "/network/v2.0"
PASSWORDS = {"admin": "ev-admin-secret", "demo": "ev-demo-secret"}
WITHIN = 60.0


@pytest.fixture(scope="module")
def fence_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fence") / "fenced.log"


@pytest.fixture(scope="module")
def three_hosts(tmp_path_factory: pytest.TempPathFactory, fence_log: Path) -> Iterator[CloudClient]:
    script = fence_log.parent / "fence.sh"
    script.write_text(f'#!/bin/sh\necho "$#:$1:$2" >> {fence_log}\n')
    env = {
        "STRATUS_HOSTS": "3",
        "STRATUS_HOST": HOST,
        "STRATUS_COMPUTE_FAKE_HOSTS": "0",
        "STRATUS_COMPUTE_FAKE_FAILING_HOSTS": BROKEN,
        "STRATUS_HOST_HEARTBEAT_INTERVAL": "1",
        "STRATUS_COMPUTE_HOST_DOWN_AFTER": "5",
        "STRATUS_COMPUTE_BUILD_TAKE_TIMEOUT": "3",
        "STRATUS_HA_GRACE_PERIOD": "2",
        "STRATUS_FENCE_COMMAND": f"/bin/sh {script}",
        "STRATUS_FENCE_TIMEOUT": "10",
        "STRATUS_NETWORK_SIMULATED_UNDERLAY": "198.18.201.0/24",
    }
    state = tmp_path_factory.mktemp("evacuation")
    with running_cloud(state, env) as server:
        server.bootstrap(PASSWORDS["admin"], PASSWORDS["demo"])
        clouds_yaml = state / "ev-clouds.yaml"
        write_clouds_yaml(clouds_yaml, server.auth_url, "RegionOne", {"ev-admin": ("admin", PASSWORDS["admin"])})
        yield CloudClient(server, clouds_yaml)


@pytest.fixture(scope="module")
def tokens(three_hosts) -> dict[str, str]:
    return {user: three_hosts.session(user, PASSWORDS[user], project=user).get_token() for user in ("admin", "demo")}


@pytest.fixture(scope="module")
def image(three_hosts, tokens) -> str:
    _wait_for_up(three_hosts, tokens["admin"], {VICTIM, SURVIVOR, BROKEN})
    _set_enabled(three_hosts, tokens["admin"], BROKEN, False)  # only a forced evacuation goes there
    return public_raw_image(three_hosts, tokens["admin"], "evacuation")


@pytest.fixture(scope="module")
def network(three_hosts, tokens) -> str:
    cloud, admin = three_hosts, tokens["admin"]
    made = cloud.request("POST", f"{NET}/networks", admin, json={"network": {"name": "ev-net"}}).json()["network"]
    subnet = {"network_id": made["id"], "cidr": "10.19.0.0/24", "ip_version": 4}
    assert cloud.request("POST", f"{NET}/subnets", admin, json={"subnet": subnet}).status_code == 201
    return made["id"]


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _agents(cloud, host: str) -> list[psutil.Process]:
    found = []
    for kind in ("compute", "network"):
        pid_file = cloud.server.state_dir / "run" / f"{kind}-agent-{host}.pid"
        agent = psutil.Process(int(pid_file.read_text().split()[0]))
        found += [agent, *agent.children(recursive=True)]
    return found


def _set_enabled(cloud, admin: str, host: str, enabled: bool) -> None:
    body = {"host": host, "binary": "nova-compute"}
    response = cloud.request("PUT", f"{BASE}/os-services/{'enable' if enabled else 'disable'}", admin, json=body)
    assert response.status_code == 200, response.text


def _hypervisors(cloud, admin: str) -> dict[str, dict[str, Any]]:
    found = cloud.request("GET", f"{BASE}/os-hypervisors/detail", admin).json()["hypervisors"]
    return {h["hypervisor_hostname"]: h for h in found}


def _wait_for_up(cloud, admin: str, hosts: set[str], timeout: float = 60) -> None:
    wait_until(
        lambda: _hypervisors(cloud, admin),
        timeout,
        interval=0.2,
        message=f"hosts {hosts} not up",
        until=lambda found: all(found.get(h, {}).get("state") == "up" for h in hosts),
    )


def _service(cloud, admin: str, host: str) -> dict[str, Any]:
    params = {"host": host, "binary": "nova-compute"}
    (found,) = cloud.request("GET", f"{BASE}/os-services", admin, params=params, headers=version("2.53")).json()[
        "services"
    ]
    return found


def _server_on(cloud, admin: str, image: str, name: str, host: str, **extra: Any) -> dict[str, Any]:
    body = {
        "server": {
            "name": name,
            "imageRef": image,
            "flavorRef": "1",
            "networks": "none",
            "availability_zone": f"nova:{host}",
            **extra,
        }
    }
    response = cloud.request("POST", f"{BASE}/servers", admin, json=body, headers=version("2.37"))
    assert response.status_code == 202, response.text
    server = wait_for_status(cloud, admin, response.json()["server"]["id"], "ACTIVE", timeout=WITHIN)
    assert server["OS-EXT-SRV-ATTR:host"] == host
    return server


def _root(image: str) -> dict[str, Any]:
    """A server booted from a new volume made from ``image``, kept when the server goes."""
    root = {"boot_index": 0, "uuid": image, "source_type": "image", "destination_type": "volume", "volume_size": 1}
    return {"block_device_mapping_v2": [root]}


def _evacuate(cloud, token: str, server_id: str, body: Any, microversion: str = "2.29"):
    return cloud.request(
        "POST", f"{BASE}/servers/{server_id}/action", token, json={"evacuate": body}, headers=version(microversion)
    )


def _migrations(cloud, server_id: str) -> list[dict[str, Any]]:
    """The server's moves as the records keep them (newest first)."""
    engine = make_engine(f"sqlite:///{cloud.server.state_dir / 'stratus.db'}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT migration_type, status, source_compute, dest_compute, error FROM migrations "
                    "WHERE instance_id = :id ORDER BY id DESC"
                ),
                {"id": server_id},
            )
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def _wait_for_migration(cloud, server_id: str, status: str, timeout: float = WITHIN) -> dict[str, Any]:
    return wait_until(
        lambda: _migrations(cloud, server_id),
        timeout,
        interval=0.2,
        message=f"the evacuation of {server_id} never became {status}",
        until=lambda moves: bool(moves) and moves[0]["status"] == status,
    )[0]


# ---------------------------------------------------------------------------------------------------------------
# While every host is up


def test_a_server_whose_host_is_up_is_not_evacuated(three_hosts, tokens, image):
    cloud, admin = three_hosts, tokens["admin"]
    server = _server_on(cloud, admin, image, "ev-up", VICTIM)
    message = fault(_evacuate(cloud, admin, server["id"], {}), "badRequest", 400)
    assert message == f"Compute service of {VICTIM} is still in use."
    message = fault(_evacuate(cloud, admin, server["id"], {"host": VICTIM}), "badRequest", 400)
    assert message == "The target host can't be the same one."
    fault(_evacuate(cloud, admin, server["id"], {"host": "no-such-host"}), "itemNotFound", 404)
    assert show(cloud, admin, server["id"])["status"] == "ACTIVE"
    assert _migrations(cloud, server["id"]) == []
    assert cloud.request("DELETE", f"{BASE}/servers/{server['id']}", admin).status_code == 204


def test_only_admins_evacuate_and_hostile_bodies_are_refused(three_hosts, tokens, image):
    cloud, admin, demo = three_hosts, tokens["admin"], tokens["demo"]
    body = {"server": {"name": "ev-demo", "imageRef": image, "flavorRef": "1", "networks": "none"}}
    created = cloud.request("POST", f"{BASE}/servers", demo, json=body, headers=version("2.37")).json()["server"]
    fault(_evacuate(cloud, demo, created["id"], {}), "forbidden", 403)
    hostile: list[tuple[Any, str]] = [
        (None, "2.29"),
        ([], "2.29"),
        ("x", "2.29"),
        ({"host": ""}, "2.29"),
        ({"host": "a b"}, "2.29"),
        ({"host": "h" * 256}, "2.29"),
        ({"host": "$(reboot)"}, "2.29"),
        ({"host": {"x": 1}}, "2.29"),
        ({"force": "maybe"}, "2.29"),
        ({"force": True}, "2.68"),  # gone from 2.68
        ({"adminPass": 7}, "2.29"),
        ({"onSharedStorage": False}, "2.29"),  # gone from 2.14
        ({}, "2.1"),  # required before 2.14
        ({"onSharedStorage": True, "adminPass": "p"}, "2.1"),
        ({"targetState": "stopped"}, "2.95"),
        ({"unknown": 1}, "2.95"),
    ]
    for argument, microversion in hostile:
        response = _evacuate(cloud, admin, created["id"], argument, microversion)
        fault(response, "badRequest", 400)
    wait_for_status(cloud, demo, created["id"], "ACTIVE", timeout=WITHIN)
    assert cloud.request("DELETE", f"{BASE}/servers/{created['id']}", demo).status_code == 204


# ---------------------------------------------------------------------------------------------------------------
# VICTIM goes down: its HA server is evacuated once it is fenced, the others wait for an admin


@pytest.fixture(scope="module")
def outage(three_hosts, tokens, image, network) -> Iterator[dict[str, dict[str, Any]]]:
    """Servers on VICTIM (one marked HA), then VICTIM's agents frozen until the module's last test thaws them."""
    cloud, admin = three_hosts, tokens["admin"]
    servers = {
        "ha": _server_on(cloud, admin, image, "ev-ha", VICTIM, metadata={"HA_Enabled": "True"}),
        "manual": _server_on(cloud, admin, image, "ev-manual", VICTIM, networks=[{"uuid": network}]),
        "plain": _server_on(cloud, admin, image, "ev-plain", VICTIM),
        "doomed": _server_on(cloud, admin, image, "ev-doomed", VICTIM),
        "v21": _server_on(cloud, admin, image, "ev-v21", VICTIM),
        "v295": _server_on(cloud, admin, image, "ev-v295", VICTIM),
        "volume": _server_on(cloud, admin, "", "ev-volume", VICTIM, metadata={"HA_Enabled": "true"}, **_root(image)),
    }
    frozen = _agents(cloud, VICTIM)
    for process in frozen:
        process.suspend()
    try:
        yield servers
    finally:
        for process in frozen:
            if process.is_running():
                process.resume()


def test_an_ha_server_is_evacuated_once_its_down_host_is_fenced(three_hosts, tokens, outage, fence_log):
    cloud, admin = three_hosts, tokens["admin"]
    started = time.monotonic()
    moved = wait_until(
        lambda: show(cloud, admin, outage["ha"]["id"]),
        WITHIN,
        interval=0.2,
        message="the HA server was never evacuated",
        until=lambda server: server["OS-EXT-SRV-ATTR:host"] == SURVIVOR and server["status"] == "ACTIVE",
    )
    assert moved["id"] == outage["ha"]["id"]
    assert time.monotonic() - started >= 5, "evacuated before its host was even down"
    (fenced,) = fence_log.read_text().splitlines()  # once, the name and the address as two arguments
    count, name, address = fenced.split(":", 2)
    assert (count, name) == ("2", VICTIM) and ipaddress.ip_address(address)
    service = _service(cloud, admin, VICTIM)
    assert service["forced_down"] is True and service["state"] == "down" and service["status"] == "disabled"
    assert service["disabled_reason"] == "fenced (fence_command)"
    move = _wait_for_migration(cloud, outage["ha"]["id"], "done")
    assert (move["migration_type"], move["source_compute"], move["dest_compute"]) == ("evacuation", VICTIM, SURVIVOR)
    booted = wait_for_status(cloud, admin, outage["volume"]["id"], "ACTIVE", "ERROR", timeout=WITHIN)
    assert booted["OS-EXT-SRV-ATTR:host"] == SURVIVOR, booted.get("fault")  # its volume came along, re-attached there
    (root,) = booted["os-extended-volumes:volumes_attached"]
    volume = cloud.request("GET", f"/volume/v3/volumes/{root['id']}", admin).json()["volume"]
    assert volume["status"] == "in-use"
    assert [(a["server_id"], a["host_name"]) for a in volume["attachments"]] == [(booted["id"], SURVIVOR)]
    time.sleep(3)  # further HA passes: the servers that are not marked stay where they are
    for name in ("manual", "plain", "doomed"):
        assert show(cloud, admin, outage[name]["id"])["OS-EXT-SRV-ATTR:host"] == VICTIM
        assert _migrations(cloud, outage[name]["id"]) == []


def test_an_admin_evacuates_a_server_of_the_fenced_host_with_its_port(three_hosts, tokens, outage):
    cloud, admin = three_hosts, tokens["admin"]
    server_id = outage["manual"]["id"]
    before = _hypervisors(cloud, admin)
    listed = cloud.openstack("ev-admin", "--os-compute-api-version", "2.29", "server", "evacuate", server_id)
    assert listed.returncode == 0
    moved = wait_for_status(cloud, admin, server_id, "ACTIVE", "ERROR", timeout=WITHIN)
    assert moved["status"] == "ACTIVE" and moved["OS-EXT-SRV-ATTR:host"] == SURVIVOR, moved.get("fault")
    (port,) = cloud.request("GET", f"{NET}/ports", admin, params={"device_id": server_id}).json()["ports"]
    assert port["binding:host_id"] == SURVIVOR
    wait_until(
        lambda: cloud.request("GET", f"{NET}/ports/{port['id']}", admin).json()["port"]["status"],
        WITHIN,
        message="the evacuated server's port never came up on its new host",
        until=lambda status: status == "ACTIVE",
    )
    after = _hypervisors(cloud, admin)
    assert after[VICTIM]["vcpus_used"] == before[VICTIM]["vcpus_used"] - 1  # the claim moved with it
    assert after[SURVIVOR]["vcpus_used"] == before[SURVIVOR]["vcpus_used"] + 1
    move = _wait_for_migration(cloud, server_id, "done")
    assert (move["source_compute"], move["dest_compute"]) == (VICTIM, SURVIVOR)
    actions = cloud.request("GET", f"{BASE}/servers/{server_id}/os-instance-actions", admin).json()
    assert "evacuate" in [action["action"] for action in actions["instanceActions"]]


def test_the_answer_and_the_end_state_follow_the_microversion(three_hosts, tokens, outage):
    cloud, admin = three_hosts, tokens["admin"]
    answer = _evacuate(cloud, admin, outage["v21"]["id"], {"onSharedStorage": "False", "adminPass": "s3cret"}, "2.1")
    assert answer.status_code == 200 and answer.json() == {"adminPass": "s3cret"}  # Nova's answer before 2.14
    answer = _evacuate(cloud, admin, outage["v295"]["id"], {"host": SURVIVOR}, "2.95")
    assert answer.status_code == 200 and not answer.content
    assert wait_for_status(cloud, admin, outage["v21"]["id"], "ACTIVE", "ERROR", timeout=WITHIN)["status"] == "ACTIVE"
    stopped = wait_for_status(cloud, admin, outage["v295"]["id"], "SHUTOFF", "ERROR", timeout=WITHIN)
    assert stopped["status"] == "SHUTOFF" and stopped["OS-EXT-SRV-ATTR:host"] == SURVIVOR  # 2.95: stopped there
    again = _evacuate(cloud, admin, outage["v295"]["id"], {}, "2.95")  # its host is up: no second evacuation
    assert fault(again, "badRequest", 400) == f"Compute service of {SURVIVOR} is still in use."


def test_an_evacuation_that_fails_on_its_target_ends_in_error_with_its_claim_released(three_hosts, tokens, outage):
    cloud, admin = three_hosts, tokens["admin"]
    server_id = outage["doomed"]["id"]
    answer = _evacuate(cloud, admin, server_id, {"host": BROKEN, "force": True}, "2.29")
    assert answer.status_code == 200, answer.text
    failed = wait_for_status(cloud, admin, server_id, "ERROR", timeout=WITHIN)
    assert failed["OS-EXT-SRV-ATTR:host"] == VICTIM  # still on its (dead) host, as Nova leaves it
    assert failed["fault"]["message"].startswith(f"Evacuation to {BROKEN} failed")
    move = _wait_for_migration(cloud, server_id, "failed")
    assert move["dest_compute"] == BROKEN
    assert _hypervisors(cloud, admin)[BROKEN]["vcpus_used"] == 0


def test_the_fenced_host_is_not_forced_up_while_it_may_run_stale_copies(three_hosts, tokens, outage):
    cloud, admin = three_hosts, tokens["admin"]
    service = _service(cloud, admin, VICTIM)
    response = cloud.request(
        "PUT", f"{BASE}/os-services/{service['id']}", admin, json={"forced_down": False}, headers=version("2.53")
    )
    assert "evacuation migration records remain" in fault(response, "badRequest", 400)
    assert _service(cloud, admin, VICTIM)["forced_down"] is True


def test_a_host_that_comes_back_drops_its_evacuated_copies_and_waits_for_an_admin(three_hosts, tokens, outage):
    cloud, admin = three_hosts, tokens["admin"]
    for process in _agents(cloud, VICTIM):
        process.resume()
    # completed: the host's own report no longer lists the stale copy
    for name in ("ha", "volume", "manual", "v21", "v295"):
        move = _wait_for_migration(cloud, outage[name]["id"], "completed")
        assert move["source_compute"] == VICTIM
        assert show(cloud, admin, outage[name]["id"])["OS-EXT-SRV-ATTR:host"] == SURVIVOR
    plain = show(cloud, admin, outage["plain"]["id"])
    assert plain["status"] == "ACTIVE" and plain["OS-EXT-SRV-ATTR:host"] == VICTIM  # its own guest is kept
    service = _service(cloud, admin, VICTIM)
    assert service["status"] == "disabled" and service["state"] == "down"  # no builds before an admin says so
    cloud.openstack(
        "ev-admin",
        "--os-compute-api-version",
        "2.53",
        "compute",
        "service",
        "set",
        "--enable",
        "--up",
        VICTIM,
        "nova-compute",
    )
    _wait_for_up(cloud, admin, {VICTIM})
    service = _service(cloud, admin, VICTIM)
    assert service["forced_down"] is False and service["status"] == "enabled"


def test_an_operator_forcing_a_live_host_down_is_its_word_that_the_host_is_fenced(
    three_hosts, tokens, outage, fence_log
):
    """``compute service set --down`` on a host that still heartbeats: its servers may be evacuated at once (no
    fence command runs), and its own next report drops the copy it still runs."""
    cloud, admin = three_hosts, tokens["admin"]
    server_id = outage["plain"]["id"]
    refused = _evacuate(cloud, admin, server_id, {})
    assert fault(refused, "badRequest", 400) == f"Compute service of {VICTIM} is still in use."
    fenced_before = fence_log.read_text()
    cloud.openstack(
        "ev-admin", "--os-compute-api-version", "2.53", "compute", "service", "set", "--down", VICTIM, "nova-compute"
    )
    assert _service(cloud, admin, VICTIM)["forced_down"] is True
    assert _evacuate(cloud, admin, server_id, {}).status_code == 200
    moved = wait_for_status(cloud, admin, server_id, "ACTIVE", "ERROR", timeout=WITHIN)
    assert moved["status"] == "ACTIVE" and moved["OS-EXT-SRV-ATTR:host"] == SURVIVOR, moved.get("fault")
    assert _wait_for_migration(cloud, server_id, "completed")["source_compute"] == VICTIM  # its copy on VICTIM went
    assert fence_log.read_text() == fenced_before  # no fence command ran
    cloud.openstack(
        "ev-admin",
        "--os-compute-api-version",
        "2.53",
        "compute",
        "service",
        "set",
        "--enable",
        "--up",
        VICTIM,
        "nova-compute",
    )
    _wait_for_up(cloud, admin, {VICTIM})
