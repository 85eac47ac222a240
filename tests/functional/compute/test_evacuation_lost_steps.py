"""An evacuation whose spawn message is lost is sent again and ends ACTIVE on its target with one guest; one whose
target never takes it ends, after a bounded number of sends, in ERROR on its fenced source with the fault.

The cloud runs three hosts with agent processes of their own (``hosts`` = 3, fake driver): SOURCE, which an admin
forces down (the operator's word that it is fenced, so its servers may be evacuated while it still reports),
TARGET and DEAF. A message is lost for good by freezing the target's agent before the evacuation sends it, then
killing that agent (what it had pulled from the broker dies with it) and deleting what Redis still holds of its
queue, as a broker or agent crash would; the launcher then starts the agent again. A step not acknowledged within 4 s
is sent again (``compute_build_take_timeout``), three times in all.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
import redis
from celery.exceptions import TimeoutError as CeleryTimeout

from common.queue import make_celery
from common.settings import load
from compute import client as compute_client
from compute.control import move_steps
from compute.models import Migration
from tests.functional.compute import BASE, moving, version
from tests.functional.compute.conftest import public_raw_image, show, wait_for_status
from tests.functional.conftest import CloudClient
from tests.harness import running_cloud, wait_until

pytestmark = pytest.mark.functional

HOST = f"el{secrets.token_hex(2)}"
SOURCE, TARGET, DEAF = f"{HOST}-1", f"{HOST}-2", f"{HOST}-3"
TAKE = 4.0
WITHIN = 60.0


@pytest.fixture(scope="module")
def three_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudClient]:
    env = {
        "STRATUS_HOSTS": "3",
        "STRATUS_HOST": HOST,
        "STRATUS_COMPUTE_FAKE_HOSTS": "0",
        "STRATUS_HOST_HEARTBEAT_INTERVAL": "1",
        "STRATUS_COMPUTE_HOST_DOWN_AFTER": "10",
        "STRATUS_COMPUTE_BUILD_TAKE_TIMEOUT": f"{TAKE:g}",
        "STRATUS_NETWORK_SIMULATED_UNDERLAY": "198.18.202.0/24",
    }
    state = tmp_path_factory.mktemp("evacuation-lost-steps")
    with running_cloud(state, env) as server:
        server.bootstrap("els-admin", "els-demo")
        yield CloudClient(server, state / "clouds.yaml")


@pytest.fixture(scope="module")
def admin(three_hosts) -> str:
    return three_hosts.session("admin", "els-admin", project="admin").get_token()


@pytest.fixture(scope="module")
def servers(three_hosts, admin) -> dict[str, str]:
    """Two servers on SOURCE, which is then forced down: each may be evacuated by an admin at once."""
    _wait_for_up(three_hosts, admin, {SOURCE, TARGET, DEAF})
    image = public_raw_image(three_hosts, admin, "lost-steps")
    made = {name: _server_on(three_hosts, admin, image, name) for name in ("resent", "never-taken")}
    body = {"forced_down": True}
    service_id = _service_id(three_hosts, admin, SOURCE)
    answer = three_hosts.request("PUT", f"{BASE}/os-services/{service_id}", admin, json=body, headers=version("2.53"))
    assert answer.status_code == 200, answer.text
    return made


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _wait_for_up(cloud, admin: str, hosts: set[str]) -> None:
    wait_until(
        lambda: cloud.request("GET", f"{BASE}/os-hypervisors", admin).json()["hypervisors"],
        WITHIN,
        interval=0.2,
        message=f"hosts {hosts} not up",
        until=lambda found: hosts <= {h["hypervisor_hostname"] for h in found if h["state"] == "up"},
    )


def _service_id(cloud, admin: str, host: str) -> str:
    params = {"host": host, "binary": "nova-compute"}
    found = cloud.request("GET", f"{BASE}/os-services", admin, params=params, headers=version("2.53"))
    (service,) = found.json()["services"]
    return service["id"]


def _server_on(cloud, admin: str, image: str, name: str) -> str:
    body = {
        "server": {
            "name": name, "imageRef": image, "flavorRef": "1", "networks": "none",
            "availability_zone": f"nova:{SOURCE}",
        }
    }  # fmt: skip
    response = cloud.request("POST", f"{BASE}/servers", admin, json=body, headers=version("2.37"))
    assert response.status_code == 202, response.text
    server = wait_for_status(cloud, admin, response.json()["server"]["id"], "ACTIVE", "ERROR", timeout=WITHIN)
    assert server["status"] == "ACTIVE" and server["OS-EXT-SRV-ATTR:host"] == SOURCE, server.get("fault")
    return server["id"]


def _compute_agent(cloud, host: str) -> list[psutil.Process]:
    pid_file = cloud.server.state_dir / "run" / f"compute-agent-{host}.pid"
    agent = psutil.Process(int(pid_file.read_text().split()[0]))
    return [agent, *agent.children(recursive=True)]


def _evacuate_to(cloud, admin: str, server_id: str, host: str) -> None:
    body = {"evacuate": {"host": host}}
    answer = cloud.request("POST", f"{BASE}/servers/{server_id}/action", admin, json=body, headers=version("2.29"))
    assert answer.status_code == 200, answer.text


def _sent(cloud, server_id: str, sends: int) -> Migration:
    """Once the evacuation's spawn was sent ``sends`` times (the records say so before the message leaves)."""
    return wait_until(
        lambda: moving.move_of(cloud, server_id),
        WITHIN,
        interval=0.1,
        message=f"the evacuation of {server_id} never sent its spawn {sends} times",
        until=lambda move: move.step_sends >= sends,
    )


def _holds(cloud, host: str, server_id: str) -> bool:
    """Whether ``host``'s hypervisor has a guest of the server, asked of its agent (its console)."""
    with make_celery(load(cloud.server.env)) as app:
        try:
            compute_client.console_output(app, host, server_id, 64, 10)
        except CeleryTimeout:
            raise AssertionError(f"host {host} did not answer") from None
        except Exception:  # the guest is not there (InstanceNotFound, raised on the host)
            return False
        return True


def _events(cloud, admin: str, server_id: str) -> list[dict[str, Any]]:
    listing = cloud.request("GET", f"{BASE}/servers/{server_id}/os-instance-actions", admin).json()["instanceActions"]
    request_id = next(a["request_id"] for a in listing if a["action"] == "evacuate")
    path = f"{BASE}/servers/{server_id}/os-instance-actions/{request_id}"
    detail = cloud.request("GET", path, admin, headers=version("2.62"))  # 2.62: each event's host
    return detail.json()["instanceAction"]["events"]


# ---------------------------------------------------------------------------------------------------------------
# The tests


def test_an_evacuation_whose_spawn_was_lost_is_sent_again_and_ends_active_with_one_guest(three_hosts, admin, servers):
    cloud, server_id = three_hosts, servers["resent"]
    frozen = _compute_agent(cloud, TARGET)
    for process in frozen:
        process.suspend()  # the spawn goes to an agent that never takes it in
    try:
        _evacuate_to(cloud, admin, server_id, TARGET)
        _sent(cloud, server_id, 1)
        time.sleep(0.5)
    finally:
        for process in frozen:
            process.kill()  # what it pulled from the broker dies with it
    broker = redis.Redis.from_url(cloud.server.broker_url)
    for key in broker.scan_iter(match=f"compute.{TARGET}*"):
        broker.delete(key)  # and what Redis still held of its queue is lost too, as in a crash
    cloud.server.manage("services", "up")  # the launcher starts the agent again
    # Before the spawn was sent again, the server stayed "rebuilding" until compute_task_timeout (30 minutes).
    moved = wait_for_status(cloud, admin, server_id, "ACTIVE", "ERROR", timeout=WITHIN)
    assert moved["status"] == "ACTIVE" and moved["OS-EXT-SRV-ATTR:host"] == TARGET, moved.get("fault")
    move = moving.move_of(cloud, server_id)
    assert 2 <= move.step_sends <= move_steps.MAX_SENDS and move.step_sent_at is None  # re-sent, then taken
    # SOURCE's next report drops its stale copy (the move completes): one guest, on TARGET
    wait_until(
        lambda: moving.move_of(cloud, server_id).status,
        WITHIN,
        interval=0.2,
        message="the stale copy on the source was never dropped",
        until=lambda status: status == "completed",
    )
    assert {host for host in (SOURCE, TARGET, DEAF) if _holds(cloud, host, server_id)} == {TARGET}
    assert [(e["event"], e["result"], e["host"]) for e in _events(cloud, admin, server_id)] == [
        ("compute_evacuate_instance", "Success", TARGET)
    ]


def test_an_evacuation_its_target_never_takes_ends_in_error_on_its_source_after_bounded_sends(
    three_hosts, admin, servers
):
    cloud, server_id = three_hosts, servers["never-taken"]
    _wait_for_up(cloud, admin, {TARGET, DEAF})
    deaf = _compute_agent(cloud, DEAF)
    for process in deaf:
        process.suspend()
    try:
        started = time.monotonic()
        _evacuate_to(cloud, admin, server_id, DEAF)
        failed = wait_for_status(cloud, admin, server_id, "ERROR", timeout=WITHIN)
        took = time.monotonic() - started
        assert failed["OS-EXT-SRV-ATTR:host"] == SOURCE  # in one place: its fenced source, as Nova leaves it
        message = failed["fault"]["message"]
        assert message.startswith(f"Evacuation to {DEAF} failed: {DEAF} did not acknowledge the evacuate step")
        assert f"sent {move_steps.MAX_SENDS} times" in message
        assert took >= move_steps.MAX_SENDS * TAKE  # each send had its take timeout
        move = moving.move_of(cloud, server_id)
        assert (move.status, move.step_sends, move.error) == ("failed", move_steps.MAX_SENDS, message)
        (event,) = _events(cloud, admin, server_id)
        assert (event["event"], event["result"], event["host"]) == ("compute_evacuate_instance", "Error", DEAF)
        assert event["traceback"] == message
        hypervisors = cloud.request("GET", f"{BASE}/os-hypervisors/detail", admin).json()["hypervisors"]
        assert {h["hypervisor_hostname"]: h["vcpus_used"] for h in hypervisors}[DEAF] == 0  # its claim freed
    finally:
        for process in deaf:
            process.resume()
    # The thawed target finds every copy of the spawn expired: it never builds the server.
    _wait_for_up(cloud, admin, {DEAF})
    time.sleep(2)
    assert not _holds(cloud, DEAF, server_id)
    assert show(cloud, admin, server_id)["OS-EXT-SRV-ATTR:host"] == SOURCE
