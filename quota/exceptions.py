"""Quota errors. ``OverQuota`` carries the figures; each API words it in its own fault (``api.faults``):
Nova a 403 ``forbidden``, Neutron a 409 ``OverQuota``, Glance a 413."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from common.exceptions import BadRequest, StratusError


@dataclass(frozen=True)
class Overage:
    """One resource a request would take over its limit."""

    resource: str
    limit: int
    in_use: int
    requested: int


class OverQuota(StratusError):
    """A create (or a resize, a new metadata item ...) that would exceed ``overs``' limits."""

    msg_fmt = "Quota exceeded for {names}: Requested {requested}, but already used {used} of {limits} {names}"
    code = 403
    title = "Forbidden"
    fault_type: ClassVar[str] = "OverQuota"

    def __init__(self, project_id: str | None, overs: Sequence[Overage]) -> None:
        self.project_id = project_id
        self.overs = tuple(overs)
        super().__init__(
            names=", ".join(o.resource for o in self.overs),
            requested=", ".join(str(o.requested) for o in self.overs),
            used=", ".join(str(o.in_use) for o in self.overs),
            limits=", ".join(str(o.limit) for o in self.overs),
        )

    @property
    def resources(self) -> list[str]:
        return [o.resource for o in self.overs]


class InvalidLimit(BadRequest):
    msg_fmt = "Quota limit {limit} for {resource} must be -1 or greater."


class LimitBelowUsage(BadRequest):
    """A new limit under what the project already holds (refused unless forced)."""

    msg_fmt = "Quota limit {limit} for {resource} must be greater than or equal to already used and reserved {in_use}."


class UnknownResource(BadRequest):
    msg_fmt = "Unknown quota resource {resource}."
