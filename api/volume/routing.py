"""Every Block Storage route twice: with the project id in the path (``/volume/v3/{project_id}/volumes``, what
Cinder's clients and Tempest build) and without it (``/volume/v3/volumes``, what the catalog gives; Cinder 3.67).

The project in the path says nothing the token does not: one that is not the token's is Cinder's 400
"Malformed request url", whoever asks (admins act on other projects through ``all_tenants`` and the resources'
own ids, never through the path).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, request

from api.context import current
from api.urls import public_url
from api.volume.microversions import PREFIX
from common.exceptions import BadRequest

View = Callable[..., Any]


class MalformedUrl(BadRequest):
    msg_fmt = "Malformed request url"


def route(
    bp: Blueprint, rule: str, methods: tuple[str, ...], defaults: dict[str, Any] | None = None
) -> Callable[[View], View]:
    """Register the decorated view at ``/volume/v3{rule}`` and ``/volume/v3/<project_id>{rule}`` (``defaults``:
    arguments the rule gives the view, which then has one endpoint per set of them)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def checked(*args: Any, project_id: str | None = None, **kwargs: Any) -> Any:
            if project_id is not None:
                ctx = current()
                if ctx.authenticated and project_id != ctx.project_id:
                    raise MalformedUrl()
            return view(*args, **kwargs)

        name = "_".join([view.__name__, *map(str, (defaults or {}).values())])
        options: dict[str, Any] = {"methods": list(methods)} | ({"defaults": defaults} if defaults else {})
        bp.add_url_rule(PREFIX + rule, name, checked, **options)
        bp.add_url_rule(PREFIX + "/<project_id>" + rule, name + "_in_project", checked, **options)
        return checked

    return decorate


def get(bp: Blueprint, rule: str) -> Callable[[View], View]:
    return route(bp, rule, ("GET",))


def post(bp: Blueprint, rule: str) -> Callable[[View], View]:
    return route(bp, rule, ("POST",))


def put(bp: Blueprint, rule: str) -> Callable[[View], View]:
    return route(bp, rule, ("PUT",))


def delete(bp: Blueprint, rule: str) -> Callable[[View], View]:
    return route(bp, rule, ("DELETE",))


def resource_links(collection: str, resource_id: str, project_id: str | None) -> list[dict[str, str]]:
    """Cinder's ``links`` of a resource: ``self`` under ``/v3/{project}``, ``bookmark`` without the version."""
    project = f"/{project_id}" if project_id else ""
    return [
        {"href": f"{public_url()}{PREFIX}{project}/{collection}/{resource_id}", "rel": "self"},
        {"href": f"{public_url()}/volume{project}/{collection}/{resource_id}", "rel": "bookmark"},
    ]


def request_url() -> str:
    """The absolute URL of the collection the request listed (a ``next`` link continues from it)."""
    return public_url() + request.path
