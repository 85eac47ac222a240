"""A network's DHCP server never stays on a host that is down while a live host has the network's servers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import manage.models  # noqa: F401 - every table on the metadata
from common.db import Base, Database
from common.settings import Settings
from network import liveness, networks, ports, subnets
from network.control import relocation, wiring
from network.control.context import NetworkControl
from network.models import DHCP_OWNER, NetworkHost, Port
from tests.unit.network.records import ALICE

SETTINGS = Settings(compute_host_down_after=15.0)
DOWN_AFTER = timedelta(seconds=SETTINGS.compute_host_down_after)
VTEPS = {"h1": "198.18.0.11", "h2": "198.18.0.12"}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'failover.db'}")
    Base.metadata.create_all(database.engine)
    now = datetime.now(UTC)
    with database.session() as session:
        session.add_all(NetworkHost(host=h, underlay_ip=ip, networks=[], last_seen=now) for h, ip in VTEPS.items())
    yield database
    database.dispose()


def _network_on_both_hosts(session) -> str:
    made = networks.create_network(session, ALICE, SETTINGS, {"name": "net"})
    subnets.create_subnet(session, ALICE, {"network_id": made.id, "cidr": "10.0.0.0/24"})
    for host in VTEPS:
        port = ports.create_port(
            session, ALICE, {"network_id": made.id, "device_id": f"server-{host}", "device_owner": "compute:nova"}
        )
        port.binding_host_id = host
    session.flush()
    return made.id


def _serving(session, network_id: str) -> set[str]:
    hosts = set()
    for host in VTEPS:
        state = wiring.host_wiring(session, host, down_after=DOWN_AFTER)
        if any(n.network_id == network_id and n.dhcp is not None for n in state.networks):
            hosts.add(host)
    return hosts


def _stop_heartbeats(session, host: str) -> None:
    session.get_one(NetworkHost, host).last_seen = datetime.now(UTC) - DOWN_AFTER - timedelta(seconds=1)
    session.flush()


def test_the_dhcp_server_moves_to_a_live_host_when_its_host_goes_down(db):
    with db.session() as session:
        net = _network_on_both_hosts(session)
        assert _serving(session, net) == {"h1"}  # the first by name
        _stop_heartbeats(session, "h1")
        assert _serving(session, net) == {"h2"}
        dhcp = session.query(Port).filter_by(network_id=net, device_owner=DHCP_OWNER).one()
        assert dhcp.binding_host_id == "h2"
        liveness.heartbeat(session, ["h1"])  # h1 is back: the server stays where it now runs
        assert _serving(session, net) == {"h2"}


def test_a_network_whose_dhcp_host_is_down_is_found_stranded_until_it_moves(db):
    control = NetworkControl(db, None, SETTINGS)  # type: ignore[arg-type]
    with db.session() as session:
        net = _network_on_both_hosts(session)
        _serving(session, net)
    assert relocation.stranded_networks(control) == []
    with db.session() as session:
        _stop_heartbeats(session, "h1")
    assert relocation.stranded_networks(control) == [net]
    with db.session() as session:
        _serving(session, net)  # what the push of the stranded network computes
    assert relocation.stranded_networks(control) == []


def test_no_dhcp_server_is_placed_on_a_host_that_is_down_even_if_it_is_the_only_one(db):
    with db.session() as session:
        net = _network_on_both_hosts(session)
        for host in VTEPS:
            _stop_heartbeats(session, host)
        assert _serving(session, net) == set()
