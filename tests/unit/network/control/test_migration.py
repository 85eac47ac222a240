"""A live migration's ports (``network.control.migration``): wired on the target too while bound to the source, the
other hosts' traffic still sent to the source, "network ready" for the target once it wired them all; then bound to
the target at the switch, or left on the source with the target's wiring removed when the move fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import manage.models  # noqa: F401 - every table on the metadata
from common.db import Base, Database
from common.settings import Settings
from compute import client as compute_client
from network import networks, ports, subnets
from network.control import migration, sync, wiring
from network.control.context import NetworkControl
from network.models import NetworkHost, Port
from tests.unit.network.control.test_sync import RecordingQueue
from tests.unit.network.records import ALICE

SETTINGS = Settings()
VTEPS = {"h1": "198.18.0.11", "h2": "198.18.0.12", "h3": "198.18.0.13"}


@pytest.fixture
def control(tmp_path: Path) -> Iterator[NetworkControl]:
    database = Database(f"sqlite:///{tmp_path / 'migration.db'}")
    Base.metadata.create_all(database.engine)
    with database.session() as session:
        session.add_all(NetworkHost(host=host, underlay_ip=ip, networks=[]) for host, ip in VTEPS.items())
    yield NetworkControl(database, RecordingQueue(), SETTINGS)  # type: ignore[arg-type]
    database.dispose()


def _bound(control: NetworkControl) -> tuple[str, str, str]:
    """(network, the moving server's port on h1, a port of another server on h3)."""
    with control.db.session() as session:
        network = networks.create_network(session, ALICE, SETTINGS, {"name": "net"})
        subnets.create_subnet(session, ALICE, {"network_id": network.id, "cidr": "10.0.0.0/24"})
        made = []
        for server, host in (("moving", "h1"), ("other", "h3")):
            port = ports.create_port(
                session, ALICE, {"network_id": network.id, "device_id": server, "device_owner": "compute:nova"}
            )
            port.binding_host_id = host
            made.append(port.id)
        return network.id, made[0], made[1]


def _wiring(control: NetworkControl, host: str, network_id: str):
    with control.db.session() as session:
        state = wiring.host_wiring(session, host)
        found = [n for n in state.networks if n.network_id == network_id]
        return found[0] if found else None


def test_a_migrating_port_is_wired_on_both_hosts_and_the_target_is_ready_once_it_wired_it(control):
    queue: RecordingQueue = control.app  # type: ignore[assignment]
    network_id, port_id, other_id = _bound(control)
    migration.migration_binding(control, "moving", "alice", "h2", "prepare")
    assert {args[0] for args in queue.named("netagent.apply")} >= {"h1", "h2", "h3"}
    target, source, elsewhere = (_wiring(control, h, network_id) for h in ("h2", "h1", "h3"))
    assert [p.port_id for p in target.ports] == [port_id]  # wired on the target ...
    assert [p.port_id for p in source.ports] == [port_id]  # ... and still on the source
    with control.db.session() as session:
        mac = session.get_one(Port, port_id).mac_address
    # No unicast entry while it moves: its frames are flooded to the source and the target, none lost at the switch.
    assert not [r for r in elsewhere.remote if r.mac == mac]
    assert {VTEPS["h1"], VTEPS["h2"]} <= set(elsewhere.remote_vteps)
    assert all(r.mac != mac for r in target.remote)  # the target does not send its own port elsewhere
    assert VTEPS["h2"] in elsewhere.remote_vteps

    sync.ports_wired(control, "h2", 1, [], {})  # not yet wired there
    assert queue.named(compute_client.NETWORK_READY) == []
    sync.ports_wired(control, "h2", 2, [port_id], {})
    assert [args[:2] for args in queue.named(compute_client.NETWORK_READY)] == [["moving", "h2"]]
    with control.db.session() as session:  # the source's status is untouched by the target's report
        assert session.get_one(Port, port_id).binding_host_id == "h1"
        assert session.get_one(Port, other_id).binding_profile == {}


def test_the_switch_binds_the_port_to_the_target_and_clears_the_profile(control):
    network_id, port_id, _ = _bound(control)
    migration.migration_binding(control, "moving", "alice", "h2", "prepare")
    migration.migration_binding(control, "moving", "alice", "h2", "switch")
    with control.db.session() as session:
        port = session.get_one(Port, port_id)
        assert (port.binding_host_id, port.binding_profile) == ("h2", {})
    assert _wiring(control, "h1", network_id) is None  # the source unwires it
    assert [p.port_id for p in _wiring(control, "h2", network_id).ports] == [port_id]
    elsewhere = _wiring(control, "h3", network_id)
    assert VTEPS["h2"] in {r.underlay_ip for r in elsewhere.remote} and VTEPS["h1"] not in elsewhere.remote_vteps


def test_a_failed_move_leaves_the_port_on_the_source_and_removes_the_targets_wiring(control):
    network_id, port_id, _ = _bound(control)
    migration.migration_binding(control, "moving", "alice", "h2", "prepare")
    migration.migration_binding(control, "moving", "alice", "h2", "clear")
    migration.migration_binding(control, "moving", "alice", "h2", "clear")  # idempotent
    with control.db.session() as session:
        port = session.get_one(Port, port_id)
        assert (port.binding_host_id, port.binding_profile) == ("h1", {})
    assert _wiring(control, "h2", network_id) is None
    assert [p.port_id for p in _wiring(control, "h1", network_id).ports] == [port_id]


def test_a_server_without_ports_is_ready_on_the_target_at_once(control):
    queue: RecordingQueue = control.app  # type: ignore[assignment]
    migration.migration_binding(control, "portless", "alice", "h2", "prepare")
    assert [args[:2] for args in queue.named(compute_client.NETWORK_READY)] == [["portless", "h2"]]


def test_a_network_the_target_cannot_wire_fails_the_move(control):
    queue: RecordingQueue = control.app  # type: ignore[assignment]
    network_id, _, _ = _bound(control)
    migration.migration_binding(control, "moving", "alice", "h2", "prepare")
    queue.sent.clear()
    sync.ports_wired(control, "h2", 1, [], {network_id: "no bridge"})
    assert not [name for name, _, _ in queue.sent if name == compute_client.NETWORK_READY]
    (failed,) = queue.named(compute_client.NETWORK_FAILED)
    assert failed[:2] == ["moving", "h2"] and "no bridge" in failed[2]
