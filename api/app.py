"""The API application: every OpenStack-compatible API of Stratus on one port, under path prefixes."""

from __future__ import annotations

import gc
import logging

from flask import Flask

from api import auth, faults, guards, jsonenc, proxies, versions
from api.compute import admin as compute_admin
from api.compute import (
    flavors,
    keypairs,
    microversions,
    migrations,
    quota_sets,
    remote_consoles,
    server_actions,
    server_create,
    server_diagnostics,
    server_groups,
    server_interfaces,
    server_tags,
    servers,
    tenant_usage,
)
from api.compute import limits as compute_limits
from api.identity import application_credentials as identity_application_credentials
from api.identity import (
    assignments,
    auth_views,
    domain_config,
    domains,
    endpoint_filter,
    group_grants,
    groups,
    inherited_grants,
    policies,
    project_tags,
    projects,
    quota_resources,
    role_assignments,
    roles,
    system_scope,
    users,
)
from api.identity import credentials as identity_credentials
from api.identity import endpoints as identity_endpoints
from api.identity import implied_roles as identity_implied_roles
from api.identity import limits as identity_limits
from api.identity import oauth1 as identity_oauth1
from api.identity import regions as identity_regions
from api.identity import services as identity_services
from api.identity import trusts as identity_trusts
from api.image import data as image_data
from api.image import images, members, metadef_contents, metadef_namespaces
from api.image import tasks as image_tasks
from api.metadata import views as metadata_views
from api.network import agents as network_agents
from api.network import availability_zones as network_availability_zones
from api.network import extensions as network_extensions
from api.network import floating_ips as network_floating_ips
from api.network import networks as network_networks
from api.network import ports as network_ports
from api.network import qos as network_qos
from api.network import quotas as network_quotas
from api.network import rbac_policies as network_rbac_policies
from api.network import routers as network_routers
from api.network import security_groups as network_security_groups
from api.network import service_providers as network_service_providers
from api.network import subnet_pools as network_subnet_pools
from api.network import subnets as network_subnets
from api.network import tags as network_tags
from api.placement import allocations as placement_allocations
from api.placement import microversions as placement_microversions
from api.placement import resource_providers as placement_resource_providers
from api.placement import traits as placement_traits
from api.placement import versions as placement_versions
from api.runtime import Runtime
from api.volume import attachments as volume_attachments
from api.volume import backups as volume_backups
from api.volume import limits as volume_limits
from api.volume import metadata as volume_metadata
from api.volume import microversions as volume_microversions
from api.volume import quota_sets as volume_quota_sets
from api.volume import snapshots as volume_snapshots
from api.volume import types as volume_types
from api.volume import versions as volume_versions
from api.volume import volume_actions, volumes
from api.volume import zones as volume_zones
from common.db import Database
from common.settings import Settings
from identity.catalog import Catalog
from identity.fernet import KeyRepository
from identity.tokens import TokenService
from image import store as image_stores
from portal import site as portal_site

BLUEPRINTS = (
    versions.bp,
    auth_views.bp,
    projects.bp,
    project_tags.bp,
    users.bp,
    roles.bp,
    domain_config.bp,
    domains.bp,
    policies.bp,
    endpoint_filter.bp,
    assignments.bp,
    role_assignments.bp,
    groups.bp,
    group_grants.bp,
    inherited_grants.bp,
    system_scope.bp,
    identity_regions.bp,
    identity_services.bp,
    identity_endpoints.bp,
    identity_limits.bp,
    identity_application_credentials.bp,
    identity_credentials.bp,
    identity_implied_roles.bp,
    identity_oauth1.bp,
    identity_trusts.bp,
    quota_resources.bp,
    images.bp,
    image_data.bp,
    image_tasks.bp,
    members.bp,
    metadef_namespaces.bp,
    metadef_contents.bp,
    server_create.bp,
    servers.bp,
    server_actions.bp,
    migrations.bp,
    remote_consoles.bp,
    flavors.bp,
    keypairs.bp,
    server_groups.bp,
    compute_admin.bp,
    compute_limits.bp,
    server_tags.bp,
    server_diagnostics.bp,
    server_interfaces.bp,
    tenant_usage.bp,
    quota_sets.bp,
    network_extensions.bp,
    network_agents.bp,
    network_networks.bp,
    network_subnets.bp,
    network_ports.bp,
    network_qos.bp,
    network_routers.bp,
    network_floating_ips.bp,
    network_security_groups.bp,
    network_subnet_pools.bp,
    network_rbac_policies.bp,
    network_service_providers.bp,
    network_availability_zones.bp,
    network_tags.bp,
    network_quotas.bp,
    metadata_views.bp,
    volume_versions.bp,
    volumes.bp,
    volume_actions.bp,
    volume_metadata.bp,
    volume_snapshots.bp,
    volume_backups.bp,
    volume_types.bp,
    volume_attachments.bp,
    volume_quota_sets.bp,
    volume_limits.bp,
    volume_zones.bp,
    placement_versions.bp,
    placement_resource_providers.bp,
    placement_allocations.bp,
    placement_traits.bp,
    portal_site.bp,
)


def create_app(settings: Settings) -> Flask:
    app = Flask("stratus")
    app.config.update(
        PUBLIC_URL=settings.effective_public_url,
        # Body limits (api.guards): every request, and the views that stream image data (an image and a form's
        # other fields; the image views check the project's quota allowance themselves).
        MAX_JSON_BODY=settings.max_request_body_bytes,
        MAX_IMAGE_BODY=settings.image_size_cap + settings.max_request_body_bytes,
        JSON_SORT_KEYS=False,
    )
    jsonenc.install(app)
    app.url_map.strict_slashes = False
    keys = KeyRepository(settings.effective_key_repository, settings.fernet_max_active_keys)
    app.extensions["stratus"] = Runtime(
        settings=settings,
        db=Database(settings.effective_database_url),
        tokens=TokenService(keys, settings.token_expiration),
        catalog=Catalog(settings.effective_public_url, settings.region),
        image_store=image_stores.from_settings(settings),
    )
    guards.register(app)  # first: nothing may read a body before its limit is set
    auth.register(app)
    microversions.register(app)
    volume_microversions.register(app)
    placement_microversions.register(app)
    faults.register(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    # Behind HAProxy: the client's address from the proxies named, so per-address limits count clients, not proxies.
    app.wsgi_app = proxies.install(app.wsgi_app, settings.api_trusted_proxies)  # type: ignore[method-assign]
    logging.getLogger(__name__).info("API ready at %s", settings.effective_public_url)
    return app


def settle_garbage_collector() -> None:
    """Call once the app is made. What start-up made (modules, the app, caches) lives as long as the process, so
    it is kept out of the cyclic collector's passes, which otherwise walked its ~120,000 objects inside requests
    (~100 ms in a 5,000-port listing); and the youngest generation is collected after 20,000 new objects instead
    of 700, since a large listing makes hundreds of thousands of short-lived ones (collections cost ~13 ms of
    such a listing at the default). Reference counting frees almost everything a request makes anyway."""
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
