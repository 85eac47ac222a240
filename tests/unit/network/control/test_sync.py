"""The network control side's workflows against a real database, with a queue that records what is sent: which
hosts get pushed, when a server is told its network is ready (only when its ports become ACTIVE), and when its
build is failed instead."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import manage.models  # noqa: F401 - every table on the metadata
from common.db import Base, Database
from common.settings import Settings
from compute import client as compute_client
from network import client, networks, ports, subnets
from network.control import sync
from network.control.context import NetworkControl
from network.models import NetworkHost, Port
from network.states import PortStatus
from tests.unit.network.records import ALICE, BOB

SETTINGS = Settings()


@dataclass
class RecordingQueue:
    """Stands in for the Celery app: ``send_task`` only records (name, args, queue)."""

    sent: list[tuple[str, list[Any], str | None]] = field(default_factory=list)

    def send_task(self, name: str, args: list[Any] | None = None, kwargs: Any = None, queue: str | None = None,
                  **options: Any) -> None:  # fmt: skip
        self.sent.append((name, list(args or []), queue))

    def named(self, name: str) -> list[list[Any]]:
        found = [args for sent, args, _ in self.sent if sent == name]
        self.sent.clear()
        return found


@pytest.fixture
def control(tmp_path: Path) -> Iterator[NetworkControl]:
    database = Database(f"sqlite:///{tmp_path / 'sync.db'}")
    Base.metadata.create_all(database.engine)
    with database.session() as session:
        hosts = (("h1", "198.18.0.11"), ("h2", "198.18.0.12"))
        session.add_all(NetworkHost(host=host, underlay_ip=ip, networks=[]) for host, ip in hosts)
    yield NetworkControl(database, RecordingQueue(), SETTINGS)  # type: ignore[arg-type]
    database.dispose()


def server_port(control: NetworkControl, server: str) -> tuple[str, str]:
    """(network id, port id) of a new server port on a new network."""
    with control.db.session() as session:
        network = networks.create_network(session, ALICE, SETTINGS, {"name": "net"})
        subnets.create_subnet(session, ALICE, {"network_id": network.id, "cidr": "10.0.0.0/24"})
        port = ports.create_port(
            session, ALICE, {"network_id": network.id, "device_id": server, "device_owner": "compute:nova"}
        )
        return network.id, port.id


def pushed_hosts(queue: RecordingQueue) -> list[str]:
    return sorted(args[0] for args in queue.named(client.AGENT_APPLY))


def test_binding_pushes_the_host_its_ports_and_answers_only_once_they_are_wired(control):
    queue: RecordingQueue = control.app  # type: ignore[assignment]
    _, port_id = server_port(control, "server-1")
    sync.bind_instance(control, "server-1", "alice", "h1")
    assert pushed_hosts(queue) == ["h1"]
    with control.db.session() as session:
        assert session.get_one(Port, port_id).binding_host_id == "h1"

    sync.ports_wired(control, "h1", 1, [], {})  # applied, but the port is not up yet
    assert queue.named(compute_client.NETWORK_READY) == []
    sync.ports_wired(control, "h1", 2, [port_id], {})
    (ready,) = queue.named(compute_client.NETWORK_READY)
    assert ready[:2] == ["server-1", "h1"]
    (nic,) = ready[2]
    assert nic["port_id"] == port_id and nic["bridge"] == f"qbr{port_id[:11]}" and nic["mtu"] == 1450
    sync.ports_wired(control, "h1", 3, [port_id], {})  # a periodic report of the same: no second answer
    assert queue.named(compute_client.NETWORK_READY) == []


def test_a_redelivered_bind_of_wired_ports_answers_at_once(control):
    queue: RecordingQueue = control.app  # type: ignore[assignment]
    _, port_id = server_port(control, "server-2")
    sync.bind_instance(control, "server-2", "alice", "h1")
    sync.ports_wired(control, "h1", 1, [port_id], {})
    queue.sent.clear()
    sync.bind_instance(control, "server-2", "alice", "h1")
    assert [args[0] for args in queue.named(compute_client.NETWORK_READY)] == ["server-2"]


def test_a_network_the_host_cannot_wire_fails_the_servers_waiting_on_it(control):
    queue: RecordingQueue = control.app  # type: ignore[assignment]
    network_id, _ = server_port(control, "server-3")
    sync.bind_instance(control, "server-3", "alice", "h2")
    queue.sent.clear()
    sync.ports_wired(control, "h2", 1, [], {network_id: "mtu too large"})
    (failed,) = queue.named(compute_client.NETWORK_FAILED)
    assert failed[:2] == ["server-3", "h2"] and "mtu too large" in failed[2]


def test_a_host_that_had_the_network_is_pushed_once_more_to_remove_it(control):
    queue: RecordingQueue = control.app  # type: ignore[assignment]
    network_id, _ = server_port(control, "server-4")
    sync.bind_instance(control, "server-4", "alice", "h1")
    queue.sent.clear()
    with control.db.session() as session:
        ports.delete_device_ports(session, "server-4", "alice")
    assert sync.sync_network(control, network_id) == ["h1"]  # no port left there, but it had the network
    assert pushed_hosts(queue) == ["h1"]
    assert sync.sync_network(control, network_id) == []  # its last push had no such network: nobody to tell


def test_an_agent_reporting_a_new_vtep_makes_the_other_hosts_of_its_networks_learn_it(control):
    queue: RecordingQueue = control.app  # type: ignore[assignment]
    network_id, _ = server_port(control, "server-5")
    sync.bind_instance(control, "server-5", "alice", "h1")
    with control.db.session() as session:
        port = ports.create_port(
            session, ALICE, {"network_id": network_id, "device_id": "server-6", "device_owner": "compute:nova"}
        )
        port.binding_host_id = "h2"
    queue.sent.clear()
    assert sync.agent_report(control, "h2", "198.18.0.99", "stratus-h2") == "registered"
    assert pushed_hosts(queue) == ["h1", "h2", "h2"]  # h2 itself, then every host of its networks
    assert sync.agent_report(control, "h2", "198.18.0.99", "stratus-h2") == "seen"
    assert pushed_hosts(queue) == ["h2"]


def test_a_port_of_another_project_naming_the_server_is_never_bound_nor_waited_for(control):
    """Bob may write Alice's server id into his own port's ``device_id``: the server's ports are those of its
    project, so his port stays unbound, is not wired on her host, and her server is ready without it."""
    queue: RecordingQueue = control.app  # type: ignore[assignment]
    network_id, own = server_port(control, "server-7")
    with control.db.session() as session:
        networks.update_network(session, ALICE, SETTINGS, network_id, {"shared": True})
        foreign = ports.create_port(
            session, BOB, {"network_id": network_id, "device_id": "server-7", "device_owner": "compute:nova"}
        ).id
    sync.bind_instance(control, "server-7", "alice", "h1")
    with control.db.session() as session:
        assert session.get_one(Port, own).binding_host_id == "h1"
        assert session.get_one(Port, foreign).binding_host_id == ""
        assert [nic["port_id"] for nic in sync.nics_of(session, "server-7", "alice")] == [own]
    queue.sent.clear()
    sync.ports_wired(control, "h1", 1, [own], {})
    (ready,) = queue.named(compute_client.NETWORK_READY)
    assert ready[0] == "server-7" and [nic["port_id"] for nic in ready[2]] == [own]
    with control.db.session() as session:
        assert ports.delete_device_ports(session, "server-7", "alice") == [network_id]
        assert session.get(Port, own) is None and session.get(Port, foreign) is not None


def test_a_port_is_active_only_while_its_host_reports_it_wired(control):
    """``PortStatus`` as Neutron shows it: DOWN when made and when bound, ACTIVE once its host reports it wired,
    DOWN again when a report leaves it out. The column holds Neutron's plain text, which the API shows as is."""
    _, port_id = server_port(control, "server-8")

    def stored() -> str:
        with control.db.session() as session:
            return session.scalars(select(Port.status).where(Port.id == port_id)).one()

    assert stored() == "DOWN" == PortStatus.DOWN
    sync.bind_instance(control, "server-8", "alice", "h1")
    assert stored() == "DOWN"
    sync.ports_wired(control, "h1", 1, [port_id], {})
    assert stored() == "ACTIVE" == PortStatus.ACTIVE
    sync.ports_wired(control, "h1", 2, [], {})
    assert stored() == "DOWN"
