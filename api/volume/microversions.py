"""Block Storage API microversions: negotiated per request on ``/volume/v3``, echoed on every answer (errors too).

Clients ask with ``OpenStack-API-Version: volume 3.Y``; no header means 3.0, ``latest`` the maximum; a version
outside 3.0..``MAX_VERSION`` is Cinder's 406, a header that is no version at all its 400.

Why 3.70: every change up to it that touches a resource this API serves is implemented — the volume view's
fields per version (``group_id`` 3.13, ``provider_id`` 3.21, ``shared_targets``/``service_uuid`` 3.48,
``cluster_name`` 3.61, ``volume_type_id`` 3.63, ``encryption_key_id`` 3.64 (never: no encryption),
``consumes_quota`` 3.65, ``shared_targets`` may be null 3.69), the upload's ``visibility``/``protected`` (3.1),
strict ``bootable`` filters (3.2), ``glance_metadata`` filters (3.4), the volume summary (3.12, metadata 3.36),
metadata ETags (3.15), ``force`` delete (3.23), attachments (3.27, ``os-complete`` 3.44, ``mode`` 3.54),
snapshot sorting and metadata filters (3.22, 3.30), rejected unknown filters (3.31), ``~`` like filters (3.34),
``/limits?project_id`` (3.39), ``user_id`` in snapshots (3.41), extending attached volumes (3.42),
``with_count`` (3.45), time comparison filters (3.60), snapshots of an in-use volume without ``force`` (3.66), URLs
without a project id (3.67), and backups' changes (update 3.9, project 3.18, sorting by ``name`` 3.37, metadata
3.43, availability zone 3.51, ``user_id`` 3.56, ``encryption_key_id`` 3.64). Resources this cloud does not offer
(groups, group types, clusters, transfers, manageable volumes, QoS and encryption specs, messages, backup record
export and import) answer 404 at every version, and
actions it does not offer (``os-reimage`` 3.68, ``os-revert`` 3.40, ``os-retype``, migrations, the 3.71
``os-extend_volume_completion`` Nova sends, which our compute does in-process) answer 400 naming the action, as
Cinder does when a backend cannot do something.
"""

from __future__ import annotations

import re

from flask import Flask, Response, g, request

from common.exceptions import BadRequest, StratusError

PREFIX = "/volume/v3"
MIN_VERSION = (3, 0)
MAX_VERSION = (3, 70)
_VERSION = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


class VersionNotSupported(StratusError):
    msg_fmt = "Version {version} is not supported by the API. Minimum is {minimum} and maximum is {maximum}."
    code = 406
    title = "Not Acceptable"


class InvalidVersion(BadRequest):
    msg_fmt = "API Version String {version} is of invalid format. Must be of format MajorNum.MinorNum."


def as_text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def requested(headers: dict[str, str] | None = None) -> str | None:
    """The version the request asks for in ``OpenStack-API-Version`` (``volume 3.42``, among other services)."""
    for name, value in (headers if headers is not None else request.headers).items():
        if name.lower() == "openstack-api-version":
            for part in value.split(","):
                service, _, version = part.strip().partition(" ")
                if service.lower() in ("volume", "block-storage"):
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
        raise VersionNotSupported(version=raw, minimum=as_text(MIN_VERSION), maximum=as_text(MAX_VERSION))
    return version


def current() -> tuple[int, int]:
    if "volume_version" not in g:
        g.volume_version = MIN_VERSION  # what an error about the header itself is answered at
        g.volume_version = parse(requested())
    return g.volume_version


def at_least(version: str) -> bool:
    major, minor = version.split(".")
    return current() >= (int(major), int(minor))


def _is_volume() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def _negotiate_early() -> None:
    if _is_volume():
        current()


def _echo(response: Response) -> Response:
    if _is_volume():
        response.headers["OpenStack-API-Version"] = f"volume {as_text(g.get('volume_version', MIN_VERSION))}"
        response.headers.add("Vary", "OpenStack-API-Version")
    return response


def register(app: Flask) -> None:
    app.before_request(_negotiate_early)
    app.after_request(_echo)
