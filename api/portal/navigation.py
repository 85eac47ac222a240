"""The menu: (endpoint, label) pairs. A new page adds itself here to appear in the header's navigation;
admin entries are shown only to users with the admin role (and ``admin_only`` refuses everyone else)."""

from __future__ import annotations

from api.portal.blueprint import bp

TENANT_NAV: list[tuple[str, str]] = [
    ("portal.overview", "Overview"),
]
ADMIN_NAV: list[tuple[str, str]] = []


@bp.context_processor
def _navigation() -> dict[str, object]:
    return {"nav_items": TENANT_NAV, "admin_nav_items": ADMIN_NAV}
