"""Request schemas of the Network API: the attributes Neutron accepts on create (POST) and update (PUT).

Bodies are first converted as Neutron converts them (``api.network.common.resource_body``: "true" is a
boolean, "42" an integer), so the types here are strict. An attribute outside the schema is a 400 that
names it; the service layer checks what needs the database (addresses, overlaps, references).
"""

from __future__ import annotations

from typing import Any

NAME = {"type": "string", "maxLength": 255}
DESCRIPTION = {"type": "string", "maxLength": 255}
PROJECT = {"type": "string", "minLength": 1, "maxLength": 255}
UUID = {"type": "string", "minLength": 1, "maxLength": 36}
BOOL = {"type": "boolean"}
TAGS = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255}, "maxItems": 50}
IP = {"type": "string", "minLength": 1, "maxLength": 64}
NULLABLE_IP = {"type": ["string", "null"], "maxLength": 64}
VNIC_TYPES = ["normal", "direct", "macvtap", "baremetal", "direct-physical", "virtio-forwarder", "smart-nic", "vdpa"]


def _document(resource: str, properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    inner: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        inner["required"] = list(required)
    return {
        "type": "object",
        "properties": {resource: inner},
        "required": [resource],
        "additionalProperties": False,
    }


NETWORK_FIELDS: dict[str, Any] = {
    "name": NAME,
    "description": DESCRIPTION,
    "admin_state_up": BOOL,
    "shared": BOOL,
    "router:external": BOOL,
    "port_security_enabled": BOOL,
    "mtu": {"type": "integer"},
    "provider:network_type": {"type": "string", "maxLength": 255},
    "provider:physical_network": {"type": ["string", "null"], "maxLength": 64},
    "provider:segmentation_id": {"type": "integer"},
    "availability_zone_hints": {"type": "array", "maxItems": 0},
    "is_default": {"const": False},
    "qos_policy_id": {"type": ["string", "null"], "maxLength": 36},
}
NETWORK_CREATE = _document("network", {**NETWORK_FIELDS, "project_id": PROJECT, "tenant_id": PROJECT, "tags": TAGS})
NETWORK_UPDATE = _document("network", NETWORK_FIELDS)
NETWORK_BOOLS = ("admin_state_up", "shared", "router:external", "port_security_enabled", "is_default")
NETWORK_INTS = ("mtu", "provider:segmentation_id")

POOL = {
    "type": "object",
    "properties": {"start": IP, "end": IP},
    "required": ["start", "end"],
    "additionalProperties": False,
}
ROUTE = {
    "type": "object",
    "properties": {"destination": IP, "nexthop": IP},
    "required": ["destination", "nexthop"],
    "additionalProperties": False,
}
SUBNET_FIELDS: dict[str, Any] = {
    "name": NAME,
    "description": DESCRIPTION,
    "gateway_ip": NULLABLE_IP,
    "allocation_pools": {"type": "array", "items": POOL, "maxItems": 100},
    "dns_nameservers": {"type": "array", "items": IP},
    "host_routes": {"type": "array", "items": ROUTE},
    "enable_dhcp": BOOL,
    "service_types": {"type": "array", "items": {"type": "string", "maxLength": 255}, "maxItems": 20},
}
SUBNET_CREATE = _document(
    "subnet",
    {
        **SUBNET_FIELDS,
        "network_id": UUID,
        "cidr": {"type": "string", "minLength": 1, "maxLength": 64},
        "ip_version": {"enum": [4, 6]},
        "ipv6_ra_mode": {"enum": [None, "slaac", "dhcpv6-stateful", "dhcpv6-stateless"]},
        "ipv6_address_mode": {"enum": [None, "slaac", "dhcpv6-stateful", "dhcpv6-stateless"]},
        "subnetpool_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 36},
        "prefixlen": {"type": ["integer", "null"], "minimum": 0, "maximum": 128},
        "use_default_subnetpool": BOOL,
        "project_id": PROJECT,
        "tenant_id": PROJECT,
        "tags": TAGS,
    },
    required=("network_id",),
)
SUBNET_UPDATE = _document("subnet", SUBNET_FIELDS)
SUBNET_BOOLS = ("enable_dhcp", "use_default_subnetpool")
SUBNET_INTS = ("ip_version", "prefixlen")

PREFIXLEN = {"type": "integer", "minimum": 0, "maximum": 128}
SUBNETPOOL_FIELDS: dict[str, Any] = {
    "name": NAME,
    "description": DESCRIPTION,
    "prefixes": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 64}, "maxItems": 1000},
    "default_prefixlen": PREFIXLEN,
    "min_prefixlen": PREFIXLEN,
    "max_prefixlen": PREFIXLEN,
    "is_default": BOOL,
    "address_scope_id": {"type": ["string", "null"], "maxLength": 36},
    "default_quota": {"type": ["integer", "null"]},
}
SUBNETPOOL_CREATE = _document(
    "subnetpool",
    {**SUBNETPOOL_FIELDS, "shared": BOOL, "project_id": PROJECT, "tenant_id": PROJECT, "tags": TAGS},
    required=("prefixes",),
)
SUBNETPOOL_UPDATE = _document("subnetpool", SUBNETPOOL_FIELDS)
SUBNETPOOL_BOOLS = ("shared", "is_default")
SUBNETPOOL_INTS = ("default_prefixlen", "min_prefixlen", "max_prefixlen", "default_quota")

FIXED_IP = {
    "type": "object",
    "properties": {"subnet_id": UUID, "ip_address": IP},
    "additionalProperties": False,
}
ADDRESS_PAIR = {
    "type": "object",
    "properties": {"ip_address": IP, "mac_address": {"type": "string", "maxLength": 32}},
    "required": ["ip_address"],
    "additionalProperties": False,
}
DHCP_OPT = {
    "type": "object",
    "properties": {
        "opt_name": {"type": "string", "minLength": 1, "maxLength": 64},
        "opt_value": {"type": ["string", "null"], "maxLength": 255},
        "ip_version": {"enum": [4, 6, "4", "6"]},  # Neutron converts "4" as it converts every integer
    },
    "required": ["opt_name"],
    "additionalProperties": False,
}
PORT_FIELDS: dict[str, Any] = {
    "name": NAME,
    "description": DESCRIPTION,
    "admin_state_up": BOOL,
    "mac_address": {"type": "string", "maxLength": 32},
    "fixed_ips": {"type": "array", "items": FIXED_IP, "maxItems": 20},
    "device_id": {"type": ["string", "null"], "maxLength": 255},
    "device_owner": {"type": ["string", "null"], "maxLength": 255},
    "security_groups": {"type": ["array", "null"], "items": UUID},
    "port_security_enabled": BOOL,
    "allowed_address_pairs": {"type": ["array", "null"], "items": ADDRESS_PAIR},
    "binding:host_id": {"type": ["string", "null"], "maxLength": 255},
    "binding:vnic_type": {"enum": VNIC_TYPES},
    "binding:profile": {"type": ["object", "null"]},
    "extra_dhcp_opts": {"type": ["array", "null"], "items": DHCP_OPT, "maxItems": 50},
    "dns_name": {"const": ""},
    "qos_policy_id": {"type": ["string", "null"], "maxLength": 36},
}
PORT_CREATE = _document(
    "port",
    {**PORT_FIELDS, "network_id": UUID, "project_id": PROJECT, "tenant_id": PROJECT, "tags": TAGS},
    required=("network_id",),
)
PORT_UPDATE = _document("port", PORT_FIELDS)
PORT_BOOLS = ("admin_state_up", "port_security_enabled")

SECURITY_GROUP_FIELDS: dict[str, Any] = {"name": NAME, "description": DESCRIPTION, "stateful": BOOL}
SECURITY_GROUP_CREATE = _document(
    "security_group", {**SECURITY_GROUP_FIELDS, "project_id": PROJECT, "tenant_id": PROJECT, "tags": TAGS}
)
SECURITY_GROUP_UPDATE = _document("security_group", SECURITY_GROUP_FIELDS)
SECURITY_GROUP_BOOLS = ("stateful",)

PORT_NUMBER = {"type": ["integer", "null"]}
SECURITY_GROUP_RULE_CREATE = _document(
    "security_group_rule",
    {
        "security_group_id": UUID,
        "direction": {"enum": ["ingress", "egress"]},
        "ethertype": {"type": "string", "maxLength": 8},
        "protocol": {"type": ["string", "integer", "null"], "maxLength": 40},
        "port_range_min": PORT_NUMBER,
        "port_range_max": PORT_NUMBER,
        "remote_ip_prefix": {"type": ["string", "null"], "maxLength": 64},
        "remote_group_id": {"type": ["string", "null"], "maxLength": 36},
        "remote_address_group_id": {"type": "null"},
        "description": DESCRIPTION,
        "project_id": PROJECT,
        "tenant_id": PROJECT,
    },
    required=("security_group_id", "direction"),
)
SECURITY_GROUP_RULE_INTS = ("port_range_min", "port_range_max")

TAGS_REPLACE = {
    "type": "object",
    "properties": {"tags": TAGS},
    "required": ["tags"],
    "additionalProperties": False,
}

EXTERNAL_FIXED_IP = {
    "type": "object",
    "properties": {"subnet_id": UUID, "ip_address": IP},
    "additionalProperties": False,
}
GATEWAY_INFO = {
    "type": ["object", "null"],
    "properties": {
        "network_id": UUID,
        "enable_snat": BOOL,
        "external_fixed_ips": {"type": "array", "items": EXTERNAL_FIXED_IP, "maxItems": 20},
    },
    "additionalProperties": False,
}
ROUTES = {"type": ["array", "null"], "items": ROUTE, "maxItems": 1000}
ROUTER_FIELDS: dict[str, Any] = {
    "name": NAME,
    "description": DESCRIPTION,
    "admin_state_up": BOOL,
    "external_gateway_info": GATEWAY_INFO,
    "availability_zone_hints": {"type": "array", "maxItems": 0},
    "distributed": {"const": False},
    "ha": {"const": False},
}
ROUTER_CREATE = _document("router", {**ROUTER_FIELDS, "project_id": PROJECT, "tenant_id": PROJECT, "tags": TAGS})
ROUTER_UPDATE = _document("router", {**ROUTER_FIELDS, "routes": ROUTES})
ROUTER_BOOLS = ("admin_state_up",)
ROUTER_ROUTES = _document("router", {"routes": {"type": "array", "items": ROUTE, "maxItems": 1000}}, ("routes",))
ROUTER_INTERFACE = {
    "type": "object",
    "properties": {"subnet_id": UUID, "port_id": UUID},
    "additionalProperties": False,
}

FLOATING_IP_CREATE = _document(
    "floatingip",
    {
        "floating_network_id": UUID,
        "floating_ip_address": IP,
        "subnet_id": UUID,
        "port_id": {"type": ["string", "null"], "maxLength": 36},
        "fixed_ip_address": NULLABLE_IP,
        "description": DESCRIPTION,
        "project_id": PROJECT,
        "tenant_id": PROJECT,
        "tags": TAGS,
    },
    required=("floating_network_id",),
)
FLOATING_IP_UPDATE = _document(
    "floatingip",
    {
        "port_id": {"type": ["string", "null"], "maxLength": 36},
        "fixed_ip_address": NULLABLE_IP,
        "description": DESCRIPTION,
    },
)

RBAC_TARGET = {"type": "string", "minLength": 1, "maxLength": 255}
RBAC_POLICY_CREATE = _document(
    "rbac_policy",
    {
        "object_type": {"enum": ["network"]},
        "object_id": UUID,
        "action": {"enum": ["access_as_shared", "access_as_external"]},
        "target_tenant": RBAC_TARGET,
        "project_id": PROJECT,
        "tenant_id": PROJECT,
    },
    required=("object_type", "object_id", "action", "target_tenant"),
)
RBAC_POLICY_UPDATE = _document("rbac_policy", {"target_tenant": RBAC_TARGET})
