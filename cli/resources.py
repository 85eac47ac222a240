"""Every resource ``stratus`` shows and sets, and which API holds its limit and usage.

Compute limits are Nova's quota sets, network limits Neutron's quotas, image limits Keystone's unified
limits (where Glance reads them) with usage from Glance's ``/v2/info/usage``. The CLI keeps its own table
because it talks to the cloud over HTTP only and imports nothing of the server.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    name: str
    """The name the APIs use, and the key in ``--format json``."""
    service: str
    option: str
    """The ``stratus quota set`` option (without ``--``)."""
    per: str = "project"
    """What the limit applies to: ``project`` (a sum), ``user`` (each user's key pairs), ``server``, ``group``."""
    unit: str = ""


RESOURCES = (
    Resource("instances", "compute", "instances"),
    Resource("cores", "compute", "cores"),
    Resource("ram", "compute", "ram", unit="MiB"),
    Resource("key_pairs", "compute", "key-pairs", per="user"),
    Resource("server_groups", "compute", "server-groups"),
    Resource("server_group_members", "compute", "server-group-members", per="group"),
    Resource("metadata_items", "compute", "metadata-items", per="server"),
    Resource("network", "network", "networks"),
    Resource("subnet", "network", "subnets"),
    Resource("port", "network", "ports"),
    Resource("security_group", "network", "security-groups"),
    Resource("security_group_rule", "network", "security-group-rules"),
    Resource("image_count_total", "image", "images"),
    Resource("image_size_total", "image", "image-bytes", unit="bytes"),
)
BY_NAME = {r.name: r for r in RESOURCES}
BY_OPTION = {r.option: r for r in RESOURCES}


def lookup(name: str) -> Resource:
    """A resource by its API name or its option name (``port`` or ``ports``)."""
    found = BY_NAME.get(name) or BY_OPTION.get(name.lstrip("-")) or BY_NAME.get(name.replace("-", "_"))
    if found is None:
        known = ", ".join(r.name for r in RESOURCES)
        raise KeyError(f"unknown resource {name!r} (known: {known})")
    return found
