"""``os-getConsoleOutput`` never holds an API thread for long: a host too busy to answer gets a 409 within
seconds (the agent runs one task at a time, so a long spawn used to hold the request for 15 s)."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from tests.functional.compute.conftest import action, create_server, wait_for_status

pytestmark = pytest.mark.functional


def _agent_pool(cloud) -> list[psutil.Process]:
    """The compute agent's pool processes (where its tasks run); its main process keeps the heartbeat."""
    pid = int((cloud.server.state_dir / "run" / "compute-agent.pid").read_text().split()[0])
    children = psutil.Process(pid).children()
    assert children, "the compute agent has no pool process"
    return children


def test_console_output_of_a_host_that_does_not_answer_is_a_409_within_seconds(cloud, server_image):
    token = cloud.demo().get_token()
    server = create_server(cloud, token, server_image, "console-busy-host")
    wait_for_status(cloud, token, server["id"], "ACTIVE")
    assert action(cloud, token, server["id"], {"os-getConsoleOutput": {}}).status_code == 200
    pool = _agent_pool(cloud)
    for process in pool:
        os.kill(process.pid, signal.SIGSTOP)  # the host is up (heartbeats go on) but runs nothing
    try:
        started = time.monotonic()
        response = action(cloud, token, server["id"], {"os-getConsoleOutput": {"length": 10}})
        elapsed = time.monotonic() - started
    finally:
        for process in pool:
            os.kill(process.pid, signal.SIGCONT)
    assert response.status_code == 409, response.text
    assert "did not answer within" in response.json()["conflictingRequest"]["message"]
    assert elapsed < 6, f"the request was held {elapsed:.1f} s"
    # The request nobody waits for any more expired on the queue; the host answers the next one.
    assert action(cloud, token, server["id"], {"os-getConsoleOutput": {}}).status_code == 200
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", token)
