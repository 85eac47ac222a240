"""The quota resources ``stratus`` shows and sets, as the cloud lists them: no table of our own.

The CLI talks to the cloud only over HTTP and imports nothing of the server, so it reads the one resource
table (``quota.registry`` on the server) from ``GET /identity/v3/OS-STRATUS/quota_resources`` once per
command. A resource added to the cloud is then shown, settable (``--<name>``, underscores as dashes) and
documented by ``stratus quota resources`` without a change here. Which API holds a resource's limit and
usage is ``service`` (compute: Nova's quota sets, network: Neutron's quotas, image: Keystone's limits with
Glance's usage): ``cli.quotas``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cli.client import Cloud

PATH = "/OS-STRATUS/quota_resources"


@dataclass(frozen=True)
class Resource:
    name: str
    """The name the APIs use, and the key in ``--format json``."""
    service: str
    label: str
    description: str
    scope: str
    """``project`` (usage summed over the project), ``user`` (each user's own) or ``item`` (a limit on each)."""
    per: str
    """What one limit applies to: ``project``, ``user``, ``server``, ``server group``."""
    unit: str = ""

    @property
    def option(self) -> str:
        """The ``stratus quota set`` option, without ``--``: the name with dashes (``--key-pairs``)."""
        return self.name.replace("_", "-")

    @property
    def summed(self) -> bool:
        """Whether the project has a usage of it to show (key pairs are each user's, items are each item's)."""
        return self.scope == "project"

    @classmethod
    def from_view(cls, view: dict[str, Any]) -> Resource:
        return cls(view["name"], view["service"], view["label"], view["description"], view["scope"], view["per"],
                   view["unit"])  # fmt: skip


class Resources(tuple[Resource, ...]):
    """The cloud's quota resources in its order, found by API name or option spelling."""

    def get(self, name: str) -> Resource | None:
        """``port``, ``key_pairs``, ``key-pairs`` or ``--key-pairs``; None for no such resource."""
        wanted = name.lstrip("-").replace("-", "_")
        return next((r for r in self if r.name == wanted), None)

    def lookup(self, name: str) -> Resource:
        found = self.get(name)
        if found is None:
            raise KeyError(f"unknown resource {name!r} (known: {', '.join(r.name for r in self)})")
        return found

    @property
    def services(self) -> list[str]:
        return list(dict.fromkeys(r.service for r in self))


def fetch(cloud: Cloud) -> Resources:
    """Every quota resource of the cloud (any authenticated caller may read the table)."""
    return Resources(Resource.from_view(v) for v in cloud.get("identity", PATH)["quota_resources"])
