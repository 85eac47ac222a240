"""Placement microversions: negotiated per request under ``/placement``, echoed on every answer (errors too).

Clients ask with ``OpenStack-API-Version: placement 1.Y``; no header means 1.0 and ``latest`` the maximum. A header
that is no version at all is Placement's 400 "invalid version string", one outside 1.0..``MAX_VERSION`` its 406
"Unacceptable version header" (whose error carries ``min_version`` and ``max_version``, ``api.placement.errors``).

Why 1.9: the read side of every change up to it is served: the ``aggregates`` link and route (1.1: this cloud has
no host aggregates, so each provider's list is empty), the resource classes (1.2), the listing's ``member_of``
(1.3) and ``resources`` (1.4) filters, traits (1.6: a Stratus host has none) and a project's usages (1.9). 1.5, 1.7
and 1.8 change only writes, which this API refuses at every version. 1.10 brings allocation candidates, which are
not served, so the maximum stays below it.
"""

from __future__ import annotations

import re

from flask import Flask, Response, g, request

from common.exceptions import BadRequest, NotFound, StratusError

PREFIX = "/placement"
MIN_VERSION = (1, 0)
MAX_VERSION = (1, 9)
_VERSION = re.compile(r"^([1-9]\d*|0)\.([1-9]\d*|0)$")


class InvalidVersion(BadRequest):
    msg_fmt = "invalid version string: {version}"


class VersionNotAcceptable(StratusError):
    msg_fmt = "Unacceptable version header: {version}"
    code = 406
    title = "Not Acceptable"


def as_text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def requested() -> str | None:
    """The version asked for in ``OpenStack-API-Version`` (``placement 1.2``, among other services')."""
    for value in request.headers.getlist("OpenStack-API-Version"):
        for part in value.split(","):
            service, _, version = part.strip().partition(" ")
            if service.lower() == "placement":
                return version.strip()
    return None


def parse(raw: str | None) -> tuple[int, int]:
    """The version to answer at for a requested ``raw`` (None: no header)."""
    if raw is None:
        return MIN_VERSION
    if raw.lower() == "latest":
        return MAX_VERSION
    match = _VERSION.match(raw)
    if match is None:
        raise InvalidVersion(version=raw[:40])
    version = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionNotAcceptable(version=raw)
    return version


def current() -> tuple[int, int]:
    if "placement_version" not in g:
        g.placement_version = MIN_VERSION  # what an error about the header itself is answered at
        g.placement_version = parse(requested())
    return g.placement_version


def at_least(minor: int) -> bool:
    return current() >= (1, minor)


def since(minor: int) -> None:
    """A route that version 1.``minor`` introduced: Placement's 404 at the versions before it."""
    if not at_least(minor):
        raise NotFound(f"The resource could not be found: {request.path}")


def is_placement() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def _negotiate_early() -> None:
    if is_placement():
        current()


def _echo(response: Response) -> Response:
    if is_placement():
        response.headers["OpenStack-API-Version"] = f"placement {as_text(g.get('placement_version', MIN_VERSION))}"
        response.headers.add("Vary", "OpenStack-API-Version")
    return response


def register(app: Flask) -> None:
    app.before_request(_negotiate_early)
    app.after_request(_echo)
