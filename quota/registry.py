"""Every resource a quota limits: which service owns it, its built-in default, and who counts its usage.

Counting belongs to the service that owns the records (``compute.quota``, ``network.quota``,
``image.quota``, ``volume.quota``); the registry names each counting function as ``"module:function"`` and
imports it on first use, so this package depends on no service at import time and the services may import it.
A counter is called as ``counter(session, project_id, user_id)`` and returns ``{resource: used}`` for every
resource that names it, in one query where it can (instances, cores and RAM are one indexed aggregate).

Defaults are Nova's, Neutron's and Cinder's; the image defaults are settings (``image_quota_count``,
``image_quota_bytes``), so a default given as a string is the name of the setting that holds it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

UNLIMITED = -1

Counter = Callable[[Session, str, "str | None"], Mapping[str, int]]


class Scope(StrEnum):
    PROJECT = "project"
    """Usage is summed over the project's resources."""
    USER = "user"
    """Usage is counted over the calling user's resources, the limit is the project's (``key_pairs``, as Nova)."""
    ITEM = "item"
    """A limit on each item (metadata per server, members per group): nothing is summed, usage is not reported."""


@dataclass(frozen=True)
class Resource:
    """One limited resource: the one table the quota engine, the APIs, the portal and the ``stratus`` CLI use.

    The portal and the CLI read it over HTTP (``GET /identity/v3/OS-STRATUS/quota_resources``), so a resource
    added here shows up in both with its label, unit and scope, and neither keeps a copy that could disagree.
    """

    name: str
    """The name the quota APIs use (Neutron's keys, Nova's keys for its own resources, Keystone's ``resource_name``)."""
    service: str
    """The catalog type of the API that enforces it: ``compute``, ``network``, ``image`` or ``block-storage``."""
    default: int | str
    """The built-in default limit, or the name of the setting that holds it."""
    counter: str | None
    """``"module:function"`` that counts its usage; None for a per-item limit."""
    label: str
    """What a person reads: a short capitalised title (the portal's field label)."""
    description: str
    """What is counted, in a phrase (Keystone's registered-limit ``description``)."""
    scope: Scope = Scope.PROJECT
    unit: str = ""
    """``MiB``, ``GiB``, ``bytes`` or "" for a count."""
    item: str = ""
    """For ``Scope.ITEM``: what each limit is on (``server``, ``server group``)."""

    @property
    def per(self) -> str:
        """What one limit applies to, in a word a user reads: ``project``, ``user``, or the item."""
        return self.item if self.scope is Scope.ITEM else self.scope.value


# The counting modules of the four services.
_C, _N, _I, _V = "compute.quota:", "network.quota:", "image.quota:", "volume.quota:"

RESOURCES: tuple[Resource, ...] = (
    Resource("instances", "compute", 10, _C + "count_instances", "Instances", "servers"),
    Resource("cores", "compute", 20, _C + "count_instances", "vCPUs", "vCPUs of all servers"),
    Resource("ram", "compute", 51200, _C + "count_instances", "RAM", "RAM of all servers", unit="MiB"),
    Resource("key_pairs", "compute", 100, _C + "count_key_pairs", "Key pairs", "key pairs of each user",
             Scope.USER),
    Resource("server_groups", "compute", 10, _C + "count_server_groups", "Server groups", "server groups"),
    Resource("server_group_members", "compute", 10, None, "Members of a server group",
             "servers in each server group", Scope.ITEM, item="server group"),
    Resource("metadata_items", "compute", 128, None, "Metadata items of a server", "metadata items of each server",
             Scope.ITEM, item="server"),
    Resource("network", "network", 100, _N + "count_networks", "Networks", "networks"),
    Resource("subnet", "network", 100, _N + "count_subnets", "Subnets", "subnets"),
    Resource("port", "network", 500, _N + "count_ports", "Ports", "ports"),
    Resource("router", "network", 10, _N + "count_routers", "Routers", "routers"),
    Resource("floatingip", "network", 50, _N + "count_floating_ips", "Floating IPs", "floating IPs"),
    Resource("security_group", "network", 10, _N + "count_security_groups", "Security groups", "security groups"),
    Resource("security_group_rule", "network", 100, _N + "count_security_group_rules", "Security group rules",
             "security group rules"),
    Resource("image_count_total", "image", "image_quota_count", _I + "count_images", "Images", "images"),
    Resource("image_size_total", "image", "image_quota_bytes", _I + "count_images", "Image storage",
             "bytes of image data", unit="bytes"),
    Resource("volumes", "block-storage", 10, _V + "count_volumes", "Volumes", "volumes"),
    Resource("gigabytes", "block-storage", 1000, _V + "count_volumes", "Volume storage",
             "GiB of all volumes and snapshots", unit="GiB"),
    Resource("snapshots", "block-storage", 10, _V + "count_snapshots", "Volume snapshots", "volume snapshots"),
    Resource("backups", "block-storage", 10, _V + "count_backups", "Volume backups", "volume backups"),
    Resource("backup_gigabytes", "block-storage", 1000, _V + "count_backups", "Backup storage",
             "GiB of all volume backups", unit="GiB"),
)  # fmt: skip
BY_NAME: dict[str, Resource] = {r.name: r for r in RESOURCES}
SERVICES = ("compute", "network", "image", "block-storage")

_counters: dict[str, Counter] = {}


def resource(name: str) -> Resource:
    try:
        return BY_NAME[name]
    except KeyError:
        raise LookupError(f"unknown quota resource {name!r}") from None


def of_service(service: str) -> list[Resource]:
    return [r for r in RESOURCES if r.service == service]


def counter(path: str) -> Counter:
    """The counting function named ``"module:function"``, imported once."""
    found = _counters.get(path)
    if found is None:
        module, _, function = path.partition(":")
        found = _counters[path] = getattr(importlib.import_module(module), function)
    return found


def counters_for(names: Iterable[str]) -> dict[str, list[str]]:
    """The counters that count ``names``: ``{counter path: [resource names it counts among them]}``."""
    grouped: dict[str, list[str]] = {}
    for name in names:
        path = resource(name).counter
        if path is not None:
            grouped.setdefault(path, []).append(name)
    return grouped
