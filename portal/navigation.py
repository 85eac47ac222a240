"""The menu: (endpoint, label) pairs. A new page adds itself here to appear in the header's navigation;
admin entries are shown only to users with the admin role (and ``admin_only`` refuses everyone else). An entry
is marked current on its own page and on every page under its path (``/instances/<id>`` under Instances)."""

from __future__ import annotations

from portal.blueprint import bp

TENANT_NAV: list[tuple[str, str]] = [
    ("portal.overview", "Overview"),
    ("portal.instances", "Instances"),
    ("portal.volumes", "Volumes"),
    ("portal.images", "Images"),
    ("portal.networks", "Networks"),
    ("portal.routers", "Routers"),
    ("portal.floating_ips", "Floating IPs"),
    ("portal.security_groups", "Security groups"),
    ("portal.keypairs", "Key pairs"),
]
ADMIN_NAV: list[tuple[str, str]] = [
    ("portal.admin_projects", "Projects"),
    ("portal.admin_users", "Users"),
    ("portal.admin_quotas_index", "Quotas"),
    ("portal.admin_hosts", "Hosts"),
]


@bp.context_processor
def _navigation() -> dict[str, object]:
    return {"nav_items": TENANT_NAV, "admin_nav_items": ADMIN_NAV}
