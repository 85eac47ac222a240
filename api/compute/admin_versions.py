"""What ``os-hypervisors`` and ``os-services`` change from microversion 2.53 on (``api.compute.admin`` serves them).

- 2.53: hypervisors and services are named by their UUID (ids, markers, paths); ``hypervisor_hostname_pattern``
  and ``with_servers`` replace the ``/search`` and ``/servers`` sub-resources (gone: 404); a service is changed
  with ``PUT /os-services/{uuid}`` (``status``, ``disabled_reason``, ``forced_down``), which answers the whole
  service, and the older ``PUT /os-services/{action}`` forms are gone.
- 2.75: ``with_servers`` always gives a ``servers`` list, empty for a host without servers.
- 2.88: the usage figures leave the hypervisor (they belong to placement), ``/statistics`` and ``/uptime`` are
  gone, and ``uptime`` is part of the hypervisor (null here: host agents do not report it).
"""

from __future__ import annotations

import re
from typing import Any

from api.compute.microversions import at_least
from api.compute.resource_schemas import BOOLEAN
from common.exceptions import BadRequest, NotFound

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
USAGE_FIELDS = (
    "vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used", "free_ram_mb",
    "free_disk_gb", "current_workload", "running_vms", "cpu_info", "disk_available_least",
)  # fmt: skip

SERVICE_UPDATE_V253 = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["enabled", "disabled"]},
        "disabled_reason": {"type": "string", "minLength": 1, "maxLength": 255},
        "forced_down": BOOLEAN,
    },
    "additionalProperties": False,
}


def by_uuid() -> bool:
    return at_least("2.53")


def checked_uuid(value: str) -> str:
    """A path's hypervisor or service id from 2.53 on: anything but a UUID is Nova's 400."""
    if not _UUID.match(value):
        raise BadRequest(f"Invalid uuid {value}")
    return value


def gone_from(version: str) -> None:
    """A sub-resource Nova removed at ``version``: 404 from then on, as for an unknown route."""
    if at_least(version):
        raise NotFound("The resource could not be found.")


def trim_hypervisor(view: dict[str, Any], detail: bool) -> dict[str, Any]:
    """2.88: no usage figures, and ``uptime`` in the detailed forms."""
    if not at_least("2.88"):
        return view
    trimmed = {k: v for k, v in view.items() if k not in USAGE_FIELDS}
    if detail:
        trimmed["uptime"] = None
    return trimmed


def servers_field(guests: list[tuple[str, str]]) -> list[dict[str, str]] | None:
    """``servers`` of a hypervisor asked ``with_servers``: None (key left out) for none before 2.75."""
    if not guests and not at_least("2.75"):
        return None
    return [{"name": name, "uuid": uuid} for name, uuid in guests]


def service_changes(body: dict[str, Any], binary: str) -> dict[str, Any]:
    """What ``PUT /os-services/{uuid}`` changes, with Nova's refusals."""
    if binary != "nova-compute":
        raise BadRequest(f"Updating a {binary} service is not supported. Only nova-compute services can be updated.")
    status = body.get("status")
    if "disabled_reason" in body and status != "disabled":
        raise BadRequest("Specifying 'disabled_reason' with status other than 'disabled' is invalid.")
    if status is None and "forced_down" not in body:
        raise BadRequest("'status' or 'forced_down' must be specified.")
    return body
