"""The query strings of Placement's read routes, parsed and checked as Placement does, each with its own 400.

What a query may name depends on the microversion: the provider listing takes ``name`` and ``uuid`` from 1.0,
``member_of`` from 1.3 and ``resources`` from 1.4; any other name is Placement's "Invalid query string parameters:
Additional properties are not allowed". A value that cannot be what it names (a uuid that is none, a malformed
``resources``) is the 400 Placement words for it.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import dataclass

from flask import request

from api.placement.providers import RESOURCE_CLASSES
from common.exceptions import BadRequest

RESOURCES_FORM = "?resources=VCPU:2,MEMORY_MB:1024"


class InvalidQuery(BadRequest):
    msg_fmt = "Invalid query string parameters: {reason}"


def refuse_unknown(allowed: Iterable[str]) -> None:
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        named = ", ".join(f"'{name[:64]}'" for name in unknown)
        verb = "was" if len(unknown) == 1 else "were"
        raise InvalidQuery(reason=f"Additional properties are not allowed ({named} {verb} unexpected)")


def require(name: str) -> str:
    if name not in request.args:
        raise InvalidQuery(reason=f"'{name}' is a required property")
    return request.args[name]


def is_uuid(value: str) -> bool:
    try:
        uuidlib.UUID(value)
    except ValueError:
        return False
    return True


def uuid_value(value: str) -> str:
    """``value`` in the dashed lower-case form ids are stored in; Placement's 400 when it is no uuid."""
    if not is_uuid(value):
        raise InvalidQuery(reason=f"'{value[:64]}' is not a 'uuid'")
    return str(uuidlib.UUID(value))


def member_of(values: list[str]) -> list[set[str]]:
    """``member_of`` (1.3): one aggregate uuid, or ``in:`` and several; each value a set any of which will do.
    Several ``member_of`` (1.24) and forbidden ones (``!``, 1.32) come with versions this API does not serve."""
    if len(values) > 1:
        raise BadRequest("Multiple member_of parameters are not supported")
    found = []
    for value in values:
        if value.startswith("!"):
            raise BadRequest("Forbidden member_of parameters are not supported in the specified microversion")
        if "," in value and not value.startswith("in:"):
            raise BadRequest(
                "Multiple values for 'member_of' must be prefixed with the 'in:' or '!in:' keyword using the valid "
                f"microversion. Got: {value[:200]}"
            )
        wanted = set(value.removeprefix("in:").split(","))
        for aggregate in wanted:
            if not is_uuid(aggregate):
                raise InvalidQuery(
                    reason=f"Expected 'member_of' parameter to contain valid UUID(s). Got: {aggregate[:64]}"
                )
        found.append(wanted)
    return found


def resources(value: str) -> dict[str, int]:
    """``resources`` (1.4): ``VCPU:2,MEMORY_MB:1024``, each class one this cloud has, each amount at least 1."""
    if not value.strip():
        raise BadRequest(f"Badly formed resources parameter. Expected resources query string parameter in form: "
                         f"{RESOURCES_FORM}. Got: empty string.")  # fmt: skip
    found: dict[str, int] = {}
    for part in value.split(","):
        name, colon, amount = part.partition(":")
        if not colon or ":" in amount:
            raise BadRequest(f"Badly formed resources parameter. Expected resources query string parameter in "
                             f"form: {RESOURCES_FORM}. Got: {part[:64]}.")  # fmt: skip
        try:
            number = int(amount)
        except ValueError:
            raise BadRequest(
                f"Requested resource {name[:64]} expected positive integer amount. Got: {amount[:64]}."
            ) from None
        if number < 1:
            raise BadRequest(f"Requested resource {name[:64]} requires amount >= 1. Got: {number}.")
        if name not in RESOURCE_CLASSES:
            raise BadRequest(f"Invalid resource class in resources parameter: No such resource class {name[:64]}.")
        found[name] = number
    return found


@dataclass(frozen=True)
class ProviderFilters:
    name: str | None = None
    uuid: str | None = None
    member_of: tuple[frozenset[str], ...] = ()
    resources: tuple[tuple[str, int], ...] = ()
