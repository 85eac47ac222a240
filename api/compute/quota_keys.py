"""Nova's quota-set keys per microversion, and the quota resources behind them.

- Compute's own resources keep their names (``instances``, ``cores`` ... ``server_group_members``): those
  ``quota.registry`` lists for the compute service.
- Before 2.36 Nova also shows network "proxies": ``security_groups`` and ``security_group_rules`` are the
  Network API's ``security_group`` and ``security_group_rule`` limits here (one quota, two views);
  ``fixed_ips`` and ``floating_ips`` are -1 (addresses are limited by the port quota; there are no floating
  IPs yet). ``networks`` is not shown, as in Nova without ``enable_network_quota``. From 2.36 all are gone.
- ``injected_files*`` are 0: server create refuses personality files. Nova drops them at 2.57.
- The quota *class* set shows ``server_groups`` and ``server_group_members`` only from 2.50.

Updates accept what the microversion shows (and, for the class set, Nova's full list); an update of a fixed
key is accepted and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.compute.microversions import at_least
from api.compute.resource_schemas import BOOLEAN
from common.exceptions import ValidationError
from quota import engine, registry

OWN = tuple(r.name for r in registry.of_service("compute"))
PROXIES = {"security_groups": "security_group", "security_group_rules": "security_group_rule"}
FIXED = {
    "fixed_ips": -1,
    "floating_ips": -1,
    "injected_files": 0,
    "injected_file_content_bytes": 0,
    "injected_file_path_bytes": 0,
}
PROXY_KEYS = ("fixed_ips", "floating_ips", "security_groups", "security_group_rules")
CLASS_ONLY_FROM_2_50 = ("server_groups", "server_group_members")
INJECTED_KEYS = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")
MAX_INT = 0x7FFFFFFF

_LIMIT = {"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1, "maximum": MAX_INT}


def resource_of(key: str) -> str | None:
    """The quota resource behind a Nova key; None for a fixed key."""
    return key if key in OWN else PROXIES.get(key)


def keys(class_set: bool = False) -> list[str]:
    """The keys a quota set (or the quota class set) shows at the request's microversion, sorted as Nova's."""
    shown = [*OWN, *PROXIES, *FIXED]
    if at_least("2.36"):
        shown = [k for k in shown if k not in PROXY_KEYS]
    if class_set and not at_least("2.50"):
        shown = [k for k in shown if k not in CLASS_ONLY_FROM_2_50]
    if at_least("2.57"):
        shown = [k for k in shown if k not in INJECTED_KEYS]
    return sorted(shown)


def resources(shown: list[str]) -> list[str]:
    return [r for r in (resource_of(k) for k in shown) if r is not None]


def limits_view(shown: list[str], limits: Mapping[str, int]) -> dict[str, int]:
    return {k: FIXED[k] if resource_of(k) is None else limits[resource_of(k)] for k in shown}  # type: ignore[index]


def detail_view(shown: list[str], usage: Mapping[str, engine.Usage]) -> dict[str, dict[str, int]]:
    view = {}
    for key in shown:
        resource = resource_of(key)
        found = usage[resource] if resource else engine.Usage(FIXED[key], 0)
        view[key] = {"in_use": found.in_use, "limit": found.limit, "reserved": 0}
    return view


def _schema(wrapper: str, names: list[str], force: bool) -> dict[str, Any]:
    properties: dict[str, Any] = dict.fromkeys(names, _LIMIT)
    if force:
        properties["force"] = BOOLEAN
    return {
        "type": "object",
        "properties": {wrapper: {"type": "object", "properties": properties, "additionalProperties": False}},
        "required": [wrapper],
        "additionalProperties": False,
    }


_ALL = sorted([*OWN, *PROXIES, *FIXED])
UPDATE = _schema("quota_set", _ALL, force=True)
UPDATE_V236 = _schema("quota_set", [k for k in _ALL if k not in PROXY_KEYS], force=True)
UPDATE_V257 = _schema("quota_set", [k for k in _ALL if k not in PROXY_KEYS + INJECTED_KEYS], force=True)
CLASS_UPDATE = _schema("quota_class_set", [*_ALL, "networks"], force=False)
CLASS_UPDATE_V250 = _schema("quota_class_set", [k for k in _ALL if k not in PROXY_KEYS], force=False)
CLASS_UPDATE_V257 = _schema("quota_class_set", [k for k in _ALL if k not in PROXY_KEYS + INJECTED_KEYS], force=False)


def update_schema() -> dict[str, Any]:
    """Nova's ``quota_sets.update``: ``update_v236`` from 2.36, ``update_v257`` (no injected files) from 2.57."""
    if at_least("2.57"):
        return UPDATE_V257
    return UPDATE_V236 if at_least("2.36") else UPDATE


def class_update_schema() -> dict[str, Any]:
    """Nova's ``quota_classes.update``: no network keys from 2.50, no injected files from 2.57."""
    if at_least("2.57"):
        return CLASS_UPDATE_V257
    return CLASS_UPDATE_V250 if at_least("2.50") else CLASS_UPDATE


def requested_limits(body: Mapping[str, Any]) -> dict[str, int]:
    """The resources an update sets, as integers (Nova skips null and empty values; fixed keys change nothing)."""
    values = {}
    for key, value in body.items():
        if key == "force" or (not value and value != 0):
            continue
        resource = resource_of(key)
        if resource is not None:
            # The schema's bounds hold only for JSON numbers; a string of digits is checked here.
            number = int(value)
            if not -1 <= number <= MAX_INT:
                raise ValidationError(field=key, reason=f"{value} is not between -1 and {MAX_INT}")
            values[resource] = number
    return values
