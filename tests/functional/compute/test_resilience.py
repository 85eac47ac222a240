"""Failures that must never leave a server stuck: a worker killed mid-build, a delete during a build, a host
that vanishes. Each test runs on its own small cloud with slow fake hosts and short timeouts."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import psutil
import pytest
import redis

from tests.functional.compute import wait_for_hosts
from tests.functional.compute.conftest import (
    create_server,
    public_raw_image,
    show,
    wait_for_status,
    wait_for_task_state,
    wait_until_gone,
)
from tests.functional.conftest import CloudClient
from tests.harness import running_cloud

pytestmark = pytest.mark.functional


@pytest.fixture(scope="module")
def slow_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudClient]:
    env = {
        "STRATUS_COMPUTE_FAKE_DELAY": "3",
        "STRATUS_COMPUTE_FAKE_HOSTS": "2",
        "STRATUS_COMPUTE_TASK_TIMEOUT": "12",
        "STRATUS_COMPUTE_SWEEP_INTERVAL": "2",
        "STRATUS_COMPUTE_HOST_DOWN_AFTER": "10",
        "STRATUS_COMPUTE_RESEND_AFTER": "3",
    }
    state = tmp_path_factory.mktemp("slow-cloud")
    with running_cloud(state, env) as server:
        server.bootstrap("slow-admin", "slow-demo")
        yield CloudClient(server, state / "clouds.yaml")


@pytest.fixture(scope="module")
def demo_token(slow_cloud) -> str:
    return slow_cloud.session("demo", "slow-demo", project="demo").get_token()


@pytest.fixture(scope="module")
def slow_image(slow_cloud, tmp_path_factory) -> str:
    return public_raw_image(slow_cloud, _admin_token(slow_cloud), "slow")


def _agent(cloud) -> psutil.Process:
    pid = int((cloud.server.state_dir / "run" / "compute-agent.pid").read_text().split()[0])
    return psutil.Process(pid)


def test_delete_while_building_succeeds_and_frees_everything(slow_cloud, demo_token, slow_image):
    server = create_server(slow_cloud, demo_token, slow_image, "delete-while-building")
    wait_for_task_state(slow_cloud, demo_token, server["id"], "spawning")
    assert slow_cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", demo_token).status_code == 204
    wait_until_gone(slow_cloud, demo_token, server["id"], timeout=30)


def test_a_killed_pool_process_mid_spawn_gets_its_task_redelivered(slow_cloud, demo_token, slow_image):
    server = create_server(slow_cloud, demo_token, slow_image, "killed-child")
    wait_for_task_state(slow_cloud, demo_token, server["id"], "spawning")
    time.sleep(0.5)  # inside the fake hypervisor's 3 s spawn
    children = _agent(slow_cloud).children()
    assert children, "the agent has no pool process"
    for child in children:
        os.kill(child.pid, signal.SIGKILL)
    assert wait_for_status(slow_cloud, demo_token, server["id"], "ACTIVE", timeout=40)["status"] == "ACTIVE"
    slow_cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", demo_token)
    wait_until_gone(slow_cloud, demo_token, server["id"])


def test_a_killed_agent_ends_a_build_in_a_clean_error_not_a_stuck_build(slow_cloud, demo_token, slow_image):
    server = create_server(slow_cloud, demo_token, slow_image, "killed-agent")
    wait_for_task_state(slow_cloud, demo_token, server["id"], "spawning")
    agent = _agent(slow_cloud)
    for process in [*agent.children(), agent]:
        process.kill()
    try:
        failed = wait_for_status(slow_cloud, demo_token, server["id"], "ERROR", "ACTIVE", timeout=60)
        # The agent served both hosts: the build is given back when its host is down, and finds no other host
        # (or, whichever comes first with these short timings, the task times out).
        message = failed["fault"]["message"]
        assert failed["status"] == "ERROR" and ("is down" in message or "timed out" in message), message
        # The host is down now: deleting still succeeds (finished by the control side; the host's own sync
        # removes the guest if it ever comes back).
        assert slow_cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", demo_token).status_code == 204
        wait_until_gone(slow_cloud, demo_token, server["id"], timeout=40)
    finally:
        slow_cloud.server.manage("services", "up")  # the launcher restarts the dead agent


def _admin_token(cloud) -> str:
    return cloud.session("admin", "slow-admin", project="admin").get_token()


def test_a_delete_whose_message_was_lost_is_sent_again(slow_cloud, demo_token, slow_image):
    admin = _admin_token(slow_cloud)
    wait_for_hosts(slow_cloud, admin, count=2)  # an earlier test may have restarted the agent
    server = create_server(slow_cloud, demo_token, slow_image, "lost-delete")
    built = wait_for_status(slow_cloud, demo_token, server["id"], "ACTIVE", "ERROR", timeout=30)
    assert built["status"] == "ACTIVE", built.get("fault")
    host = show(slow_cloud, admin, server["id"])["OS-EXT-SRV-ATTR:host"]
    agent = _agent(slow_cloud)
    processes = [agent, *agent.children()]
    for process in processes:
        process.suspend()  # the destroy message goes to a host agent that never takes it in
    try:
        assert slow_cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", demo_token).status_code == 204
        time.sleep(0.5)
    finally:
        for process in processes:
            process.kill()
    broker = redis.Redis.from_url(slow_cloud.server.broker_url)
    for key in broker.scan_iter(match=f"compute.{host}*"):
        broker.delete(key)  # whatever of the message Redis still held is lost too, as in a crash
    slow_cloud.server.manage("services", "up")  # the launcher restarts the agent; its host stays up
    # Before the sweeper sent deletes again, the server stayed "deleting" until the 12 s task timeout and then
    # came back ACTIVE with a fault, although its user had deleted it.
    wait_until_gone(slow_cloud, demo_token, server["id"], timeout=30)
