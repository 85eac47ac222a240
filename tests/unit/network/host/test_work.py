"""The network host agent's work, on the fake dataplane with a queue that records what is sent: it applies the
states addressed to its hosts, reports the wired ports of every state that took effect (not of an overtaken one),
and tells the control side where each host's VTEP is."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from common.settings import HostSettings
from network import client
from network.host import work
from network.host.context import NetworkAgent
from network.host.dataplane.fake import FakeDataplane
from network.wire import HostWiring, NetworkWiring, PortWiring

SETTINGS = HostSettings(host="h", network_dataplane="fake", compute_driver="fake", compute_fake_hosts=2)
NET = "3b0c2f4e-7a1d-4c55-9a0d-2f4e8c1b7a10"
PORT = "6f1c0f1e-3b7a-4c55-9a0d-2f4e8c1b7a10"


@dataclass
class RecordingQueue:
    """Stands in for the Celery app: ``send_task`` only records (name, args)."""

    sent: list[tuple[str, list[Any]]] = field(default_factory=list)

    def send_task(self, name: str, args: list[Any] | None = None, **options: Any) -> None:
        self.sent.append((name, list(args or [])))


@pytest.fixture
def agent() -> NetworkAgent:
    return NetworkAgent.start(SETTINGS, RecordingQueue())  # type: ignore[arg-type]


def _state(host: str, generation: int) -> dict[str, Any]:
    port = PortWiring(port_id=PORT, mac="fa:16:3e:00:00:01", ips=("10.0.0.5",))
    return HostWiring(host=host, generation=generation, networks=(NetworkWiring(NET, 1001, ports=(port,)),)).to_dict()


def test_one_process_serves_each_simulated_host_with_its_own_dataplane(agent):
    assert agent.hosts == ["h-1", "h-2"]
    drivers = [agent.dataplane(host).driver for host in agent.hosts]
    assert [type(d) for d in drivers] == [FakeDataplane, FakeDataplane] and drivers[0] is not drivers[1]
    with pytest.raises(LookupError, match="does not serve host h-3"):
        agent.dataplane("h-3")


def test_a_state_that_takes_effect_reports_its_wired_ports_and_an_overtaken_one_nothing(agent):
    queue: RecordingQueue = agent.app  # type: ignore[assignment]
    work.apply(agent, "h-1", _state("h-1", 2))
    assert queue.sent == [(client.PORTS_WIRED, ["h-1", 2, [PORT], {}])]
    queue.sent.clear()
    assert work.apply(agent, "h-1", _state("h-1", 1))["stale"] is True
    assert queue.sent == []


def test_a_state_addressed_to_another_host_is_refused_unapplied(agent):
    with pytest.raises(LookupError, match="serves h-1, not h-2"):
        work.apply(agent, "h-1", _state("h-2", 1))
    driver: FakeDataplane = agent.dataplane("h-1").driver  # type: ignore[assignment]
    assert driver.applied == []


def test_the_report_names_the_hosts_vtep(agent):
    queue: RecordingQueue = agent.app  # type: ignore[assignment]
    work.report(agent, "h-2")
    assert queue.sent == [(client.AGENT_REPORT, ["h-2", "127.0.0.1", ""])]


def test_a_look_without_a_state_asks_the_control_side_for_it(agent):
    queue: RecordingQueue = agent.app  # type: ignore[assignment]
    assert work.resync(agent, "h-1") == "asked"
    assert queue.sent == [(client.AGENT_REPORT, ["h-1", "127.0.0.1", ""])]


def test_a_look_applies_the_state_in_effect_again_and_tells_only_a_changed_outcome(agent, monkeypatch):
    """1,000 hosts asking for their whole state every 30 s kept two network workers busy with nothing changed: the
    agent applies what it has (which repairs drift) and asks only every ``network_full_resync_interval``."""
    queue: RecordingQueue = agent.app  # type: ignore[assignment]
    driver: FakeDataplane = agent.dataplane("h-1").driver  # type: ignore[assignment]
    work.report(agent, "h-1")
    work.apply(agent, "h-1", _state("h-1", 2))
    queue.sent.clear()
    assert work.resync(agent, "h-1") == "applied again"
    assert queue.sent == [] and len(driver.applied) == 2 and driver.applied[-1].generation == 2
    driver.fail_network(NET, "bridge busy")  # the same state, another outcome: the control side hears it
    assert work.resync(agent, "h-1") == "applied again, told"
    assert queue.sent == [(client.PORTS_WIRED, ["h-1", 2, [], {NET: "bridge busy"}])]
    queue.sent.clear()
    clock = time.monotonic() + agent.settings.network_full_resync_interval
    monkeypatch.setattr(work.time, "monotonic", lambda: clock)
    assert work.resync(agent, "h-1") == "asked"  # now and then the whole state again: a push may have been lost
    assert queue.sent == [(client.AGENT_REPORT, ["h-1", "127.0.0.1", ""])]


def test_with_no_full_resync_interval_every_look_asks():
    always = NetworkAgent.start(SETTINGS.replace(network_full_resync_interval=0), RecordingQueue())  # type: ignore[arg-type]
    work.apply(always, "h-2", _state("h-2", 1))
    assert work.resync(always, "h-2") == "asked"
