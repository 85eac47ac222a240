"""Compute API microversions: negotiated per request, echoed on every response (errors too).

Clients ask with ``OpenStack-API-Version: compute X.Y`` (or the older ``X-OpenStack-Nova-API-Version: X.Y``);
no header means 2.1, ``latest`` means the maximum. Views ask ``at_least("2.19")`` to decide which fields a
response carries, so each microversion shows exactly the fields Nova's api-ref lists for it. One rule applies to
every GET at once and lives here: from 2.102 a query parameter the resource does not know is a 400
(``api.compute.query_rules``).
"""

from __future__ import annotations

import functools
import re
from contextvars import ContextVar

from flask import Flask, Response, g, request

from api.compute import query_rules
from common.exceptions import BadRequest, StratusError

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 104)
_VERSION = re.compile(r"^(\d+)\.(\d+)$")


class VersionNotSupported(StratusError):
    msg_fmt = "Version {version} is not supported by the API. Minimum is {minimum} and maximum is {maximum}."
    code = 406
    title = "Not Acceptable"


def as_text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _requested() -> str | None:
    for name, value in request.headers.items():
        if name.lower() == "openstack-api-version":
            for part in value.split(","):
                service, _, version = part.strip().partition(" ")
                if service.lower() == "compute":
                    return version.strip()
    return request.headers.get("X-OpenStack-Nova-API-Version")


def negotiate() -> tuple[int, int]:
    raw = _requested()
    if raw is None:
        return MIN_VERSION
    if raw.strip().lower() == "latest":
        return MAX_VERSION
    match = _VERSION.match(raw.strip())
    version = (int(match.group(1)), int(match.group(2))) if match else None
    if version is None or not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionNotSupported(version=raw, minimum=as_text(MIN_VERSION), maximum=as_text(MAX_VERSION))
    return version


# The request's version where a context variable finds it in a few nanoseconds: a 1,000-server listing asks for
# it about 30,000 times, and Flask's ``g`` (a proxy) took a tenth of the listing's time. Cleared at the end of
# every request (``register``): a worker thread's context outlives its requests. ``g`` stays the record.
_REQUEST_VERSION: ContextVar[tuple[int, int] | None] = ContextVar("compute_version", default=None)


def current() -> tuple[int, int]:
    version = _REQUEST_VERSION.get()
    if version is not None:
        return version
    version = g.get("compute_version")
    if version is None:
        g.compute_version = MIN_VERSION
        version = g.compute_version = negotiate()
    _REQUEST_VERSION.set(version)
    return version


def _forget(_: BaseException | None) -> None:
    _REQUEST_VERSION.set(None)


@functools.cache
def _parsed(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def at_least(version: str) -> bool:
    """Asked about thirty times per server of a listing: the version given is parsed once per process."""
    return current() >= _parsed(version)


def _is_compute() -> bool:
    return request.path.startswith("/compute/v2.1")


def _negotiate_early() -> None:
    if _is_compute():
        current()


def _refuse_unknown_query() -> None:
    """2.102: Nova's query schemas no longer let an unknown parameter through (before, it was dropped)."""
    if not _is_compute() or request.method not in ("GET", "HEAD") or request.url_rule is None:
        return
    if request.args and at_least("2.102"):
        name = query_rules.unexpected(request.url_rule.rule, request.args)
        if name is not None:
            raise BadRequest(query_rules.message(name))


def _echo(response: Response) -> Response:
    if _is_compute():
        version = as_text(g.get("compute_version", MIN_VERSION))
        response.headers["OpenStack-API-Version"] = f"compute {version}"
        response.headers["X-OpenStack-Nova-API-Version"] = version
        response.headers.add("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")
    return response


def register(app: Flask) -> None:
    app.before_request(_negotiate_early)
    app.before_request(_refuse_unknown_query)
    app.after_request(_echo)
    app.teardown_request(_forget)
