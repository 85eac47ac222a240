"""Who may do what: one table, one rule per API operation, checked by ``enforce`` in every handler.

Rules are small predicates over the caller (``RequestContext``) and the target (a dict describing the
resource: ``project_id``, ``user_id``, ``domain_id`` ...), combined with ``|`` and ``&``. The defaults
follow OpenStack's: ``admin`` administers everything, ``member`` acts within its project, ``reader`` may
only read within its project, and users may see and change a few things of their own.

Which roles are cloud-wide
--------------------------
Only ``admin`` (``CLOUD_WIDE_ROLES``). As with Keystone's ``admin`` and Nova's and Neutron's defaults, the admin
role on *any* project (or domain) makes its tokens administer the whole cloud: every project's servers,
networks, images and quotas, users and role assignments, hosts. It is not an owner-of-this-project role; give
it only to operators. ``member`` and ``reader`` never reach beyond the project of the token (rules marked
``in project``; the ``SCOPED_*`` rules only let a query run, and the query shows the token's project alone).
Only an admin can grant a role, so nobody makes themselves one. Rules that name no role (``AUTHENTICATED``) only
read what every user may know, or act on the caller's own things; those that write need a project-scoped
token (``PROJECT_SCOPED``), whose project is the one its quotas are counted in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from api.context import CLOUD_WIDE_ROLES as CLOUD_WIDE_ROLES  # re-exported: the policy documents it
from api.context import MEMBER_ROLE, READER_ROLE, RequestContext, current
from common.accounts import HOST_ROLE
from common.exceptions import Forbidden, Unauthorized

Target = Mapping[str, Any]


@dataclass(frozen=True)
class Rule:
    check: Callable[[RequestContext, Target], bool]
    description: str

    def __call__(self, ctx: RequestContext, target: Target) -> bool:
        return self.check(ctx, target)

    def __or__(self, other: Rule) -> Rule:
        return Rule(lambda c, t: self(c, t) or other(c, t), f"{self.description} or {other.description}")

    def __and__(self, other: Rule) -> Rule:
        return Rule(lambda c, t: self(c, t) and other(c, t), f"{self.description} and {other.description}")


PUBLIC = Rule(lambda c, t: True, "anyone")
AUTHENTICATED = Rule(lambda c, t: c.authenticated, "any valid token")
ADMIN = Rule(lambda c, t: c.is_admin, "role:admin (cloud-wide)")
PROJECT_SCOPED = Rule(lambda c, t: c.authenticated and c.project_id is not None, "a project-scoped token")


def _in_project(ctx: RequestContext, target: Target) -> bool:
    return ctx.project_id is not None and ctx.project_id == target.get("project_id")


IN_PROJECT = Rule(_in_project, "project_id:%(target.project_id)s")
PROJECT_READER = Rule(lambda c, t: _in_project(c, t) and c.has_role(READER_ROLE), "role:reader in project")
PROJECT_MEMBER = Rule(lambda c, t: _in_project(c, t) and c.has_role(MEMBER_ROLE), "role:member in project")
OWNER = Rule(lambda c, t: c.user_id is not None and c.user_id == t.get("user_id"), "user_id:%(target.user_id)s")
TRUSTOR = Rule(
    lambda c, t: c.user_id is not None and c.user_id == t.get("trustor_user_id"),
    "user_id:%(target.trust.trustor_user_id)s",
)
TRUSTEE = Rule(
    lambda c, t: c.user_id is not None and c.user_id == t.get("trustee_user_id"),
    "user_id:%(target.trust.trustee_user_id)s",
)
SCOPED_READER = Rule(lambda c, t: c.project_id is not None and c.has_role(READER_ROLE), "role:reader in a project")
SCOPED_MEMBER = Rule(lambda c, t: c.project_id is not None and c.has_role(MEMBER_ROLE), "role:member in a project")
# The service account of compute hosts (common.accounts). It reads the images a host is building from: which images
# it sees at all is api.image.access.needed_by_host, which shows a tenant's image only on a request signed as the
# host building from it (``ctx.host``, see common.hostauth); unsigned, it sees what any member of its project sees.
# It uploads the data of a snapshot only on a request signed as the host taking it.
HOST = Rule(lambda c, t: c.has_role(HOST_ROLE), "role:host")
HOST_SNAPSHOT = Rule(
    lambda c, t: c.has_role(HOST_ROLE) and c.host is not None and t.get("snapshot_host") == c.host,
    "role:host on a snapshot its host is taking",
)
# Keystone's secure RBAC: a system-scoped token with ``reader`` (or ``member``/``admin``, which imply it) reads the
# identity resources of every domain and project, and changes none of them; a system ``admin`` is ``ADMIN`` anyway.
SYSTEM_READER = Rule(lambda c, t: c.is_system_reader, "role:reader and system_scope:all")
IN_DOMAIN = Rule(
    lambda c, t: t.get("domain_id") is not None and t.get("domain_id") in (c.domain_id, c.project_domain_id),
    "domain_id:%(target.domain_id)s",
)

RULES: dict[str, Rule] = {
    # Identity: tokens
    "identity:issue_token": PUBLIC,
    "identity:validate_token": ADMIN | SYSTEM_READER | OWNER,
    "identity:revoke_token": ADMIN | OWNER,
    "identity:get_auth_catalog": AUTHENTICATED,
    "identity:get_auth_projects": AUTHENTICATED,
    "identity:get_auth_domains": AUTHENTICATED,
    "identity:get_auth_system": AUTHENTICATED,
    # Identity: domains
    "identity:list_domains": ADMIN | SYSTEM_READER,
    "identity:get_domain": ADMIN | SYSTEM_READER | IN_DOMAIN,
    "identity:create_domain": ADMIN,
    "identity:update_domain": ADMIN,
    "identity:delete_domain": ADMIN,
    # Identity: projects
    "identity:list_projects": ADMIN | SYSTEM_READER,
    "identity:get_project": ADMIN | SYSTEM_READER | IN_PROJECT,
    "identity:create_project": ADMIN,
    "identity:update_project": ADMIN,
    "identity:delete_project": ADMIN,
    "identity:list_user_projects": ADMIN | SYSTEM_READER | OWNER,
    "identity:list_project_tags": ADMIN | IN_PROJECT,
    "identity:get_project_tag": ADMIN | IN_PROJECT,
    "identity:update_project_tags": ADMIN,
    "identity:create_project_tag": ADMIN,
    "identity:delete_project_tag": ADMIN,
    "identity:delete_project_tags": ADMIN,
    "identity:get_domain_config_default": ADMIN,
    "identity:get_domain_config": ADMIN,
    "identity:create_domain_config": ADMIN,
    "identity:update_domain_config": ADMIN,
    "identity:delete_domain_config": ADMIN,
    "identity:list_policies": ADMIN | SYSTEM_READER,
    "identity:get_policy": ADMIN | SYSTEM_READER,
    "identity:create_policy": ADMIN,
    "identity:update_policy": ADMIN,
    "identity:delete_policy": ADMIN,
    "identity:list_endpoint_groups": ADMIN | SYSTEM_READER,
    "identity:get_endpoint_group": ADMIN | SYSTEM_READER,
    "identity:list_endpoints_associated_with_endpoint_group": ADMIN | SYSTEM_READER,
    "identity:list_projects_associated_with_endpoint_group": ADMIN | SYSTEM_READER,
    "identity:get_endpoint_group_in_project": ADMIN | SYSTEM_READER,
    "identity:list_endpoint_groups_for_project": ADMIN | SYSTEM_READER,
    "identity:list_endpoints_for_project": ADMIN | SYSTEM_READER,
    "identity:check_endpoint_in_project": ADMIN | SYSTEM_READER,
    "identity:list_projects_for_endpoint": ADMIN | SYSTEM_READER,
    "identity:create_endpoint_group": ADMIN,
    "identity:update_endpoint_group": ADMIN,
    "identity:delete_endpoint_group": ADMIN,
    "identity:add_endpoint_group_to_project": ADMIN,
    "identity:remove_endpoint_group_from_project": ADMIN,
    "identity:add_endpoint_to_project": ADMIN,
    "identity:remove_endpoint_from_project": ADMIN,
    # Identity: users
    "identity:list_users": ADMIN | SYSTEM_READER,
    "identity:get_user": ADMIN | SYSTEM_READER | OWNER,
    "identity:create_user": ADMIN,
    "identity:update_user": ADMIN,
    "identity:delete_user": ADMIN,
    # Keystone does not enforce a policy on a password change: the original password authenticates the request
    # (an admin, or anyone, who knows it may change it; a user whose password expired has no token to show).
    "identity:change_password": PUBLIC,
    # Identity: application credentials and access rules. Only the user makes their own, on the project of their
    # token (its roles are what a credential may carry); admins may look at and delete anyone's (Keystone's).
    "identity:create_application_credential": OWNER & PROJECT_SCOPED,
    "identity:get_application_credential": ADMIN | OWNER,
    "identity:list_application_credentials": ADMIN | OWNER,
    "identity:delete_application_credential": ADMIN | OWNER,
    "identity:get_access_rule": ADMIN | OWNER,
    "identity:list_access_rules": ADMIN | OWNER,
    "identity:delete_access_rule": ADMIN | OWNER,
    # Identity: trusts (OS-TRUST, Keystone's defaults). The trustor makes a trust with their own token; the trustor and
    # the trustee see it; the trustor or an admin deletes it; every trust is listed by admins and system readers only.
    "identity:create_trust": TRUSTOR,
    "identity:list_trusts": ADMIN | SYSTEM_READER,
    "identity:list_trusts_for_trustor": ADMIN | SYSTEM_READER | TRUSTOR,
    "identity:list_trusts_for_trustee": ADMIN | SYSTEM_READER | TRUSTEE,
    "identity:get_trust": ADMIN | SYSTEM_READER | TRUSTOR | TRUSTEE,
    "identity:list_roles_for_trust": ADMIN | SYSTEM_READER | TRUSTOR | TRUSTEE,
    "identity:get_role_for_trust": ADMIN | SYSTEM_READER | TRUSTOR | TRUSTEE,
    "identity:delete_trust": ADMIN | TRUSTOR,
    # Identity: credentials (Keystone's defaults: a user keeps their own, admins all). ``user_id`` is the owner: the
    # credential's, the body's on create, both the old and the new owner on update; the path's for OS-EC2.
    "identity:list_credentials": AUTHENTICATED,
    "identity:list_credentials:all_users": ADMIN,
    "identity:get_credential": ADMIN | OWNER,
    "identity:create_credential": ADMIN | OWNER,
    "identity:update_credential": ADMIN | OWNER,
    "identity:delete_credential": ADMIN | OWNER,
    "identity:ec2_list_credentials": ADMIN | OWNER,
    "identity:ec2_get_credential": ADMIN | OWNER,
    "identity:ec2_create_credential": ADMIN | OWNER,
    "identity:ec2_delete_credential": ADMIN | OWNER,
    # Identity: roles and assignments
    "identity:list_roles": ADMIN | SYSTEM_READER,
    "identity:get_role": ADMIN | SYSTEM_READER,
    "identity:create_role": ADMIN,
    "identity:update_role": ADMIN,
    "identity:delete_role": ADMIN,
    # Role inference rules (Keystone's implied roles): admins write them; a system reader may look.
    "identity:list_implied_roles": ADMIN | SYSTEM_READER,
    "identity:get_implied_role": ADMIN | SYSTEM_READER,
    "identity:check_implied_role": ADMIN | SYSTEM_READER,
    "identity:list_role_inference_rules": ADMIN | SYSTEM_READER,
    "identity:create_implied_role": ADMIN,
    "identity:delete_implied_role": ADMIN,
    "identity:list_grants": ADMIN | SYSTEM_READER | OWNER,
    "identity:check_grant": ADMIN | SYSTEM_READER | OWNER,
    "identity:create_grant": ADMIN,
    "identity:revoke_grant": ADMIN,
    "identity:list_role_assignments": ADMIN | SYSTEM_READER,
    # Grants on the system (Keystone's ``identity:*_system_grant_for_{user,group}``): admins grant and revoke; a
    # system reader, and a user for their own, may look.
    "identity:list_system_grants_for_user": ADMIN | SYSTEM_READER | OWNER,
    "identity:check_system_grant_for_user": ADMIN | SYSTEM_READER | OWNER,
    "identity:create_system_grant_for_user": ADMIN,
    "identity:revoke_system_grant_for_user": ADMIN,
    "identity:list_system_grants_for_group": ADMIN | SYSTEM_READER,
    "identity:check_system_grant_for_group": ADMIN | SYSTEM_READER,
    "identity:create_system_grant_for_group": ADMIN,
    "identity:revoke_system_grant_for_group": ADMIN,
    # Identity: OS-OAUTH1 consumers (applications users may delegate roles to): admins manage them.
    "identity:list_consumers": ADMIN | SYSTEM_READER,
    "identity:get_consumer": ADMIN | SYSTEM_READER,
    "identity:create_consumer": ADMIN,
    "identity:update_consumer": ADMIN,
    "identity:delete_consumer": ADMIN,
    # Identity: groups (Keystone's defaults: admins manage groups; a user may list the groups they are in).
    # Grants to a group use the grant rules above, with a target naming no user (so only admins pass).
    "identity:list_groups": ADMIN | SYSTEM_READER,
    "identity:get_group": ADMIN | SYSTEM_READER,
    "identity:create_group": ADMIN,
    "identity:update_group": ADMIN,
    "identity:delete_group": ADMIN,
    "identity:list_users_in_group": ADMIN | SYSTEM_READER,
    "identity:list_groups_for_user": ADMIN | SYSTEM_READER | OWNER,
    "identity:add_user_to_group": ADMIN,
    "identity:check_user_in_group": ADMIN | SYSTEM_READER,
    "identity:remove_user_from_group": ADMIN,
    # Identity: the service catalog as resources
    "identity:list_services": ADMIN | AUTHENTICATED,
    "identity:get_service": ADMIN | AUTHENTICATED,
    "identity:list_endpoints": ADMIN | AUTHENTICATED,
    "identity:get_endpoint": ADMIN | AUTHENTICATED,
    "identity:list_regions": AUTHENTICATED,
    "identity:get_region": AUTHENTICATED,
    "identity:create_region": ADMIN,
    "identity:update_region": ADMIN,
    "identity:delete_region": ADMIN,
    "identity:create_service": ADMIN,
    "identity:update_service": ADMIN,
    "identity:delete_service": ADMIN,
    "identity:create_endpoint": ADMIN,
    "identity:update_endpoint": ADMIN,
    "identity:delete_endpoint": ADMIN,
    # Identity: unified limits (the defaults are public knowledge; a project's limits are its own business)
    "identity:get_registered_limit": AUTHENTICATED,
    "identity:update_registered_limit": ADMIN,
    "identity:get_limit_model": AUTHENTICATED,
    "identity:list_limits": AUTHENTICATED,
    "identity:list_limits:all_projects": ADMIN,
    "identity:create_limit": ADMIN,
    "identity:update_limit": ADMIN,
    "identity:delete_limit": ADMIN,
    # Image (Glance v2). Visibility is checked by the query (an invisible image is 404); these rules say
    # who may act on what they can see. ``project_id`` is the image's owner, ``member_id`` a member project.
    "image:get_images": ADMIN | SCOPED_READER,
    "image:get_image": ADMIN | SCOPED_READER,
    "image:add_image": ADMIN | PROJECT_MEMBER,
    "image:modify_image": ADMIN | PROJECT_MEMBER,
    "image:delete_image": ADMIN | PROJECT_MEMBER,
    "image:upload_image": ADMIN | PROJECT_MEMBER | HOST_SNAPSHOT,
    "image:import_image": ADMIN | PROJECT_MEMBER,
    "image:download_image": ADMIN | SCOPED_READER | HOST,
    "image:publicize_image": ADMIN,
    "image:communitize_image": ADMIN | PROJECT_MEMBER,
    "image:set_owner": ADMIN,
    "image:deactivate": ADMIN | PROJECT_MEMBER,
    "image:reactivate": ADMIN | PROJECT_MEMBER,
    "image:get_members": ADMIN | SCOPED_READER,
    "image:add_member": ADMIN | PROJECT_MEMBER,
    "image:delete_member": ADMIN | PROJECT_MEMBER,
    "image:modify_member": ADMIN
    | Rule(
        lambda c, t: c.has_role(MEMBER_ROLE) and c.project_id is not None and c.project_id == t.get("member_id"),
        "role:member and project_id:%(target.member_id)s",
    ),
    "image:get_schemas": AUTHENTICATED,
    "image:get_usage": ADMIN | PROJECT_READER,
    # Glance's tasks API (/v2/tasks, deprecated there in favour of image import) is admin-only by default
    # (tasks_api_access): a task makes the image service fetch from the web on the caller's behalf.
    "image:tasks_api_access": ADMIN,
    # Image metadata definitions (Glance metadefs). Glance's defaults since Xena: anyone in a project reads (the query
    # shows admins every namespace, others the public ones and their project's own; an unseen one is 404), only an
    # admin writes ("metadef_admin"): the catalogue is cloud-wide, names are global, and nothing counts a project's
    # share of it, so a project could otherwise squat names or fill the table (OSSN-0090).
    **dict.fromkeys(
        (
            "image:get_metadef_namespace",
            "image:get_metadef_namespaces",
            "image:get_metadef_object",
            "image:get_metadef_objects",
            "image:get_metadef_property",
            "image:get_metadef_properties",
            "image:get_metadef_tag",
            "image:get_metadef_tags",
            "image:list_metadef_resource_types",
            "image:get_metadef_resource_type",
        ),
        ADMIN | SCOPED_READER,
    ),
    **dict.fromkeys(
        (
            "image:add_metadef_namespace",
            "image:modify_metadef_namespace",
            "image:delete_metadef_namespace",
            "image:add_metadef_object",
            "image:modify_metadef_object",
            "image:delete_metadef_object",
            "image:add_metadef_property",
            "image:modify_metadef_property",
            "image:remove_metadef_property",
            "image:add_metadef_tag",
            "image:add_metadef_tags",
            "image:modify_metadef_tag",
            "image:delete_metadef_tag",
            "image:delete_metadef_tags",
            "image:add_metadef_resource_type_association",
            "image:remove_metadef_resource_type_association",
        ),
        ADMIN,
    ),
    # Compute (Nova v2.1). Servers of other projects are invisible (404) unless the caller is an admin.
    "compute:servers:index": ADMIN | SCOPED_READER,
    "compute:servers:index:all_tenants": ADMIN,
    "compute:servers:show": ADMIN | SCOPED_READER,
    "compute:servers:create": ADMIN | PROJECT_MEMBER,
    "compute:servers:create:forced_host": ADMIN,
    "compute:servers:update": ADMIN | PROJECT_MEMBER,
    "compute:servers:delete": ADMIN | PROJECT_MEMBER,
    "compute:servers:action": ADMIN | PROJECT_MEMBER,
    "compute:servers:shelve_offload": ADMIN,  # Nova's os_compute_api:os-shelve:shelve_offload
    "compute:servers:migrate_live": ADMIN,  # Nova's os_compute_api:os-migrate-server:migrate_live
    # Moves as Nova lists them (os_compute_api:os-migrations:index, os_compute_api:servers:migrations:*): admins.
    "compute:migrations:index": ADMIN,
    "compute:servers:migrations:index": ADMIN,
    "compute:servers:migrations:show": ADMIN,
    "compute:servers:migrations:delete": ADMIN,
    "compute:servers:migrations:force_complete": ADMIN,
    "compute:servers:migrate": ADMIN,  # Nova's os_compute_api:os-migrate-server:migrate
    "compute:servers:evacuate": ADMIN,  # Nova's os_compute_api:os-evacuate
    "compute:servers:metadata:read": ADMIN | SCOPED_READER,
    "compute:servers:metadata:write": ADMIN | PROJECT_MEMBER,
    "compute:servers:console_output": ADMIN | PROJECT_MEMBER,
    "compute:servers:remote_consoles": ADMIN | PROJECT_MEMBER,
    "compute:instance_actions": ADMIN | SCOPED_READER,
    # An event's traceback and a 5xx fault's details are the error as a host raised it: admins only (Nova).
    "compute:instance_actions:events:traceback": ADMIN,
    "compute:servers:fault_details": ADMIN,
    "compute:flavors:read": AUTHENTICATED,
    "compute:flavors:manage": ADMIN,
    # Key pairs are the user's, but counted against the key_pairs quota of the token's project (Nova's rule).
    "compute:keypairs": PROJECT_SCOPED,
    "compute:keypairs:other_user": ADMIN,
    "compute:server_groups:read": ADMIN | SCOPED_READER,
    "compute:server_groups:write": ADMIN | SCOPED_MEMBER,
    "compute:availability_zones:list": AUTHENTICATED,
    "compute:availability_zones:detail": ADMIN,
    "compute:hypervisors": ADMIN,
    "compute:services": ADMIN,
    "compute:limits": AUTHENTICATED,
    "compute:limits:other_project": ADMIN,
    # Quotas: readers see their own project's limits and usage, only admins another's; only admins change them.
    "compute:quota_sets:show": ADMIN | PROJECT_READER,
    "compute:quota_sets:update": ADMIN,
    "compute:quota_sets:delete": ADMIN,
    "compute:quota_sets:defaults": AUTHENTICATED,
    "compute:quota_class_sets:show": ADMIN,
    "compute:quota_class_sets:update": ADMIN,
    "compute:aggregates:index": ADMIN,
    # Server tags (2.26), interfaces (os-interface), diagnostics and usage (os-simple-tenant-usage). A project reads
    # its own usage; only admins read every project's, or a server's diagnostics (host details).
    "compute:server_tags:read": ADMIN | SCOPED_READER,
    "compute:server_tags:write": ADMIN | PROJECT_MEMBER,
    "compute:server_interfaces:read": ADMIN | SCOPED_READER,
    "compute:server_interfaces:write": ADMIN | PROJECT_MEMBER,
    "compute:server_diagnostics": ADMIN,
    "compute:usage:list": ADMIN,
    "compute:usage:show": ADMIN | PROJECT_READER,
    # Network (Neutron v2.0). What a caller may not see is a 404 before any rule is asked (network.access):
    # networks of their project, shared and external ones; ports and security groups of their project.
    # ``project_id`` is the resource's project; for subnets and owner-only port fields, the network's.
    "network:get_network": ADMIN | SCOPED_READER,
    "network:create_network": ADMIN | PROJECT_MEMBER,
    "network:update_network": ADMIN | PROJECT_MEMBER,
    "network:delete_network": ADMIN | PROJECT_MEMBER,
    # Agents: admins only; others list none and find none (Neutron's 404), as in Neutron.
    "network:get_agent": ADMIN,
    "network:update_agent": ADMIN,
    "network:delete_agent": ADMIN,
    "network:network:shared": ADMIN,
    "network:network:router:external": ADMIN,
    "network:network:provider": ADMIN,
    "network:get_subnet": ADMIN | SCOPED_READER,
    "network:create_subnet": ADMIN | PROJECT_MEMBER,
    "network:update_subnet": ADMIN | PROJECT_MEMBER,
    "network:delete_subnet": ADMIN | PROJECT_MEMBER,
    "network:get_subnetpool": ADMIN | SCOPED_READER,
    "network:create_subnetpool": ADMIN | PROJECT_MEMBER,
    "network:update_subnetpool": ADMIN | PROJECT_MEMBER,
    "network:delete_subnetpool": ADMIN | PROJECT_MEMBER,
    # Neutron's ``create_subnetpool:shared`` and ``create_subnetpool:is_default``: cloud-wide address space.
    "network:subnetpool:shared": ADMIN,
    "network:subnetpool:is_default": ADMIN,
    # RBAC policies: owners share their networks with a project; with every project ('*') and as external
    # networks only admins (Neutron's ``create_rbac_policy:target_tenant`` and router:external rules).
    "network:get_rbac_policy": ADMIN | SCOPED_READER,
    "network:create_rbac_policy": ADMIN | PROJECT_MEMBER,
    "network:update_rbac_policy": ADMIN | PROJECT_MEMBER,
    "network:delete_rbac_policy": ADMIN | PROJECT_MEMBER,
    "network:rbac_policy:target_tenant:*": ADMIN,
    "network:rbac_policy:access_as_external": ADMIN,
    "network:get_service_provider": AUTHENTICATED,
    # QoS (Neutron's defaults): policies and their rules are the cloud's to make; anyone reads their project's and
    # shared ones (another project's is a 404, network.qos); the rule types (backend details) are for admins.
    "network:get_policy": ADMIN | SCOPED_READER,
    "network:create_policy": ADMIN,
    "network:update_policy": ADMIN,
    "network:delete_policy": ADMIN,
    "network:get_rule_type": ADMIN,
    "network:get_policy_bandwidth_limit_rule": ADMIN | SCOPED_READER,
    "network:create_policy_bandwidth_limit_rule": ADMIN,
    "network:update_policy_bandwidth_limit_rule": ADMIN,
    "network:delete_policy_bandwidth_limit_rule": ADMIN,
    "network:get_availability_zone": AUTHENTICATED,
    "network:get_port": ADMIN | SCOPED_READER,
    "network:create_port": ADMIN | PROJECT_MEMBER,
    "network:update_port": ADMIN | PROJECT_MEMBER,
    "network:delete_port": ADMIN | PROJECT_MEMBER,
    "network:port:network_owner_fields": ADMIN | PROJECT_MEMBER,
    # Turning anti-spoofing off, or widening it with address pairs, is the network owner's call (Neutron's
    # ``create_port:port_security_enabled`` and ``create_port:allowed_address_pairs``): not a shared network's user.
    "network:port:port_security_enabled": ADMIN | PROJECT_MEMBER,
    "network:port:allowed_address_pairs": ADMIN | PROJECT_MEMBER,
    "network:port:binding": ADMIN,
    "network:get_security_group": ADMIN | SCOPED_READER,
    "network:create_security_group": ADMIN | PROJECT_MEMBER,
    "network:update_security_group": ADMIN | PROJECT_MEMBER,
    "network:delete_security_group": ADMIN | PROJECT_MEMBER,
    "network:get_security_group_rule": ADMIN | SCOPED_READER,
    "network:create_security_group_rule": ADMIN | PROJECT_MEMBER,
    "network:delete_security_group_rule": ADMIN | PROJECT_MEMBER,
    "network:get_router": ADMIN | SCOPED_READER,
    "network:create_router": ADMIN | PROJECT_MEMBER,
    "network:update_router": ADMIN | PROJECT_MEMBER,
    "network:delete_router": ADMIN | PROJECT_MEMBER,
    "network:add_router_interface": ADMIN | PROJECT_MEMBER,
    "network:remove_router_interface": ADMIN | PROJECT_MEMBER,
    # Neutron's ``create_router:external_gateway_info:enable_snat`` and ``:external_fixed_ips``: the external
    # network's addresses and whether a router hides its subnets behind one are the cloud's to decide.
    "network:router:external_gateway_info:enable_snat": ADMIN,
    "network:router:external_gateway_info:external_fixed_ips": ADMIN,
    "network:get_floatingip": ADMIN | SCOPED_READER,
    "network:create_floatingip": ADMIN | PROJECT_MEMBER,
    "network:update_floatingip": ADMIN | PROJECT_MEMBER,
    "network:delete_floatingip": ADMIN | PROJECT_MEMBER,
    "network:floatingip:floating_ip_address": ADMIN,
    "network:get_extensions": AUTHENTICATED,
    "network:get_quotas": ADMIN,
    "network:get_quota": ADMIN | PROJECT_READER,
    "network:get_quota_default": AUTHENTICATED,
    "network:update_quota": ADMIN,
    "network:delete_quota": ADMIN,
    # Block Storage (Cinder v3). Other projects' volumes, snapshots and attachments are invisible (404) unless the
    # caller is an admin; ``project_id`` is the record's project.
    "volume:get": ADMIN | SCOPED_READER,
    "volume:get_all:all_tenants": ADMIN,
    "volume:create": ADMIN | PROJECT_MEMBER,
    "volume:update": ADMIN | PROJECT_MEMBER,
    "volume:delete": ADMIN | PROJECT_MEMBER,
    "volume:force_delete": ADMIN,
    "volume:action": ADMIN | PROJECT_MEMBER,
    "volume:reset_status": ADMIN,
    "volume:upload_public_image": ADMIN,
    "volume:attachments:read": ADMIN | SCOPED_READER,
    "volume:attachments:write": ADMIN | PROJECT_MEMBER,
    # Backups: their owners' (other projects' are 404); the project and user of a backup shown to admins only
    # (Cinder's ``backup:backup_project_attribute``); reset and force delete for admins.
    "volume:backups:read": ADMIN | SCOPED_READER,
    "volume:backups:create": ADMIN | PROJECT_MEMBER,
    "volume:backups:update": ADMIN | PROJECT_MEMBER,
    "volume:backups:delete": ADMIN | PROJECT_MEMBER,
    "volume:backups:restore": ADMIN | PROJECT_MEMBER,
    "volume:backups:project_attribute": ADMIN,
    "volume:backups:reset_status": ADMIN,
    "volume:backups:force_delete": ADMIN,
    "volume:types:read": AUTHENTICATED,
    "volume:types:manage": ADMIN,
    "volume:quota_sets:show": ADMIN | PROJECT_READER,
    "volume:quota_sets:update": ADMIN,
    "volume:quota_sets:delete": ADMIN,
    "volume:quota_sets:defaults": AUTHENTICATED,
    "volume:limits": AUTHENTICATED,
    "volume:limits:other_project": ADMIN,
    "volume:availability_zones": AUTHENTICATED,
    "volume:services": ADMIN,
    # Placement (read only): admin, as Placement's defaults are
    "placement:resource_providers:list": ADMIN,
    "placement:resource_providers:show": ADMIN,
    "placement:resource_providers:inventories:list": ADMIN,
    "placement:resource_providers:inventories:show": ADMIN,
    "placement:resource_providers:usages": ADMIN,
    "placement:resource_providers:allocations:list": ADMIN,
    "placement:resource_providers:aggregates:list": ADMIN,
    "placement:allocations:list": ADMIN,
    "placement:resource_classes:list": ADMIN,
    "placement:resource_classes:show": ADMIN,
    "placement:resource_providers:traits:list": ADMIN,
    "placement:traits:list": ADMIN,
    "placement:traits:show": ADMIN,
    "placement:usages": ADMIN,
}


def rule_for(action: str) -> Rule:
    try:
        return RULES[action]
    except KeyError:
        raise LookupError(f"no policy rule for {action!r}: add it to api.policy.RULES") from None


def allowed(action: str, target: Target | None = None, ctx: RequestContext | None = None) -> bool:
    ctx = ctx or current()
    return rule_for(action)(ctx, target or {})


def enforce(action: str, target: Target | None = None) -> RequestContext:
    """Raise Unauthorized (no valid token) or Forbidden unless the caller may perform ``action``."""
    ctx = current()
    rule = rule_for(action)
    if rule is not PUBLIC and not ctx.authenticated:
        raise Unauthorized()
    if not rule(ctx, target or {}):
        if ctx.project_id is None and ctx.domain_id is None and ctx.system is None:
            # An unscoped token carries no role: say so, or "not authorized" reads as a missing role.
            raise Forbidden(f"{Forbidden(action=action).message} The token is unscoped: ask for a project-scoped one.")
        raise Forbidden(action=action)
    return ctx
