"""Migration 0013 removes the hostile addresses an older API stored (a scope id carrying a directive), in the way
that can only narrow access, and leaves plain ones alone; after it the control side computes a host's wiring."""

from __future__ import annotations

from sqlalchemy import MetaData, Table, insert, select
from sqlalchemy.orm import Session

import manage.models  # noqa: F401 - every model on the metadata
from common import db as common_db
from common.db import Database
from common.settings import load
from manage.migrate import upgrade
from network import models
from network.control.wiring import host_wiring
from tests.hostile import ISSUE_VALUE

MAC = "fa:16:3e:00:00:01"
SCOPED = 'fd00::9%x\ninclude "etc-shadow" #'


def _as_stored(session: Session, name: str) -> Table:
    """The table as the database has it at this revision: the models have gained columns (with defaults) since."""
    return Table(name, MetaData(), autoload_with=session.connection())


def test_hostile_stored_addresses_are_removed_and_plain_ones_kept(tmp_path):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path)})
    upgrade(settings, "0012_build_taken_by")
    database = Database(settings.effective_database_url)
    try:
        with database.session() as session:
            # Written as revision 0012 had the table (the model has gained columns since: 0014's physical_network).
            row = {
                "id": "net-0013-test", "project_id": "alice", "mtu": 1450, "segmentation_id": 5000, "name": "",
                "admin_state_up": True, "status": "ACTIVE", "shared": False, "router_external": False,
                "port_security_enabled": True, "network_type": "vxlan", "description": "", "tags": [],
                "revision_number": 1, "created_at": common_db.utcnow(),
            }  # fmt: skip
            session.execute(insert(_as_stored(session, "networks")).values(row))
            subnet = {
                "id": "subnet-0013-test", "network_id": row["id"], "project_id": "alice", "name": "",
                "ip_version": 6, "cidr": "fd00::/64", "gateway_ip": "fd00::1%eth0",
                "allocation_pools": [{"start": "fd00::2", "end": "fd00::ff"}, {"start": SCOPED, "end": "fd00::1ff"}],
                "dns_nameservers": ["fd00::53", "fd00::53%a", SCOPED],
                "host_routes": [{"destination": "fd01::/64", "nexthop": "fd00::1"},
                                {"destination": "fd02::/64", "nexthop": SCOPED}],
                "enable_dhcp": True, "service_types": [], "description": "", "tags": [], "revision_number": 1,
                "created_at": common_db.utcnow(),
            }  # fmt: skip
            session.execute(insert(_as_stored(session, "subnets")).values(subnet))
            pairs = [{"ip_address": "fd00::/120", "mac_address": MAC}, {"ip_address": SCOPED, "mac_address": MAC}]
            # The subnet and the port too, as 0012 had their tables (later: subnetpool_id, extra_dhcp_opts).
            port = {
                "id": "port-0013-test", "network_id": row["id"], "project_id": "alice", "name": "",
                "mac_address": MAC, "admin_state_up": True, "status": "DOWN", "device_id": "",
                "device_owner": "compute:nova", "binding_host_id": "h1", "binding_vif_type": "unbound",
                "binding_vnic_type": "normal", "binding_profile": {}, "binding_vif_details": {},
                "port_security_enabled": True, "allowed_address_pairs": pairs, "description": "", "tags": [],
                "revision_number": 1, "created_at": common_db.utcnow(),
            }  # fmt: skip
            session.execute(insert(_as_stored(session, "ports")).values(port))
            group = models.SecurityGroup(project_id="alice", name="g")
            session.add(group)
            session.flush()
            session.add_all([
                models.IPAllocation(port_id=port["id"], subnet_id=subnet["id"], ip_address="fd00::5"),
                models.IPAllocation(port_id=port["id"], subnet_id=subnet["id"], ip_address="fd00::5%a"),
                models.SecurityGroupRule(security_group_id=group.id, project_id="alice", direction="ingress",
                                         ethertype="IPv6", remote_ip_prefix=ISSUE_VALUE.replace("/", "") + "/128"),
                models.SecurityGroupRule(security_group_id=group.id, project_id="alice", direction="ingress",
                                         ethertype="IPv6", remote_ip_prefix="fd00::/64"),
                models.PortSecurityGroup(port_id=port["id"], security_group_id=group.id, position=0),
            ])  # fmt: skip

        upgrade(settings)

        with database.session() as session:
            subnet = session.scalars(select(models.Subnet)).one()
            assert subnet.gateway_ip is None
            assert subnet.dns_nameservers == ["fd00::53"]
            assert subnet.allocation_pools == [{"start": "fd00::2", "end": "fd00::ff"}]
            assert subnet.host_routes == [{"destination": "fd01::/64", "nexthop": "fd00::1"}]
            port = session.scalars(select(models.Port)).one()
            assert [pair["ip_address"] for pair in port.allowed_address_pairs] == ["fd00::/120"]
            assert [a.ip_address for a in session.scalars(select(models.IPAllocation))] == ["fd00::5"]
            assert [r.remote_ip_prefix for r in session.scalars(select(models.SecurityGroupRule))] == ["fd00::/64"]
            wiring = host_wiring(session, "h1")
            (wired,) = wiring.networks[0].ports
            assert wired.ips == ("fd00::5",) and wired.rules[0].remote_ips == ("fd00::/64",)
    finally:
        database.dispose()
