"""A project's limits and usage gathered from the three APIs that hold them, and changes written back to each.

Reads: Nova's ``os-quota-sets/{p}/detail``, Neutron's ``quotas/{p}/details``, Glance's ``info/usage`` with
Keystone's limits. Writes: Nova's and Neutron's quota updates (which refuse a limit below usage themselves,
unless forced), Keystone's limits for the image resources. Before writing, every new limit is compared with
the usage just read, so one refusal names every resource that would go below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cli.client import CliError, Cloud, Exit
from cli.resources import Resource, Resources

UNLIMITED = -1


@dataclass(frozen=True)
class Row:
    resource: Resource
    limit: int
    in_use: int | None
    """None where the limit is per user, per server or per server group (nothing to sum over the project)."""

    @property
    def percent(self) -> float | None:
        if self.in_use is None or self.limit == UNLIMITED:
            return None
        if self.limit == 0:
            return 100.0
        return 100.0 * self.in_use / self.limit


def find_project(cloud: Cloud, reference: str) -> dict[str, Any]:
    """A project by id or by name (exit 3 when there is none, or several of that name)."""
    try:
        return cloud.get("identity", f"/projects/{quote(reference, safe='')}")["project"]
    except CliError as exc:
        if exc.code is not Exit.NOT_FOUND:
            raise
    found = cloud.get("identity", f"/projects?name={quote(reference)}")["projects"]
    if len(found) != 1:
        problem = "no project" if not found else f"{len(found)} projects"
        raise CliError(f"{problem} named or with id {reference!r}", Exit.NOT_FOUND)
    return found[0]


def project_rows(cloud: Cloud, project_id: str, resources: Resources) -> list[Row]:
    """Every resource's limit and usage for the project, in the cloud's order."""
    compute = cloud.get("compute", f"/os-quota-sets/{project_id}/detail")["quota_set"]
    network = cloud.get("network", f"/quotas/{project_id}/details")["quota"]
    image = cloud.get("image", f"/info/usage?project_id={quote(project_id)}")["usage"]
    volume = cloud.get("block-storage", f"/os-quota-sets/{project_id}?usage=true")["quota_set"]
    rows = []
    for resource in resources:
        if resource.service == "compute":
            entry = compute[resource.name]
            limit, used = entry["limit"], entry["in_use"]
        elif resource.service == "network":
            entry = network[resource.name]
            limit, used = entry["limit"], entry["used"]
        elif resource.service == "block-storage":
            entry = volume[resource.name]
            limit, used = entry["limit"], entry["in_use"]
        else:
            entry = image[resource.name]
            limit, used = entry["limit"], entry["usage"]
        # Only project-wide limits have a usage to show: Nova's key_pairs "in_use" is the caller's own key pairs
        # (they belong to users), and metadata or group members are counted per server or group.
        rows.append(Row(resource, int(limit), int(used) if resource.summed else None))
    return rows


def default_rows(cloud: Cloud, resources: Resources) -> list[Row]:
    """The defaults of every resource: Keystone's registered limits, which the other APIs' defaults are."""
    registered = {r["resource_name"]: r for r in cloud.get("identity", "/registered_limits")["registered_limits"]}
    return [Row(r, int(registered[r.name]["default_limit"]), None) for r in resources if r.name in registered]


def check_not_below_usage(rows: list[Row], values: Mapping[str, int]) -> None:
    by_name = {row.resource.name: row for row in rows}
    below = [
        f"{name} to {limit} (in use: {by_name[name].in_use})"
        for name, limit in values.items()
        if limit != UNLIMITED and by_name[name].in_use is not None and limit < by_name[name].in_use
    ]
    if below:
        reason = "refused: a limit would be below what the project holds (use --force to set it anyway): "
        raise CliError(reason + ", ".join(below), Exit.BELOW_USAGE)


def _image_limits(cloud: Cloud, project_id: str, resources: Resources) -> dict[str, dict[str, Any]]:
    """The project's own image limits in Keystone (which lists its compute and network ones too)."""
    found = cloud.get("identity", f"/limits?project_id={quote(project_id)}")["limits"]
    images = {r.name for r in resources if r.service == "image"}
    return {entry["resource_name"]: entry for entry in found if entry["resource_name"] in images}


def _service_ids(cloud: Cloud) -> dict[str, str]:
    registered = cloud.get("identity", "/registered_limits")["registered_limits"]
    return {r["resource_name"]: r["service_id"] for r in registered}


def set_limits(cloud: Cloud, project_id: str, resources: Resources, values: Mapping[str, int], force: bool) -> None:
    """Each limit of ``values`` (resource name: limit) in the API that holds it; the others stay."""
    if not force:
        check_not_below_usage(project_rows(cloud, project_id, resources), values)
    by_service: dict[str, dict[str, int]] = {}
    for name, limit in values.items():
        by_service.setdefault(resources.lookup(name).service, {})[name] = limit
    if "compute" in by_service:
        body = {"quota_set": {**by_service["compute"], "force": force}}
        cloud.call("PUT", "compute", f"/os-quota-sets/{project_id}", body)
    if "network" in by_service:
        body = {"quota": {**by_service["network"], "check_limit": not force}}
        cloud.call("PUT", "network", f"/quotas/{project_id}", body)
    if "block-storage" in by_service:
        body = {"quota_set": {**by_service["block-storage"], "skip_validation": force}}
        cloud.call("PUT", "block-storage", f"/os-quota-sets/{project_id}", body)
    if "image" in by_service:
        existing = _image_limits(cloud, project_id, resources)
        services = _service_ids(cloud)
        for name, limit in by_service["image"].items():
            if name in existing:
                change = {"limit": {"resource_limit": limit}}
                cloud.call("PATCH", "identity", f"/limits/{existing[name]['id']}", change)
            else:
                entry = {"service_id": services[name], "project_id": project_id, "resource_name": name}
                body = {"limits": [{**entry, "resource_limit": limit}]}
                cloud.call("POST", "identity", "/limits", body, expect=(201,))


def reset(cloud: Cloud, project_id: str, resources: Resources) -> None:
    """Every limit of the project back to the defaults, in each API."""
    cloud.call("DELETE", "compute", f"/os-quota-sets/{project_id}", expect=(202,))
    cloud.call("DELETE", "network", f"/quotas/{project_id}", expect=(204,))
    cloud.call("DELETE", "block-storage", f"/os-quota-sets/{project_id}", expect=(200,))
    for entry in _image_limits(cloud, project_id, resources).values():
        cloud.call("DELETE", "identity", f"/limits/{entry['id']}", expect=(204,))


def set_defaults(cloud: Cloud, resources: Resources, values: Mapping[str, int]) -> None:
    """Compute defaults through Nova's ``default`` quota class, the others as Keystone's registered limits."""
    compute = {n: v for n, v in values.items() if resources.lookup(n).service == "compute"}
    if compute:
        cloud.call("PUT", "compute", "/os-quota-class-sets/default", {"quota_class_set": compute})
    others = {n: v for n, v in values.items() if resources.lookup(n).service != "compute"}
    if others:
        registered = cloud.get("identity", "/registered_limits")["registered_limits"]
        ids = {r["resource_name"]: r["id"] for r in registered}
        for name, limit in others.items():
            body = {"registered_limit": {"default_limit": limit}}
            cloud.call("PATCH", "identity", f"/registered_limits/{ids[name]}", body)
