"""Helpers of the network unit tests: a private SQLite database with the network tables, and small factories."""

from __future__ import annotations

from typing import Any

from network import models
from network.access import Caller

ADMIN = Caller(project_id="admin-project", is_admin=True)
ALICE = Caller(project_id="alice")
BOB = Caller(project_id="bob")


NETWORK_TABLES = {
    models.Network.__tablename__,
    models.Subnet.__tablename__,
    models.Port.__tablename__,
    models.IPAllocation.__tablename__,
    models.SecurityGroup.__tablename__,
    models.DefaultSecurityGroup.__tablename__,
    models.SecurityGroupRule.__tablename__,
    models.PortSecurityGroup.__tablename__,
    models.Router.__tablename__,
    models.FloatingIP.__tablename__,
    models.SubnetPool.__tablename__,
    models.NetworkRBAC.__tablename__,
    models.QosPolicy.__tablename__,
    models.QosBandwidthLimitRule.__tablename__,
}


def network_row(project_id: str = "alice", vni: int = 5000, **fields: Any) -> models.Network:
    return models.Network(project_id=project_id, mtu=1450, segmentation_id=vni, **fields)
