"""A stored value the dataplane's types refuse (an address with a scope id, left by an older API) costs only the
port or DHCP server that holds it: the host's other ports are still wired, and the refusal is logged."""

from __future__ import annotations

from sqlalchemy import update

from network.control import wiring
from network.models import IPAllocation, Subnet
from tests.unit.network.control.test_wiring import db, network, only, server_port  # noqa: F401 - db is a fixture

HOSTILE = 'fd00::1%x\ninclude "etc-shadow" #'


def test_a_hostile_stored_address_leaves_out_its_own_port_and_dhcp_server_only(db):  # noqa: F811
    with db.session() as session:
        net = network(session)
        good, bad = server_port(session, net, "h1"), server_port(session, net, "h1")
        remote = server_port(session, net, "h2")
        session.execute(update(IPAllocation).where(IPAllocation.port_id == bad.id).values(ip_address=HOSTILE))
        session.execute(update(Subnet).where(Subnet.network_id == net).values(dns_nameservers=[HOSTILE]))
        here = only(wiring.host_wiring(session, "h1"), net)
        assert [p.port_id for p in here.ports] == [good.id]
        assert here.dhcp is None  # its subnet names a hostile nameserver: no dnsmasq rather than a broken host
        assert [r.mac for r in here.remote] == [remote.mac_address]
        there = only(wiring.host_wiring(session, "h2"), net)
        macs = [r.mac for r in there.remote]  # the good port and the DHCP port on h1; the hostile one left out
        assert good.mac_address in macs and bad.mac_address not in macs and len(macs) == 2
