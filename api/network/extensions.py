"""``/network/v2.0/extensions``: exactly the Neutron extensions this API implements, and the v2.0 root.

Clients decide what to send by these aliases (the ``openstack`` CLI asks for some before it acts), so an
alias is listed only when its attributes and behaviour are served. Names, descriptions and dates are
neutron-lib's.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.network.common import PREFIX, enforce
from api.urls import public_url
from network.exceptions import ExtensionNotFound

bp = Blueprint("network_extensions", __name__, url_prefix=PREFIX)

EXTENSIONS = (
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks",
     "2012-09-07T10:00:00-00:00"),
    ("external-net", "Neutron external network", "Adds external network attribute to network resource.",
     "2013-01-14T10:00:00-00:00"),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application",
     "2014-02-03T10:00:00-00:00"),
    ("security-group", "security-group", "The security groups extension.", "2012-10-05T10:00:00-00:00"),
    ("stateful-security-group", "Stateful security group", "Indicates if the security group is stateful or not",
     "2019-11-26T09:00:00-00:00"),
    ("port-security", "Port Security", "Provides port security", "2012-07-23T10:00:00-00:00"),
    ("port-security-groups-filtering", "Port filtering on security groups",
     "Provides security groups filtering when listing ports", "2018-01-09T09:09:09-09:00"),
    ("extra_dhcp_opt", "Neutron Extra DHCP options",
     "Extra options configuration for DHCP. For example PXE boot options to DHCP clients can be specified (e.g. "
     "tftp-server, server-ip-address, bootfile-name)", "2013-03-17T12:00:00-00:00"),
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs", "2013-07-23T10:00:00-00:00"),
    ("network-mtu", "Network MTU", "Provides MTU attribute for a network resource.", "2015-03-25T10:00:00-00:00"),
    ("network-mtu-writable", "Network MTU (writable)", "Provides a writable MTU attribute for a network resource.",
     "2017-07-12T00:00:00-00:00"),
    ("standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes",
     "2016-02-10T10:00:00-00:00"),
    ("standard-attr-revisions", "Resource revision numbers",
     "This extension will display the revision number of neutron resources.", "2016-04-11T10:00:00-00:00"),
    ("standard-attr-timestamp", "Resource timestamps",
     "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
     "2016-09-12T10:00:00-00:00"),
    ("standard-attr-tag", "Tag support for resources with standard attribute",
     "Enables to set tag on resources with standard attribute.", "2017-01-01T00:00:00-00:00"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled.",
     "2016-09-09T09:09:09-09:00"),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled.",
     "2016-06-12T00:00:00-00:00"),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled.", "2016-06-12T00:00:00-00:00"),
    ("filter-validation", "Filter parameters validation", "Provides validation on filter parameters.",
     "2018-03-21T10:00:00-00:00"),
    ("router", "Neutron L3 Router",
     "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via "
     "a NAT gateway.", "2012-07-20T10:00:00-00:00"),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode",
     "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway",
     "2013-03-28T10:00:00-00:00"),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router",
     "2013-02-01T10:00:00-00:00"),
    ("extraroute-atomic", "Atomically add/remove extra routes",
     "Edit extra routes of a router on server side by atomically adding/removing extra routes",
     "2019-07-10T10:00:00-00:00"),
    ("fip-port-details", "Floating IP Port Details Extension",
     "Add port_details attribute to Floating IP resource", "2018-04-09T10:00:00-00:00"),
    ("subnet-external-network", "Subnet belongs to an external network",
     "Informs if the subnet belongs to an external network", "2024-02-05T18:00:00-00:00"),
    ("subnet_allocation", "Subnet Allocation", "Enables allocation of subnets from a subnet pool",
     "2015-03-30T10:00:00-00:00"),
    ("default-subnetpools", "Default Subnetpools", "Provides ability to mark and use a subnetpool as the default.",
     "2016-02-18T18:00:00-00:00"),
    ("rbac-policies", "RBAC Policies", "Allows creation and modification of policies that control tenant access to "
     "resources.", "2015-06-17T12:15:12-00:00"),
    ("service-type", "Neutron Service Type Management",
     "API for retrieving service providers for Neutron advanced services", "2013-01-20T00:00:00-00:00"),
    ("availability_zone", "Availability Zone", "The availability zone extension.", "2015-01-01T10:00:00-00:00"),
    ("agent", "agent", "The agent management extension.", "2013-02-03T10:00:00-00:00"),
    ("quotas", "Quota management support", "Expose functions for quotas management per project",
     "2012-07-29T10:00:00-00:00"),
    ("quota_details", "Quota details management support", "Expose functions for quotas usage statistics per project",
     "2017-02-10T10:00:00-00:00"),
    ("quota-check-limit", "Quota engine limit check",
     "Support for checking the resource usage before applying a new quota limit", "2023-05-17T10:00:00-00:00"),
    ("qos", "Quality of Service", "The Quality of Service extension.", "2015-06-08T10:00:00-00:00"),
    ("qos-bw-limit-direction", "Direction for QoS bandwidth limit rule",
     "Allow to configure QoS bandwidth limit rule with specific direction: ingress or egress",
     "2017-04-10T10:00:00-00:00"),
    ("qos-default", "QoS default policy", "Expose the QoS default policy per project",
     "2017-041-06T10:00:00-00:00"),
    ("qos-rules-alias", "Quality of Service rules alias API",
     "API to enable GET, PUT and DELETE operations on QoS policy rules without specifying policy ID",
     "2018-10-07T10:00:00-00:00"),
    ("qos-rule-type-details", "Details of QoS rule types",
     "Expose details about QoS rule types supported by loaded backend drivers", "2017-06-22T10:00:00-00:00"),
)  # fmt: skip
ROOT_RESOURCES = (
    ("network", "networks"),
    ("subnet", "subnets"),
    ("port", "ports"),
    ("router", "routers"),
    ("floatingip", "floatingips"),
    ("security_group", "security-groups"),
    ("security_group_rule", "security-group-rules"),
    ("quota", "quotas"),
    ("subnetpool", "subnetpools"),
    ("rbac_policy", "rbac-policies"),
    ("service_provider", "service-providers"),
    ("availability_zone", "availability_zones"),
    ("policy", "qos/policies"),
    ("rule_type", "qos/rule-types"),
)


def _view(alias: str, name: str, description: str, updated: str) -> dict[str, object]:
    return {"name": name, "alias": alias, "description": description, "updated": updated, "links": []}


@bp.get("/extensions")
def list_extensions() -> Response:
    enforce("network:get_extensions")
    return jsonify({"extensions": [_view(*extension) for extension in EXTENSIONS]})


@bp.get("/extensions/<alias>")
def show_extension(alias: str) -> Response:
    enforce("network:get_extensions")
    for extension in EXTENSIONS:
        if extension[0] == alias:
            return jsonify({"extension": _view(*extension)})
    raise ExtensionNotFound(alias=alias)


@bp.get("")
@bp.get("/")
def resources() -> Response:
    """Neutron's v2.0 root: the collections it serves, with links."""
    enforce("network:get_extensions")
    base = f"{public_url()}{PREFIX}"
    found = [
        {"name": name, "collection": collection, "links": [{"rel": "self", "href": f"{base}/{collection}"}]}
        for name, collection in ROOT_RESOURCES
    ]
    return jsonify({"resources": found})
