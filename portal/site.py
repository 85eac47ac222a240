"""The portal as one blueprint: importing this module registers every page on ``bp``."""

from __future__ import annotations

from portal import (  # noqa: F401 - each registers its views on bp
    admin,
    assets,
    consoles,
    floating_ips,
    images,
    instance_actions,
    instances,
    keypairs,
    launch,
    navigation,
    networks,
    overview,
    routers,
    security_groups,
    signin,
    volume_backups,
    volume_snapshots,
    volumes,
)
from portal.blueprint import bp
from portal.navigation import ADMIN_NAV, TENANT_NAV

__all__ = ["ADMIN_NAV", "TENANT_NAV", "bp"]
