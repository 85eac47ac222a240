"""The broker as a Redis primary, two replicas and three Sentinels (``manage.redis_ha``), on a cloud of its own
whose every client (Celery, kombu, the console tokens, the API's ping, the host agents as their own ACL users)
asks the Sentinels where the primary is.

The primary is killed (SIGKILL) in the middle of a burst of builds, after the replica the Sentinels will promote
was cut off from it, so the writes the primary acknowledged in its last second (task messages among them) are
lost for certain, as asynchronous replication allows: the test does not hope that nothing is lost, it makes a
loss happen and proves the cloud recovers from it. A replica is promoted; every server of the burst is listed
and ends ACTIVE, or ERROR with a fault, in bounded time (the sweeper resends a build waiting for placement and
fails one left in flight: ``compute.states.STUCK_RULES``); new builds work; ``services up`` brings the old
primary back as a replica of the new one, never as a second primary."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from common.settings import Settings, load
from compute.consoles import token_key
from manage import broker, redis_ha
from tests.functional.compute import BASE, wait_for_hosts
from tests.functional.compute.conftest import COMPUTE, public_raw_image
from tests.functional.conftest import ADMIN_PASSWORD, DEMO_PASSWORD, CloudClient, lift_quotas
from tests.harness import free_port, running_cloud, wait_until

pytestmark = pytest.mark.functional

BURST = 20
"""Servers of the burst: half accepted before the kill (their builds in flight when it comes), half asked for
right after it, through the failover (refused with 503 while no primary answers, and asked again)."""
TASK_TIMEOUT = 20
"""compute_task_timeout of this cloud: a build left in flight by a lost message is failed after it."""
SETTLE = TASK_TIMEOUT + 25
"""Seconds after the kill by which every server of the burst must have ended (the timeout, two sweeps, slack)."""
V26 = {"OpenStack-API-Version": "compute 2.6"}
CREATE_PATIENCE = 30.0
"""Seconds a client retries a create refused with 503 ('nothing was changed') during the failover."""


@pytest.fixture(scope="module")
def sentinel_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudClient]:
    state = tmp_path_factory.mktemp("redis-ha-cloud")
    env = {
        "STRATUS_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
        "STRATUS_BROKER_REPLICA_PORTS": f"{free_port()} {free_port()}",
        "STRATUS_BROKER_SENTINELS": " ".join(f"127.0.0.1:{free_port()}" for _ in range(3)),
        "STRATUS_BROKER_DOWN_AFTER": "2",
        "STRATUS_COMPUTE_FAKE_DELAY": "0.5",  # builds stay in flight long enough to be caught by the kill
        "STRATUS_COMPUTE_SWEEP_INTERVAL": "2",
        "STRATUS_COMPUTE_RESEND_AFTER": "6",
        "STRATUS_COMPUTE_TASK_TIMEOUT": str(TASK_TIMEOUT),
    }
    with running_cloud(state, env) as server:
        server.bootstrap(ADMIN_PASSWORD, DEMO_PASSWORD)
        client = CloudClient(server, state / "clouds.yaml")
        lift_quotas(client, ("demo",))
        yield client


def _settings(cloud: CloudClient) -> Settings:
    return load(cloud.server.env)


def _node(settings: Settings, node: redis_ha.Node) -> redis.Redis:
    password = broker.ensure_password(settings)
    return redis.Redis(node.address, node.port, password=password, socket_timeout=2, decode_responses=True)


def _pid(cloud: CloudClient, node: redis_ha.Node) -> int:
    return int((cloud.server.state_dir / "run" / f"{node.name}.pid").read_text().split()[0])


def _sentinels_see_priority(settings: Settings, replica: redis_ha.Node, priority: int) -> bool:
    shape = redis_ha.layout(settings)
    for sentinel in shape.sentinels:
        replicas = _node(settings, sentinel).execute_command("SENTINEL", "REPLICAS", shape.master_name)
        rows = [dict(zip(r[::2], r[1::2], strict=True)) if isinstance(r, list) else r for r in replicas]
        mine = [r for r in rows if int(r["port"]) == replica.port]
        if not mine or int(mine[0]["slave-priority"]) != priority:
            return False
    return True


def _create(cloud: CloudClient, token: str, image: str, name: str) -> tuple[str, int]:
    """Create a server as a client would: a 503 (nothing was changed) is tried again. Its id and the 503s seen."""
    body = {"server": {"name": name, "imageRef": image, "flavorRef": "1", "networks": "none"}}
    refused = 0
    deadline = time.monotonic() + CREATE_PATIENCE
    while True:
        response = cloud.request("POST", f"{BASE}/servers", token, json=body, headers=COMPUTE)
        if response.status_code == 202:
            return response.json()["server"]["id"], refused
        assert response.status_code == 503 and time.monotonic() < deadline, response.text
        refused += 1
        time.sleep(0.3)


def _servers(cloud: CloudClient, token: str) -> dict[str, dict[str, Any]]:
    response = cloud.request("GET", f"{BASE}/servers/detail", token, headers=COMPUTE)
    assert response.status_code == 200, response.text
    return {server["id"]: server for server in response.json()["servers"]}


def _ended(server: dict[str, Any]) -> bool:
    return server["status"] in ("ACTIVE", "ERROR") and server["OS-EXT-STS:task_state"] is None


def test_killing_the_primary_in_a_burst_of_builds_loses_no_server(sentinel_cloud: CloudClient) -> None:
    cloud = sentinel_cloud
    settings = _settings(cloud)
    shape = redis_ha.layout(settings)
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    wait_for_hosts(cloud, admin, count=3)
    image = public_raw_image(cloud, admin, "failover")

    old = redis_ha.wait_until_watched(settings, 30)
    lagging, other = [node for node in shape.data if node != old]
    # The Sentinels prefer the replica of lowest priority: the one about to miss the primary's last writes.
    _node(settings, lagging).config_set("replica-priority", 1)
    wait_until(lambda: _sentinels_see_priority(settings, lagging, 1), 30, interval=0.5, message="priority not seen")

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(_create, cloud, demo, image, f"burst-{index}") for index in range(BURST // 2)]
        wait_until(lambda: all(future.done() for future in futures), 60, message="the first half was not accepted")

        # Cut the lagging replica off (stopped, so it cannot reconnect), then write on: the primary acknowledges,
        # and only the other replica, back within a second, gets the write.
        os.kill(_pid(cloud, lagging), signal.SIGSTOP)
        primary = _node(settings, old)
        primary.client_kill_filter(_type="replica")
        wait_until(lambda: _try_set(primary, "stratus-failover-marker"), 10, interval=0.05, message="no write taken")
        time.sleep(0.2)  # the burst's builds write too, on the primary and the other replica only
        os.kill(_pid(cloud, old), signal.SIGKILL)
        killed = time.monotonic()
        os.kill(_pid(cloud, lagging), signal.SIGCONT)
        futures += [pool.submit(_create, cloud, demo, image, f"burst-{index}") for index in range(BURST // 2, BURST)]

        promoted = wait_until(
            lambda: redis_ha.current_primary(settings),
            30,
            interval=0.05,
            message="no replica was promoted",
            until=lambda node: node != old,
        )
        promotion = time.monotonic() - killed
        assert promoted == lagging
        assert _node(settings, promoted).get("stratus-failover-marker") is None  # the acknowledged write is lost

        after, _ = _create(cloud, demo, image, "after-failover")
        wait_until(
            lambda: _servers(cloud, demo).get(after, {}),
            60,
            interval=0.1,
            message="the first build after the failover did not become ACTIVE",
            until=lambda server: server.get("status") == "ACTIVE",
        )
        first_active = time.monotonic() - killed
        created = [future.result() for future in futures]

    burst = {server_id for server_id, _ in created}
    refusals = [refused for _, refused in created]
    assert len(burst) == BURST
    listed = wait_until(
        lambda: _servers(cloud, demo),
        SETTLE,
        interval=0.5,
        message="a server of the burst is missing or still in flight",
        until=lambda servers: burst <= set(servers) and all(_ended(servers[server_id]) for server_id in burst),
    )
    settled = time.monotonic() - killed
    outcome = {server_id: listed[server_id]["status"] for server_id in burst}
    for server_id, status in outcome.items():
        if status == "ERROR":
            assert listed[server_id].get("fault", {}).get("message"), listed[server_id]
    print(
        f"\nfailover: promoted {promoted.name} {promotion:.1f} s after the kill; first build ACTIVE at "
        f"{first_active:.1f} s; the burst of {BURST} settled at {settled:.1f} s: "
        f"{sum(s == 'ACTIVE' for s in outcome.values())} ACTIVE, {sum(s == 'ERROR' for s in outcome.values())} ERROR; "
        f"{sum(refusals)} creates refused with 503 and tried again"
    )

    # New builds go on on the new primary.
    fresh = [_create(cloud, demo, image, f"fresh-{index}")[0] for index in range(3)]
    wait_until(
        lambda: _servers(cloud, demo),
        60,
        interval=0.2,
        message="builds after the failover did not all become ACTIVE",
        until=lambda servers: all(servers.get(s, {}).get("status") == "ACTIVE" for s in fresh),
    )

    # A host's answer comes back through the results on the new primary (the host writes it as its own user), and
    # a console token is kept there.
    server = fresh[0]
    output = cloud.request("POST", f"{BASE}/servers/{server}/action", demo, json={"os-getConsoleOutput": {}})
    assert output.status_code == 200, output.text
    body = {"remote_console": {"protocol": "serial", "type": "serial"}}
    console = cloud.request("POST", f"{BASE}/servers/{server}/remote-consoles", demo, json=body, headers=V26)
    assert console.status_code == 200, console.text
    token = console.json()["remote_console"]["url"].rsplit("token=", 1)[1]
    assert _node(settings, promoted).exists(token_key(token))

    # The old primary comes back as a replica of the new one, with what the new one has.
    cloud.server.manage("services", "up")
    role = _node(settings, old).execute_command("ROLE")
    assert role[0] == "slave" and (role[1], int(role[2])) == (promoted.address, promoted.port), role
    assert other != promoted


def _try_set(client: redis.Redis, key: str) -> bool:
    try:
        return bool(client.set(key, "acknowledged by the old primary"))
    except redis.ConnectionError:
        return False
