"""A project's limits and usage, read from and written to the four APIs that hold them.

Which resources there are, and their labels, units and scope, the portal reads from the cloud's one table
(``GET /identity/v3/OS-STRATUS/quota_resources``, served from ``quota.registry``), as the ``stratus`` CLI
does: neither keeps a copy. What stays here is where each service keeps its figures:

* compute limits are Nova's quota set (``os-quota-sets/{p}/detail`` has ``limit`` and ``in_use``), written
  with ``force`` so Nova refuses a limit below usage unless forced;
* network limits are Neutron's quotas (``quotas/{p}/details``: ``limit``, ``used``), written with
  ``check_limit`` for the same refusal;
* image limits are Keystone's unified limits (``/v3/limits``, where Glance reads them), usage from Glance's
  ``info/usage?project_id=``; Keystone does not compare a limit with usage, so :func:`below_usage` does;
* block storage limits are Cinder's quota set (``os-quota-sets/{p}?usage=true``: ``limit``, ``in_use``),
  written with ``skip_validation`` off unless forced, so Cinder refuses a limit below usage.

Only project-wide sums have a usage to compare with: key pairs are limited per user, metadata items per
server and members per server group, so their rows show no usage and are never refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from portal.client import ApiClient

UNLIMITED = -1
MAX_LIMIT = 0x7FFFFFFF  # what every one of the four APIs accepts
TABLE = "/identity/v3/OS-STRATUS/quota_resources"


@dataclass(frozen=True)
class Resource:
    """One quota resource as the cloud lists it."""

    name: str
    """The APIs' name of the resource, and the form field's."""
    service: str
    label: str
    scope: str
    """``project`` (usage summed over the project), ``user`` (each user's own) or ``item`` (a limit on each)."""
    per: str
    """What one limit applies to: ``project``, ``user``, ``server``, ``server group``."""
    unit: str = ""

    @property
    def summed(self) -> bool:
        return self.scope == "project"

    @classmethod
    def from_view(cls, view: dict[str, Any]) -> Resource:
        return cls(view["name"], view["service"], view["label"], view["scope"], view["per"], view["unit"])


def resources(client: ApiClient) -> list[Resource]:
    """Every quota resource of the cloud, in its order."""
    return [Resource.from_view(view) for view in client.get(TABLE)["quota_resources"]]


@dataclass(frozen=True)
class Row:
    resource: Resource
    limit: int
    in_use: int | None
    """None where the limit is on each user, server or server group (nothing to sum)."""

    @property
    def percent(self) -> float | None:
        if self.in_use is None or self.limit == UNLIMITED:
            return None
        return 100.0 if self.limit == 0 else 100.0 * self.in_use / self.limit


def read(client: ApiClient, project_id: str, listed: list[Resource] | None = None) -> list[Row]:
    """Every limit of the project with its usage, in the cloud's order (``listed``: the table, when read)."""
    compute = client.get(f"/compute/v2.1/os-quota-sets/{project_id}/detail")["quota_set"]
    network = client.get(f"/network/v2.0/quotas/{project_id}/details")["quota"]
    image = client.get("/image/v2/info/usage", project_id=project_id)["usage"]
    volume = client.get(f"/volume/v3/os-quota-sets/{project_id}", usage="true")["quota_set"]
    found = {
        "compute": {k: (v["limit"], v["in_use"]) for k, v in compute.items() if isinstance(v, dict)},
        "network": {k: (v["limit"], v["used"]) for k, v in network.items()},
        "image": {k: (v["limit"], v["usage"]) for k, v in image.items()},
        "block-storage": {k: (v["limit"], v["in_use"]) for k, v in volume.items() if isinstance(v, dict)},
    }
    rows = []
    for resource in listed if listed is not None else resources(client):
        limit, used = found[resource.service][resource.name]
        rows.append(Row(resource, int(limit), int(used) if resource.summed else None))
    return rows


def below_usage(rows: list[Row], values: Mapping[str, int]) -> dict[str, int]:
    """The resources whose new limit is under what the project holds, with what it holds."""
    by_name = {row.resource.name: row for row in rows}
    return {
        name: used
        for name, limit in values.items()
        if limit != UNLIMITED and (used := by_name[name].in_use) is not None and limit < used
    }


def write(client: ApiClient, project_id: str, rows: list[Row], values: Mapping[str, int], force: bool) -> None:
    """Set the given limits of ``rows``' resources, each in the API that holds it; the others stay. Without
    ``force`` Nova and Neutron refuse a limit below usage themselves (a create may have come in since the
    page read it)."""
    service = {row.resource.name: row.resource.service for row in rows}
    by_service: dict[str, dict[str, int]] = {}
    for name, limit in values.items():
        by_service.setdefault(service[name], {})[name] = limit
    if "compute" in by_service:
        body = {"quota_set": {**by_service["compute"], "force": force}}
        client.put(f"/compute/v2.1/os-quota-sets/{project_id}", body)
    if "network" in by_service:
        body = {"quota": {**by_service["network"], "check_limit": not force}}
        client.put(f"/network/v2.0/quotas/{project_id}", body)
    if "image" in by_service:
        _write_image_limits(client, project_id, by_service["image"])
    if "block-storage" in by_service:
        body = {"quota_set": {**by_service["block-storage"], "skip_validation": force}}
        client.put(f"/volume/v3/os-quota-sets/{project_id}", body)


def _write_image_limits(client: ApiClient, project_id: str, values: Mapping[str, int]) -> None:
    """A project's own image limit is changed if it has one, else created for the image service."""
    own = client.get("/identity/v3/limits", project_id=project_id)["limits"]
    existing = {entry["resource_name"]: entry["id"] for entry in own}
    registered = client.get("/identity/v3/registered_limits")["registered_limits"]
    service_ids = {entry["resource_name"]: entry["service_id"] for entry in registered}
    for name, limit in values.items():
        if name in existing:
            change = {"limit": {"resource_limit": limit}}
            client.request("PATCH", f"/identity/v3/limits/{quote(existing[name], safe='')}", body=change)
        else:
            entry = {"service_id": service_ids[name], "project_id": project_id, "resource_name": name}
            client.post("/identity/v3/limits", {"limits": [{**entry, "resource_limit": limit}]})
