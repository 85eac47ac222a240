"""Errors of the network service, with Neutron's names, messages and status codes.

``fault_type`` is what the Network API puts in ``{"NeutronError": {"type": ...}}``: clients and tests match
on it, so each class is named and worded as its neutron-lib counterpart.
"""

from __future__ import annotations

from typing import ClassVar

from common.exceptions import BadRequest, Conflict, Forbidden, NotFound, StratusError


class NeutronNotFound(NotFound):
    fault_type: ClassVar[str] = "NotFound"


class NetworkNotFound(NeutronNotFound):
    msg_fmt = "Network {net_id} could not be found."
    fault_type = "NetworkNotFound"


class SubnetNotFound(NeutronNotFound):
    msg_fmt = "Subnet {subnet_id} could not be found."
    fault_type = "SubnetNotFound"


class PortNotFound(NeutronNotFound):
    msg_fmt = "Port {port_id} could not be found."
    fault_type = "PortNotFound"


class SecurityGroupNotFound(NeutronNotFound):
    msg_fmt = "Security group {id} does not exist"
    fault_type = "SecurityGroupNotFound"


class SecurityGroupRuleNotFound(NeutronNotFound):
    msg_fmt = "Security group rule {id} does not exist"
    fault_type = "SecurityGroupRuleNotFound"


class ExtensionNotFound(NeutronNotFound):
    msg_fmt = "Extension with alias {alias} does not exist"
    fault_type = "ExtensionNotFound"


class InvalidInput(BadRequest):
    """A value that is well-formed but wrong for the operation (Neutron's catch-all 400)."""

    msg_fmt = "Invalid input for operation: {error_message}."
    fault_type: ClassVar[str | None] = "InvalidInput"


class InvalidAttribute(BadRequest):
    """A malformed attribute, worded as Neutron's attribute validation words it (type ``HTTPBadRequest``)."""

    msg_fmt = "Invalid input for {attribute}. Reason: {reason}."
    fault_type: ClassVar[str | None] = None


class PolicyNotAuthorized(Forbidden):
    msg_fmt = "({action}) is disallowed by policy"
    fault_type: ClassVar[str] = "PolicyNotAuthorized"


class NeutronConflict(Conflict):
    msg_fmt = "{reason}"
    fault_type: ClassVar[str] = "Conflict"


# --- networks and segments ---------------------------------------------------------------------------------


class NetworkInUse(NeutronConflict):
    msg_fmt = (
        "Unable to complete operation on network {net_id}. There are one or more ports still in use on the network."
    )
    fault_type = "NetworkInUse"


class TunnelIdInUse(NeutronConflict):
    msg_fmt = "Unable to create the network. The tunnel ID {tunnel_id} is in use."
    fault_type = "TunnelIdInUse"


class NoNetworkAvailable(StratusError):
    msg_fmt = "Unable to create the network. No tenant network is available for allocation."
    code = 503
    title = "Service Unavailable"
    fault_type: ClassVar[str] = "NoNetworkAvailable"


class InvalidSharedSetting(NeutronConflict):
    msg_fmt = "Unable to reconfigure sharing settings for network {network}. Multiple tenants are using it."
    fault_type = "InvalidSharedSetting"


# --- subnets and addresses ---------------------------------------------------------------------------------


class SubnetInUse(NeutronConflict):
    msg_fmt = "Unable to complete operation on subnet {subnet_id}: {reason}."
    fault_type = "SubnetInUse"

    def __init__(self, subnet_id: str, reason: str = "One or more ports have an IP allocation from this subnet"):
        super().__init__(subnet_id=subnet_id, reason=reason)


class InvalidAllocationPool(BadRequest):
    msg_fmt = "The allocation pool {pool} is not valid."
    fault_type = "InvalidAllocationPool"


class OutOfBoundsAllocationPool(BadRequest):
    msg_fmt = "The allocation pool {pool} spans beyond the subnet cidr {subnet_cidr}."
    fault_type = "OutOfBoundsAllocationPool"


class OverlappingAllocationPools(NeutronConflict):
    msg_fmt = "Found overlapping allocation pools: {pool_1} {pool_2} for subnet {subnet_cidr}."
    fault_type = "OverlappingAllocationPools"


class GatewayConflictWithAllocationPools(NeutronConflict):
    msg_fmt = "Gateway ip {ip_address} conflicts with allocation pool {pool}."
    fault_type = "GatewayConflictWithAllocationPools"


class IpAddressGenerationFailure(NeutronConflict):
    msg_fmt = "No more IP addresses available on network {net_id}."
    fault_type = "IpAddressGenerationFailure"


class IpAddressAlreadyAllocated(NeutronConflict):
    msg_fmt = "IP address {ip} already allocated in subnet {subnet_id}"
    fault_type = "IpAddressAlreadyAllocated"


class InvalidIpForSubnet(BadRequest):
    msg_fmt = "IP address {ip_address} is not a valid IP for the specified subnet."
    fault_type = "InvalidIpForSubnet"


class InvalidIpForNetwork(BadRequest):
    msg_fmt = "IP address {ip_address} is not a valid IP for any of the subnets on the specified network."
    fault_type = "InvalidIpForNetwork"


# --- subnet pools ------------------------------------------------------------------------------------------


class SubnetPoolNotFound(NeutronNotFound):
    msg_fmt = "Subnet pool {subnetpool_id} could not be found."
    fault_type = "SubnetPoolNotFound"


class AddressScopeNotFound(NeutronNotFound):
    msg_fmt = "Address scope {address_scope_id} could not be found."
    fault_type = "AddressScopeNotFound"


class SubnetPoolInUse(NeutronConflict):
    msg_fmt = "Unable to complete operation on subnet pool {subnet_pool_id}. {reason}."
    fault_type = "SubnetPoolInUse"


class SubnetAllocationError(NeutronConflict):
    """No room in the pool (Neutron's is a bare NeutronException, a 500; a full pool is the caller's conflict)."""

    msg_fmt = "Failed to allocate subnet: {reason}."
    fault_type = "SubnetAllocationError"


class PrefixVersionMismatch(BadRequest):
    msg_fmt = "Cannot mix IPv4 and IPv6 prefixes in a subnet pool."
    fault_type = "PrefixVersionMismatch"


class IllegalSubnetPoolPrefixBounds(BadRequest):
    msg_fmt = "Illegal prefix bounds: {prefix_type}={prefixlen}, {base_prefix_type}={base_prefixlen}."
    fault_type = "IllegalSubnetPoolPrefixBounds"


class IllegalSubnetPoolPrefixUpdate(BadRequest):
    msg_fmt = "Illegal update to prefixes: {msg}."
    fault_type = "IllegalSubnetPoolPrefixUpdate"


class MinPrefixSubnetAllocationError(BadRequest):
    msg_fmt = "Unable to allocate subnet with prefix length {prefixlen}, minimum allowed prefix is {min_prefixlen}."
    fault_type = "MinPrefixSubnetAllocationError"


class MaxPrefixSubnetAllocationError(BadRequest):
    msg_fmt = "Unable to allocate subnet with prefix length {prefixlen}, maximum allowed prefix is {max_prefixlen}."
    fault_type = "MaxPrefixSubnetAllocationError"


# --- ports -------------------------------------------------------------------------------------------------


class MacAddressInUse(NeutronConflict):
    msg_fmt = "Unable to complete operation for network {net_id}. The mac address {mac} is in use."
    fault_type = "MacAddressInUse"


class MacAddressGenerationFailure(StratusError):
    msg_fmt = "Unable to generate unique mac on network {net_id}."
    code = 503
    title = "Service Unavailable"
    fault_type: ClassVar[str] = "MacAddressGenerationFailure"


class PortSecurityAndIPRequiredForSecurityGroups(InvalidInput):
    msg_fmt = "Port security must be enabled and port must have an IP address in order to use security groups."
    fault_type = "PortSecurityAndIPRequiredForSecurityGroups"


class PortSecurityPortHasSecurityGroup(NeutronConflict):
    msg_fmt = (
        "Port has security group associated. Cannot disable port security or ip address until security group "
        "is removed."
    )
    fault_type = "PortSecurityPortHasSecurityGroup"


class AddressPairAndPortSecurityRequired(NeutronConflict):
    msg_fmt = "Port Security must be enabled in order to have allowed address pairs on a port."
    fault_type = "AddressPairAndPortSecurityRequired"


class DeviceIDNotOwnedByTenant(NeutronConflict):
    msg_fmt = "The following device_id {device_id} is not owned by your tenant or matches another tenants server."
    fault_type = "DeviceIDNotOwnedByTenant"


# --- security groups ---------------------------------------------------------------------------------------


class SecurityGroupInUse(NeutronConflict):
    msg_fmt = "Security Group {id} {reason}."
    fault_type = "SecurityGroupInUse"

    def __init__(self, id: str, reason: str = "in use"):
        super().__init__(id=id, reason=reason)


class SecurityGroupCannotRemoveDefault(NeutronConflict):
    msg_fmt = "Insufficient rights for removing default security group."
    fault_type = "SecurityGroupCannotRemoveDefault"


class SecurityGroupCannotUpdateDefault(NeutronConflict):
    msg_fmt = "Updating default security group not allowed."
    fault_type = "SecurityGroupCannotUpdateDefault"


class SecurityGroupRuleExists(NeutronConflict):
    msg_fmt = "Security group rule already exists. Rule id is {rule_id}."
    fault_type = "SecurityGroupRuleExists"


class SecurityGroupRuleInvalid(BadRequest):
    """The family of 400s a rule can earn; ``fault_type`` is set per case (Neutron has one class each)."""

    msg_fmt = "{reason}"

    def __init__(self, fault_type: str, message: str) -> None:
        super().__init__(message)
        self.fault_type = fault_type


# --- external networks, routers and floating IPs -----------------------------------------------------------


class FlatNetworkInUse(NeutronConflict):
    msg_fmt = "Unable to create the flat network. Physical network {physical_network} is in use."
    fault_type = "FlatNetworkInUse"


class BadRouterRequest(BadRequest):
    """neutron-lib's ``BadRequest(resource="router", msg=...)``: the router's own 400."""

    msg_fmt = "Bad router request: {reason}."
    fault_type: ClassVar[str | None] = "BadRequest"


class BadFloatingIPRequest(BadRequest):
    msg_fmt = "Bad floatingip request: {reason}."
    fault_type: ClassVar[str | None] = "BadRequest"


class RouterNotFound(NeutronNotFound):
    msg_fmt = "Router {router_id} could not be found"
    fault_type = "RouterNotFound"


class RouterInUse(NeutronConflict):
    msg_fmt = "Router {router_id} {reason}"
    fault_type = "RouterInUse"

    def __init__(self, router_id: str, reason: str = "still has ports"):
        super().__init__(router_id=router_id, reason=reason)


class RouterInterfaceNotFound(NeutronNotFound):
    msg_fmt = "Router {router_id} does not have an interface with id {port_id}"
    fault_type = "RouterInterfaceNotFound"


class RouterInterfaceNotFoundForSubnet(NeutronNotFound):
    msg_fmt = "Router {router_id} has no interface on subnet {subnet_id}"
    fault_type = "RouterInterfaceNotFoundForSubnet"


class RouterInterfaceInUseByFloatingIP(NeutronConflict):
    msg_fmt = (
        "Router interface for subnet {subnet_id} on router {router_id} cannot be deleted, as it is required by one "
        "or more floating IPs."
    )
    fault_type = "RouterInterfaceInUseByFloatingIP"


class RouterInterfaceInUseByRoute(NeutronConflict):
    msg_fmt = (
        "Router interface for subnet {subnet_id} on router {router_id} cannot be deleted, as it is required by one "
        "or more routes."
    )
    fault_type = "RouterInterfaceInUseByRoute"


class RouterExternalGatewayInUseByFloatingIp(NeutronConflict):
    msg_fmt = (
        "Gateway cannot be updated for router {router_id}, since a gateway to external network {net_id} is "
        "required by one or more floating IPs."
    )
    fault_type = "RouterExternalGatewayInUseByFloatingIp"


class InvalidRoutes(InvalidInput):
    msg_fmt = "Invalid format for routes: {routes}, {reason}"
    fault_type = "InvalidRoutes"


class RoutesExhausted(BadRequest):
    msg_fmt = "Unable to complete operation for {router_id}. The number of routes exceeds the maximum {quota}."
    fault_type = "RoutesExhausted"


class ServicePortInUse(NeutronConflict):
    """A router's or a floating IP's port: it goes with its router interface, gateway or floating IP."""

    msg_fmt = "Port {port_id} cannot be deleted directly via the port API: {reason}."
    fault_type = "ServicePortInUse"


class FloatingIPNotFound(NeutronNotFound):
    msg_fmt = "Floating IP {floatingip_id} could not be found"
    fault_type = "FloatingIPNotFound"


class ExternalGatewayForFloatingIPNotFound(NeutronNotFound):
    msg_fmt = (
        "External network {external_network_id} is not reachable from subnet {subnet_id}.  Therefore, cannot "
        "associate Port {port_id} with a Floating IP."
    )
    fault_type = "ExternalGatewayForFloatingIPNotFound"


class FloatingIPPortAlreadyAssociated(NeutronConflict):
    msg_fmt = (
        "Cannot associate floating IP {floating_ip_address} ({fip_id}) with port {port_id} using fixed IP "
        "{fixed_ip}, as that fixed IP already has a floating IP on external network {net_id}."
    )
    fault_type = "FloatingIPPortAlreadyAssociated"


# --- agents ------------------------------------------------------------------------------------------------


class AgentNotFound(NeutronNotFound):
    msg_fmt = "Agent {id} could not be found."
    fault_type = "AgentNotFound"


class AgentAlive(NeutronConflict):
    msg_fmt = "Agent {id} is alive: only a dead agent (its host silent) can be deleted."
    fault_type = "AgentAlive"


# --- QoS ---------------------------------------------------------------------------------------------------


class QosPolicyNotFound(NeutronNotFound):
    msg_fmt = "QoS policy {policy_id} could not be found."
    fault_type = "QosPolicyNotFound"


class QosRuleNotFound(NeutronNotFound):
    msg_fmt = "QoS rule {rule_id} for policy {policy_id} could not be found."
    fault_type = "QosRuleNotFound"


class QosRuleTypeNotFound(NeutronNotFound):
    msg_fmt = "QoS rule type {rule_type} could not be found."
    fault_type = "NotFound"


class QosPolicyInUse(NeutronConflict):
    msg_fmt = "QoS Policy {policy_id} is used by {object_type} {object_id}."
    fault_type = "QosPolicyInUse"


class QoSPolicyDefaultAlreadyExists(NeutronConflict):
    msg_fmt = "A default QoS policy exists for project {project_id}."
    fault_type = "QoSPolicyDefaultAlreadyExists"


class QoSRulesConflict(NeutronConflict):
    msg_fmt = "Rule {new_rule_type} conflicts with rule {rule_id} which already exists in QoS Policy {policy_id}."
    fault_type = "QoSRulesConflict"


class PolicyRemoveAuthorizationError(Forbidden):
    msg_fmt = "Failed to remove provided policy {policy_id} because you are not authorized."
    fault_type: ClassVar[str] = "PolicyRemoveAuthorizationError"
