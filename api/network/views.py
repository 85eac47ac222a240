"""How network resources look on the wire: the attributes of Neutron's api-ref, for the extensions we serve.

Attributes whose feature this cloud does not have keep Neutron's neutral value (``availability_zones`` [],
``ipv4_address_scope`` null ...), so strict clients find every key they expect. Admin-only attributes
(``provider:*`` on networks, ``binding:host_id``/``profile``/``vif_*`` on ports) are left out for others,
as Neutron's policy leaves them out.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from network.models import (
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    SubnetPool,
)


def neutron_time(moment: datetime | str | None) -> str | None:
    """Neutron's timestamps: whole seconds and a ``Z`` (stored times are UTC). Listings read them as the
    database's text (``api.network.records``), which only needs cutting."""
    if moment is None:
        return None
    if isinstance(moment, str):
        return f"{moment[:10]}T{moment[11:19]}Z"
    return moment.isoformat(timespec="seconds")[:19] + "Z"


def _standard(record: Any) -> dict[str, Any]:
    created = neutron_time(record.created_at)  # also the update time of a record never updated (formatted once)
    return {
        "description": record.description,
        "tags": list(record.tags or []),
        "created_at": created,
        "updated_at": neutron_time(record.updated_at) if record.updated_at else created,
        "revision_number": record.revision_number,
    }


def network_view(network: Network, show_provider: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": network.id,
        "name": network.name,
        "tenant_id": network.project_id,
        "project_id": network.project_id,
        "admin_state_up": network.admin_state_up,
        "status": network.status,
        "subnets": [subnet.id for subnet in network.subnets],
        "shared": network.shared,
        "mtu": network.mtu,
        "router:external": network.router_external,
        "port_security_enabled": network.port_security_enabled,
        "availability_zones": [],
        "availability_zone_hints": [],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "is_default": False,
        "l2_adjacency": True,
        "dns_domain": "",
        "qos_policy_id": network.qos_policy_id,
        **_standard(network),
    }
    if show_provider:
        view["provider:network_type"] = network.network_type
        view["provider:physical_network"] = network.physical_network
        view["provider:segmentation_id"] = network.segmentation_id
    return view


def subnet_view(subnet: Subnet, external: bool) -> dict[str, Any]:
    """``external``: whether the subnet's network is ``router:external`` (Neutron's subnet-external-network)."""
    return {
        "id": subnet.id,
        "name": subnet.name,
        "tenant_id": subnet.project_id,
        "project_id": subnet.project_id,
        "network_id": subnet.network_id,
        "ip_version": subnet.ip_version,
        "cidr": subnet.cidr,
        "gateway_ip": subnet.gateway_ip,
        "allocation_pools": [dict(pool) for pool in subnet.allocation_pools],
        "dns_nameservers": list(subnet.dns_nameservers),
        "host_routes": [dict(route) for route in subnet.host_routes],
        "enable_dhcp": subnet.enable_dhcp,
        "ipv6_ra_mode": subnet.ipv6_ra_mode,
        "ipv6_address_mode": subnet.ipv6_address_mode,
        "subnetpool_id": subnet.subnetpool_id,
        "segment_id": None,
        "service_types": list(subnet.service_types or []),
        "router:external": external,
        **_standard(subnet),
    }


def port_view(port: Port, show_binding: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": port.id,
        "name": port.name,
        "network_id": port.network_id,
        "tenant_id": port.project_id,
        "project_id": port.project_id,
        "mac_address": port.mac_address,
        "admin_state_up": port.admin_state_up,
        "status": port.status,
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in port.fixed_ips],
        "allowed_address_pairs": [dict(pair) for pair in port.allowed_address_pairs],
        "extra_dhcp_opts": [dict(option) for option in port.extra_dhcp_opts or []],
        "security_groups": port.security_group_ids,
        "port_security_enabled": port.port_security_enabled,
        "binding:vnic_type": port.binding_vnic_type,
        "ip_allocation": "immediate",
        "dns_name": "",
        "dns_assignment": [],
        "qos_policy_id": port.qos_policy_id,
        **_standard(port),
    }
    if show_binding:
        view["binding:host_id"] = port.binding_host_id
        view["binding:profile"] = dict(port.binding_profile or {})
        view["binding:vif_type"] = port.binding_vif_type
        view["binding:vif_details"] = dict(port.binding_vif_details or {})
    return view


def rule_view(rule: SecurityGroupRule) -> dict[str, Any]:
    normalized = None
    if rule.remote_ip_prefix is not None:
        normalized = str(ipaddress.ip_network(rule.remote_ip_prefix, strict=False))
    return {
        "id": rule.id,
        "tenant_id": rule.project_id,
        "project_id": rule.project_id,
        "security_group_id": rule.security_group_id,
        "direction": rule.direction,
        "ethertype": rule.ethertype,
        "protocol": rule.protocol,
        "port_range_min": rule.port_range_min,
        "port_range_max": rule.port_range_max,
        "remote_ip_prefix": rule.remote_ip_prefix,
        "remote_group_id": rule.remote_group_id,
        "remote_address_group_id": None,
        "normalized_cidr": normalized,
        "description": rule.description,
        "created_at": neutron_time(rule.created_at),
        "updated_at": neutron_time(rule.updated_at or rule.created_at),
        "revision_number": rule.revision_number,
    }


def security_group_view(group: SecurityGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "tenant_id": group.project_id,
        "project_id": group.project_id,
        "security_group_rules": [rule_view(rule) for rule in group.rules],
        "stateful": group.stateful,
        "shared": False,
        **_standard(group),
    }


def router_view(router: Router, gateway_ips: list[IPAllocation]) -> dict[str, Any]:
    """``gateway_ips`` are the gateway port's addresses (``external_fixed_ips``), read by the caller so a listing
    reads those of all its routers in one query."""
    gateway = None
    if router.gateway_network_id is not None:
        gateway = {
            "network_id": router.gateway_network_id,
            "enable_snat": router.enable_snat,
            "external_fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in gateway_ips],
        }
    return {
        "id": router.id,
        "name": router.name,
        "tenant_id": router.project_id,
        "project_id": router.project_id,
        "admin_state_up": router.admin_state_up,
        "status": router.status,
        "external_gateway_info": gateway,
        "routes": [dict(route) for route in router.routes or []],
        **_standard(router),
    }


def port_details(port: Port | None) -> dict[str, Any] | None:
    """``fip-port-details``: what a floating IP's client wants to know of its port (which server it reaches)."""
    if port is None:
        return None
    return {
        "name": port.name,
        "network_id": port.network_id,
        "mac_address": port.mac_address,
        "admin_state_up": port.admin_state_up,
        "status": port.status,
        "device_id": port.device_id,
        "device_owner": port.device_owner,
    }


def floating_ip_view(floating_ip: FloatingIP, port: Port | None) -> dict[str, Any]:
    """``port`` is the associated port (read by the caller, one query for a whole listing)."""
    return {
        "id": floating_ip.id,
        "tenant_id": floating_ip.project_id,
        "project_id": floating_ip.project_id,
        "floating_network_id": floating_ip.floating_network_id,
        "floating_ip_address": floating_ip.floating_ip_address,
        "fixed_ip_address": floating_ip.fixed_ip_address,
        "port_id": floating_ip.port_id,
        "router_id": floating_ip.router_id,
        "status": floating_ip.status,
        "port_details": port_details(port),
        **_standard(floating_ip),
    }


def subnetpool_view(pool: SubnetPool) -> dict[str, Any]:
    """Neutron's subnet pool; no address scopes or per-pool quotas here, so those keys are null."""
    return {
        "id": pool.id,
        "name": pool.name,
        "tenant_id": pool.project_id,
        "project_id": pool.project_id,
        "ip_version": pool.ip_version,
        "prefixes": list(pool.prefixes),
        "default_prefixlen": pool.default_prefixlen,
        "min_prefixlen": pool.min_prefixlen,
        "max_prefixlen": pool.max_prefixlen,
        "shared": pool.shared,
        "is_default": pool.is_default,
        "default_quota": None,
        "address_scope_id": None,
        **_standard(pool),
    }
