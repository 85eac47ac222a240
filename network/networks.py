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
from network.exceptions import InvalidInput, InvalidSharedSetting, NetworkInUse
from network.models import DHCP_OWNER, Network, Port

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


def _check_provider(attrs: Mapping[str, Any]) -> int | None:
    """The requested VNI, if any; VXLAN is the only network type (and has no physical network)."""
    network_type = attrs.get("provider:network_type")
    if network_type not in (None, "vxlan"):
        raise InvalidInput(error_message=f"network_type value '{network_type}' not supported")
    if attrs.get("provider:physical_network") is not None:
        raise InvalidInput(error_message="provider:physical_network specified for VXLAN network")
    return attrs.get("provider:segmentation_id")


def create_network(session: Session, caller: Caller, settings: Settings, attrs: Mapping[str, Any]) -> Network:
    """A new network of ``attrs["project_id"]`` (admins only; else the caller's project) with a VNI of its own.

    Also makes sure the project has its ``default`` security group, as Neutron does on a first network.
    """
    project_id = attrs.get("project_id") or caller.project_id
    if not project_id:
        raise InvalidInput(error_message="a network belongs to a project: use a project-scoped token")
    requested_vni = _check_provider(attrs)
    mtu = _mtu(settings, attrs.get("mtu"))
    begin_write(session)
    quota.check(session, project_id, "network")
    network = Network(
        project_id=project_id,
        mtu=mtu,
        network_type="vxlan",
        tags=list(dict.fromkeys(attrs.get("tags") or [])),
        **{column: attrs[field] for field, column in SIMPLE_FIELDS.items() if field in attrs},
    )
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
        "provider:physical_network": None,
        "provider:segmentation_id": network.segmentation_id,
    }
    if any(field in attrs and attrs[field] != changed[field] for field in PROVIDER_FIELDS):
        raise InvalidInput(error_message="Plugin does not support updating provider attributes")
    if attrs.get("shared") is False and network.shared:
        _check_unshare(session, network)
    if "mtu" in attrs:
        network.mtu = _mtu(settings, attrs["mtu"])
    for field, column in SIMPLE_FIELDS.items():
        if field in attrs:
            setattr(network, column, attrs[field])
    network.revision_number += 1
    session.flush()
    return network


def _check_unshare(session: Session, network: Network) -> None:
    others = select(Port.id).where(
        Port.network_id == network.id, Port.project_id != network.project_id, Port.device_owner != DHCP_OWNER
    )
    if session.scalars(others.limit(1)).first() is not None:
        raise InvalidSharedSetting(network=network.name or network.id)


def delete_network(session: Session, caller: Caller, network_id: str) -> None:
    """Delete the network, its subnets and its DHCP port; 409 ``NetworkInUse`` while other ports remain.

    A port created concurrently makes the final delete violate the ports' foreign key (RESTRICT), which is
    answered with the same 409 rather than deleting a port someone just made.
    """
    network = get_network(session, caller, network_id, for_update=True)
    begin_write(session)
    in_use = select(Port.id).where(Port.network_id == network.id, Port.device_owner != DHCP_OWNER)
    if session.scalars(in_use.limit(1)).first() is not None:
        raise NetworkInUse(net_id=network_id)
    session.execute(delete(Port).where(Port.network_id == network.id, Port.device_owner == DHCP_OWNER))
    try:
        with session.begin_nested():
            session.execute(delete(Network).where(Network.id == network.id))  # subnets go by ON DELETE CASCADE
    except IntegrityError:
        raise NetworkInUse(net_id=network_id) from None
