"""The network agents are a safety net, not a single point of failure: restarted agents keep running guests
connected and leave DHCP be, and a bridge deleted by hand comes back within one resync interval."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from network.devicenames import network_bridge, vif_names, vxlan_device
from tests.e2e.guests import PING_SUMMARY
from tests.e2e.kernel import bridge_ports, links, netns, process_gone, processes_mentioning, sh
from tests.e2e.tenant_networks.world import HOSTS, RESYNC_INTERVAL, World
from tests.harness import wait_until

pytestmark = pytest.mark.e2e


def _applies(log: Path, since: int) -> int:
    """States the agent applied since byte ``since`` of its log: pushed by the control side, or the state in
    effect applied again at the agent's periodic look (``network.host.work.resync``)."""
    with log.open("rb") as handle:
        handle.seek(since)
        found = handle.read()
    pushed = re.findall(rb"Task netagent\.apply\[[^]]+\] succeeded", found)
    looked = re.findall(rb"Task netagent\.resync\[[^]]+\] succeeded in [0-9.e-]+s: [^\n]*'applied again", found)
    return len(pushed) + len(looked)


def test_restarting_the_network_agents_keeps_running_guests_connected(world: World) -> None:
    """Both agents killed (the process groups, as a crash would leave them) and started again by ``services up``
    while a1 pings a2 every 0.2 s: at most a second of loss; the new agents apply the state and leave DHCP be."""
    a1, a2 = world.a1, world.a2
    old = {host: world.agent_pid(host) for host in HOSTS}
    marks = {host: world.agent_log(host).stat().st_size for host in HOSTS}
    dnsmasq = processes_mentioning(str(world.cloud.state_dir), "dnsmasq")
    assert len(dnsmasq) == 2, f"expected one DHCP server per network, found pids {dnsmasq}"
    assert a1.run(f"ping -i 0.2 {a2.ip} > /tmp/restart.log 2>&1 & echo $! > /tmp/restart.pid")[0] == 0
    try:
        time.sleep(1)
        for pid in old.values():
            os.killpg(pid, signal.SIGKILL)
        wait_until(
            lambda: all(process_gone(pid) for pid in old.values()), 10, interval=0.2, message="the agents did not die"
        )
        world.cloud.manage("services", "up")
        for host in HOSTS:
            assert world.agent_pid(host) != old[host]
            applied = lambda h=host: _applies(world.agent_log(h), marks[h])  # noqa: E731
            wait_until(applied, 20, interval=0.2, message=f"the new agent of {host} applied no state")
        time.sleep(1)
    finally:
        _, out = a1.run("kill -INT $(cat /tmp/restart.pid); sleep 0.5; tail -n 3 /tmp/restart.log")
    summary = PING_SUMMARY.search(out)
    assert summary is not None, out
    sent, received = int(summary[1]), int(summary[2])
    assert sent >= 15, f"the ping loop ran only {sent} pings"
    assert sent - received <= 5, f"{sent - received} of {sent} pings lost while the agents restarted"
    assert processes_mentioning(str(world.cloud.state_dir), "dnsmasq") == dnsmasq, "a DHCP server was restarted"


def test_a_bridge_deleted_by_hand_comes_back_within_the_resync_interval(world: World) -> None:
    """On the host that serves a-net's DHCP (whichever of a1's and a2's it is). Deleted right after its agent
    applied a state, so the next one is a resync interval away: the guests stop reaching each other, then the
    bridge comes back with all its ports and they ping again, the DHCP server too."""
    (dhcp,) = world.openstack.json(
        "admin", "port", "list", "--network", world.a1.network_id, "--device-owner", "network:dhcp"
    )
    dhcp_host = world.openstack.json("admin", "port", "show", dhcp["ID"])["binding_host_id"]
    here, there = (world.a1, world.a2) if world.a1.host == dhcp_host else (world.a2, world.a1)
    assert here.host == dhcp_host, f"a-net's DHCP runs on {dhcp_host}, where neither guest is"
    namespace, bridge = netns(here.host), network_bridge(here.network_id)
    wanted = {vxlan_device(world.vni("a-net")), vif_names(here.port_id).qvo, vif_names(dhcp["ID"]).tap}
    assert bridge_ports(namespace, bridge) == wanted
    assert there.reaches(here.ip) and here.reaches("10.0.0.2")
    log = world.agent_log(here.host)
    mark = log.stat().st_size
    wait_until(
        lambda: _applies(log, mark),
        2 * RESYNC_INTERVAL,
        interval=0.2,
        message=f"the agent of {here.host} applied nothing",
    )
    time.sleep(0.5)  # a push may follow a resync at once (an agent's report answered twice)
    sh("ip", "-n", namespace, "link", "del", "dev", bridge)
    deleted, mark = time.monotonic(), log.stat().st_size
    assert there.unanswered(here.ip, count=1), f"{here.ip} still answered with its network's bridge gone"
    wait_until(
        lambda: _applies(log, mark),
        3 * RESYNC_INTERVAL,
        interval=0.2,
        message=f"the agent of {here.host} resynced no more",
    )
    repaired = time.monotonic() - deleted
    assert bridge in links(namespace), "the first resync after the deletion did not make the bridge again"
    assert repaired <= RESYNC_INTERVAL + 3, f"the first resync came only {repaired:.1f} s after the deletion"
    assert bridge_ports(namespace, bridge) == wanted, f"{bridge} came back without all its ports"
    assert there.reaches(here.ip) and here.reaches(there.ip), "the guests do not ping again after the repair"
    assert here.reaches("10.0.0.2"), "the DHCP server is not reached again after the repair"
