"""QoS reaches the hosts: a server port's limits in its host's wiring come from its own policy, else its network's,
and a port of a policy without rules (or of none) is unshaped; the fake dataplane keeps what it was asked."""

from __future__ import annotations

from network import qos
from network.control import wiring
from network.host.dataplane.base import HostUnderlay
from network.host.dataplane.fake import FakeDataplane
from network.models import Network
from network.wire import BandwidthLimit
from tests.unit.network.control.test_wiring import db, network, only, server_port  # noqa: F401 (a fixture)
from tests.unit.network.records import ADMIN, ALICE


def test_a_port_takes_its_own_policys_limits_else_its_networks(db):  # noqa: F811
    with db.session() as session:
        shared = qos.create_policy(session, ADMIN, {"name": "net", "project_id": "alice"})
        qos.create_rule(session, ADMIN, shared.id, {"max_kbps": 1000, "max_burst_kbps": 800, "direction": "egress"})
        qos.create_rule(session, ADMIN, shared.id, {"max_kbps": 2000, "direction": "ingress"})
        own = qos.create_policy(session, ADMIN, {"name": "own", "project_id": "alice"})
        qos.create_rule(session, ADMIN, own.id, {"max_kbps": 300})
        empty = qos.create_policy(session, ADMIN, {"name": "empty", "project_id": "alice"})
        net = network(session)
        qos.attach(session, ALICE, session.get_one(Network, net), shared.id)
        inherits = server_port(session, net, "h1")
        overrides = server_port(session, net, "h1")
        qos.attach(session, ALICE, overrides, own.id)
        unshaped = server_port(session, net, "h1")
        qos.attach(session, ALICE, unshaped, empty.id)
        session.flush()
        state = wiring.host_wiring(session, "h1")
        limits = {p.port_id: p.bandwidth for p in only(state, net).ports}
    assert limits == {
        inherits.id: (BandwidthLimit("egress", 1000, 800), BandwidthLimit("ingress", 2000, 0)),
        overrides.id: (BandwidthLimit("egress", 300, 0),),
        unshaped.id: (),
    }
    fake = FakeDataplane("h1")
    fake.init_host(HostUnderlay("198.18.0.11"))
    fake.apply(state)
    assert fake.bandwidth(overrides.id) == (BandwidthLimit("egress", 300, 0),)
    assert fake.bandwidth("not-a-port-of-this-host") == ()
