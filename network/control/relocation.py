"""What runs on a host that is down moves to a live one: the networks' DHCP servers and the routers.

Why: a network's DHCP server runs on one host of the network (``wiring.dhcp_host``). When that host goes away (its
agent stopped, its machine died, ``make up HOSTS=N`` retired it), guests on the other hosts get no address, and
nothing in the level-triggered wiring would notice before the next resync. Every computation of a host's wiring
now leaves down hosts out of the DHCP choice; this periodic pass (every ``host_heartbeat_interval``) finds the DHCP
servers still bound to a down host while a live host has the network's servers, and pushes those networks again,
which binds the DHCP port to the live host and points every other host's forwarding entry at it. Routers on a
down host (or on none: placed while no host was live) are synced again, which places them on a live host.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from network import liveness
from network.control import wiring
from network.control.context import NetworkControl
from network.control.sync import sync_network, sync_router
from network.models import DHCP_OWNER, Port, Router

LOG = logging.getLogger(__name__)


def stranded_networks(control: NetworkControl) -> list[str]:
    """Networks whose DHCP server is bound to a host that is down while a live host has their servers."""
    down_after = timedelta(seconds=control.settings.compute_host_down_after)
    stranded = []
    with control.db.session() as session:
        live = liveness.live_hosts(session, down_after)
        placed = session.execute(
            select(Port.network_id, Port.binding_host_id).where(
                Port.device_owner == DHCP_OWNER, Port.binding_host_id != ""
            )
        )
        for network_id, host in placed:
            if host not in live and wiring.hosts_of_network(session, network_id) & live:
                stranded.append(network_id)
    return sorted(set(stranded))


def move_from_down_hosts(control: NetworkControl, request_id: str = "req-relocate") -> list[str]:
    """Push every stranded network again (its DHCP server moves); returns their ids."""
    networks = stranded_networks(control)
    for network_id in networks:
        LOG.warning("[%s] DHCP server of network %s is on a host that is down: moving it", request_id, network_id)
        sync_network(control, network_id, request_id)
    return networks


def stranded_routers(control: NetworkControl) -> list[str]:
    """Running routers whose host is down or who have none, while some network host is live."""
    down_after = timedelta(seconds=control.settings.compute_host_down_after)
    with control.db.session() as session:
        live = liveness.live_hosts(session, down_after)
        if not live:
            return []
        query = select(Router.id).where(Router.admin_state_up.is_(True), Router.host.not_in(sorted(live)))
        return sorted(session.scalars(query))


def move_routers_from_down_hosts(control: NetworkControl, request_id: str = "req-relocate") -> list[str]:
    """Place every stranded router on a live host and push the change; returns their ids."""
    routers = stranded_routers(control)
    for router_id in routers:
        LOG.warning("[%s] router %s has no live host: moving it", request_id, router_id)
        sync_router(control, router_id, request_id)
    return routers
