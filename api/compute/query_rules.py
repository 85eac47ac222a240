"""2.102: the query parameters each compute GET knows, so that from 2.102 on an unknown one is a 400.

Before 2.102 Nova's query schemas for these resources let any parameter through and dropped what they did not
know; 2.102 closes them (``additionalProperties: false``). The server listing has been closed since 2.75
(``api.compute.server_filters``) and is not repeated here. Keys are the route as Flask has it, under
``/compute/v2.1``; a route missing from the table is not checked (the version documents, for instance).
"""

from __future__ import annotations

from collections.abc import Iterable

_NONE: frozenset[str] = frozenset()
_PAGE = frozenset(("limit", "marker"))

KNOWN: dict[str, frozenset[str]] = {
    # servers and what hangs off them
    "/servers/<server_id>": _NONE,
    "/servers/<server_id>/metadata": _NONE,
    "/servers/<server_id>/metadata/<key>": _NONE,
    "/servers/<server_id>/os-instance-actions": _PAGE | {"changes-since", "changes-before"},
    "/servers/<server_id>/os-instance-actions/<request_id>": _NONE,
    "/servers/<server_id>/os-interface": _NONE,
    "/servers/<server_id>/os-interface/<port_id>": _NONE,
    "/servers/<server_id>/tags": _NONE,
    "/servers/<server_id>/tags/<path:tag>": _NONE,
    "/servers/<server_id>/os-volume_attachments": frozenset(("limit", "offset")),
    "/servers/<server_id>/os-volume_attachments/<volume_id>": _NONE,
    "/servers/<server_id>/diagnostics": _NONE,
    "/servers/<server_id>/migrations": _NONE,
    "/servers/<server_id>/migrations/<migration_id>": _NONE,
    "/servers/<server_id>/topology": _NONE,
    "/servers/<server_id>/shares": _NONE,
    "/servers/<server_id>/shares/<share_id>": _NONE,
    # flavors
    "/flavors": _PAGE | {"is_public", "minRam", "minDisk", "sort_key", "sort_dir"},
    "/flavors/detail": _PAGE | {"is_public", "minRam", "minDisk", "sort_key", "sort_dir"},
    "/flavors/<flavor_id>": _NONE,
    "/flavors/<flavor_id>/os-extra_specs": _NONE,
    "/flavors/<flavor_id>/os-extra_specs/<key>": _NONE,
    "/flavors/<flavor_id>/os-flavor-access": _NONE,
    # the project's own resources and limits
    "/os-keypairs": _PAGE | {"user_id"},
    "/os-keypairs/<name>": frozenset(("user_id",)),
    "/limits": frozenset(("tenant_id",)),
    "/os-quota-sets/<project_id>": frozenset(("user_id",)),
    "/os-quota-sets/<project_id>/detail": frozenset(("user_id",)),
    "/os-quota-sets/<project_id>/defaults": _NONE,
    "/os-quota-class-sets/<class_name>": _NONE,
    "/os-server-groups": frozenset(("all_projects", "limit", "offset")),
    "/os-server-groups/<group_id>": _NONE,
    "/os-availability-zone": _NONE,
    "/os-availability-zone/detail": _NONE,
    "/os-simple-tenant-usage": _PAGE | {"start", "end", "detailed"},
    "/os-simple-tenant-usage/<tenant_id>": _PAGE | {"start", "end"},
    # operators' views
    "/os-hypervisors": _PAGE | {"hypervisor_hostname_pattern", "with_servers"},
    "/os-hypervisors/detail": _PAGE | {"hypervisor_hostname_pattern", "with_servers"},
    "/os-hypervisors/<hypervisor_id>": frozenset(("with_servers",)),
    "/os-hypervisors/<hypervisor_id>/uptime": _NONE,
    "/os-hypervisors/<pattern>/search": _NONE,
    "/os-hypervisors/<pattern>/servers": _NONE,
    "/os-hypervisors/statistics": _NONE,
    "/os-aggregates": _NONE,
    "/os-services": frozenset(("binary", "host")),
    "/os-migrations": _PAGE
    | {"hidden", "host", "instance_uuid", "source_compute", "status", "migration_type", "changes-since"}
    | {"changes-before", "user_id", "project_id"},
}

PREFIX = "/compute/v2.1"


def unexpected(rule: str, names: Iterable[str]) -> str | None:
    """The first (by name) of ``names`` that the GET route ``rule`` does not know, or None; None as well for a
    route the table does not cover."""
    known = KNOWN.get(rule.removeprefix(PREFIX))
    if known is None:
        return None
    unknown = sorted(set(names) - known)
    return unknown[0] if unknown else None


def message(name: str) -> str:
    """Nova's words for a closed query schema (the same as the server listing's from 2.75)."""
    return f"Invalid input for query parameters {name}. Additional properties are not allowed ('{name}' was unexpected)"
