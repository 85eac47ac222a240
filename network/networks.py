"""Creating, changing and deleting networks.

``attrs`` are Neutron's request attributes (``router:external``, ``provider:segmentation_id`` ...), already
checked for shape and for who may set them by the API; here are the rules that need the database. Each
function works inside the caller's transaction and leaves nothing behind when it raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common.settings import Settings
from network import quota, security_groups, segments
from network.access import Caller, get_network
from network.db import begin_write
from network.exceptions import FlatNetworkInUse, InvalidInput, InvalidSharedSetting, NetworkInUse
from network.models import (
    DHCP_OWNER,
    FLOATING_IP_OWNER,
    ROUTER_GATEWAY_OWNER,
    FloatingIP,
    Network,
    NetworkRBAC,
    Port,
)

VXLAN_OVERHEAD = 50
MIN_MTU = 68
PROVIDER_FIELDS = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")
SIMPLE_FIELDS = {
    "name": "name",
    "description": "description",
    "admin_state_up": "admin_state_up",
    "shared": "shared",
    "router:external": "router_external",
    "port_security_enabled": "port_security_enabled",
}


def max_mtu(settings: Settings) -> int:
    """Tenant networks are VXLAN: the underlay MTU less the 50 bytes of VXLAN over IPv4 headers."""
    return settings.network_underlay_mtu - VXLAN_OVERHEAD


def _mtu(settings: Settings, requested: int | None) -> int:
    highest = max_mtu(settings)
    if requested is None:
        return highest
    if requested > highest:
        raise InvalidInput(error_message=f"Requested MTU is too big, maximum is {highest}")
    if requested < MIN_MTU:
        raise InvalidInput(error_message=f"Requested MTU is too small, minimum is {MIN_MTU}")
    return requested


def physical_networks(settings: Settings) -> list[str]:
    """The physical networks flat networks may use: the names of ``network_physical_bridges``
    ("physnet:bridge,..."), the same on every host."""
    names = []
    for entry in settings.network_physical_bridges.split(","):
        name = entry.partition(":")[0].strip()
        if name:
            names.append(name)
    return names


def _check_provider(settings: Settings, attrs: Mapping[str, Any]) -> tuple[str, int | None, str | None]:
    """The network's type, requested VNI and physical network. ``vxlan`` (the default) takes an optional VNI and
    no physical network; ``flat`` (an external network on a host bridge) needs a physical network the cloud
    knows and takes no VNI."""
    network_type = attrs.get("provider:network_type") or "vxlan"
    physical = attrs.get("provider:physical_network")
    segmentation_id = attrs.get("provider:segmentation_id")
    if network_type == "vxlan":
        if physical is not None:
            raise InvalidInput(error_message="provider:physical_network specified for VXLAN network")
        return network_type, segmentation_id, None
    if network_type != "flat":
        raise InvalidInput(error_message=f"network_type value '{network_type}' not supported")
    if segmentation_id is not None:
        raise InvalidInput(error_message="segmentation_id specified for flat provider network")
    if not physical:
        raise InvalidInput(error_message="physical_network required for flat provider network")
    if physical not in physical_networks(settings):
        raise InvalidInput(error_message=f"physical_network '{physical}' unknown for flat provider network")
    return network_type, None, physical


def _insert_flat(session: Session, network: Network) -> None:
    """Neutron's flat type: one network per physical network. The write lock taken before (``begin_write``)
    serialises creates on SQLite; the check and insert are one transaction on PostgreSQL too, where two
    concurrent admins could still race (an admin-only, rare operation)."""
    taken = select(Network.id).where(Network.physical_network == network.physical_network)
    if session.scalars(taken.limit(1)).first() is not None:
        raise FlatNetworkInUse(physical_network=network.physical_network)
    session.add(network)
    session.flush()


def create_network(session: Session, caller: Caller, settings: Settings, attrs: Mapping[str, Any]) -> Network:
    """A new network of ``attrs["project_id"]`` (admins only; else the caller's project) with a VNI of its own.

    Also makes sure the project has its ``default`` security group, as Neutron does on a first network.
    """
    project_id = attrs.get("project_id") or caller.project_id
    if not project_id:
        raise InvalidInput(error_message="a network belongs to a project: use a project-scoped token")
    network_type, requested_vni, physical = _check_provider(settings, attrs)
    # A flat network has no VXLAN header: the physical network's MTU is the underlay's.
    mtu = _mtu(settings, attrs.get("mtu")) if network_type == "vxlan" else settings.network_underlay_mtu
    begin_write(session)
    quota.check(session, project_id, "network")
    network = Network(
        project_id=project_id,
        mtu=mtu,
        network_type=network_type,
        physical_network=physical,
        tags=list(dict.fromkeys(attrs.get("tags") or [])),
        **{column: attrs[field] for field, column in SIMPLE_FIELDS.items() if field in attrs},
    )
    if network_type == "flat":
        _insert_flat(session, network)
    else:
        segments.insert_network(session, network, segments.VniRange.from_settings(settings), requested_vni)
    security_groups.ensure_default(session, project_id)
    return network


def update_network(
    session: Session, caller: Caller, settings: Settings, network_id: str, attrs: Mapping[str, Any]
) -> Network:
    network = get_network(session, caller, network_id, for_update=True)
    begin_write(session)
    changed = {
        "provider:network_type": network.network_type,
        "provider:physical_network": network.physical_network,
        "provider:segmentation_id": network.segmentation_id,
    }
    if any(field in attrs and attrs[field] != changed[field] for field in PROVIDER_FIELDS):
        raise InvalidInput(error_message="Plugin does not support updating provider attributes")
    if attrs.get("shared") is False and network.shared:
        _check_unshare(session, network)
        # The flag and a '*' RBAC policy are one thing: unsharing removes the policy too.
        session.execute(
            delete(NetworkRBAC).where(
                NetworkRBAC.object_id == network.id,
                NetworkRBAC.action == "access_as_shared",
                NetworkRBAC.target_tenant == "*",
            )
        )
    if attrs.get("router:external") is False and network.router_external:
        _check_unexternal(session, network)
    if "mtu" in attrs and network.network_type == "vxlan":
        network.mtu = _mtu(settings, attrs["mtu"])
    elif "mtu" in attrs and attrs["mtu"] != network.mtu:
        raise InvalidInput(error_message="Plugin does not support updating the MTU of a flat network")
    for field, column in SIMPLE_FIELDS.items():
        if field in attrs:
            setattr(network, column, attrs[field])
    network.revision_number += 1
    session.flush()
    return network


def _check_unshare(session: Session, network: Network) -> None:
    """409 while projects other than the owner have ports on it, except those an RBAC policy shares it with."""
    granted = select(NetworkRBAC.target_tenant).where(
        NetworkRBAC.object_id == network.id, NetworkRBAC.action == "access_as_shared"
    )
    others = select(Port.id).where(
        Port.network_id == network.id,
        Port.project_id != network.project_id,
        Port.device_owner != DHCP_OWNER,
        Port.project_id.not_in(granted),
    )
    if session.scalars(others.limit(1)).first() is not None:
        raise InvalidSharedSetting(network=network.name or network.id)


def _check_unexternal(session: Session, network: Network) -> None:
    """Neutron refuses to make a network internal while routers or floating IPs use it."""
    users = select(Port.id).where(
        Port.network_id == network.id, Port.device_owner.in_((ROUTER_GATEWAY_OWNER, FLOATING_IP_OWNER))
    )
    if session.scalars(users.limit(1)).first() is not None:
        raise NetworkInUse(net_id=network.id)


def delete_network(session: Session, caller: Caller, network_id: str) -> None:
    """Delete the network, its subnets and its DHCP port; 409 ``NetworkInUse`` while other ports remain. As in
    Neutron, an external network's floating IPs that are not associated go with it (an associated one, or a
    router's gateway, keeps it in use).

    A port created concurrently makes the final delete violate the ports' foreign key (RESTRICT), which is
    answered with the same 409 rather than deleting a port someone just made.
    """
    network = get_network(session, caller, network_id, for_update=True)
    begin_write(session)
    if network.router_external:
        _delete_disassociated_floating_ips(session, network.id)
    in_use = select(Port.id).where(Port.network_id == network.id, Port.device_owner != DHCP_OWNER)
    if session.scalars(in_use.limit(1)).first() is not None:
        raise NetworkInUse(net_id=network_id)
    session.execute(delete(Port).where(Port.network_id == network.id, Port.device_owner == DHCP_OWNER))
    try:
        with session.begin_nested():
            session.execute(delete(Network).where(Network.id == network.id))  # subnets go by ON DELETE CASCADE
    except IntegrityError:
        raise NetworkInUse(net_id=network_id) from None


def _delete_disassociated_floating_ips(session: Session, network_id: str) -> None:
    loose = select(FloatingIP.id, FloatingIP.floating_port_id).where(
        FloatingIP.floating_network_id == network_id, FloatingIP.port_id.is_(None)
    )
    rows = session.execute(loose.with_for_update()).all()
    if not rows:
        return
    session.execute(delete(FloatingIP).where(FloatingIP.id.in_([row.id for row in rows])))
    holders = [row.floating_port_id for row in rows if row.floating_port_id]
    session.execute(delete(Port).where(Port.id.in_(holders), Port.device_owner == FLOATING_IP_OWNER))
