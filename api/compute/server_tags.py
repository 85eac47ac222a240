"""``/servers/{id}/tags`` (microversion 2.26): a server's simple string tags, and the list filters that use them.

Tags live on the instance (``Instance.tags``, a JSON list kept in the order they were added, without duplicates).
A write reads the row ``FOR UPDATE`` so two concurrent tag requests cannot lose each other's tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.compute.microversions import at_least
from api.context import RequestContext, current
from api.runtime import runtime
from api.validation import validate, validated_body
from common.exceptions import BadRequest, Conflict, NotFound
from compute.models import Instance
from compute.states import VmState

bp = Blueprint("compute_server_tags", __name__, url_prefix="/compute/v2.1")

MAX_TAGS = 50
TAG = {"type": "string", "minLength": 1, "maxLength": 60, "pattern": "^[^,/]*$"}
TAGS = {"type": "array", "items": TAG, "maxItems": MAX_TAGS}
TAGS_BODY = {
    "type": "object",
    "properties": {"tags": TAGS},
    "required": ["tags"],
    "additionalProperties": False,
}
# Nova's states in which a server's tags may change: not while it builds, is in error or waits for a resize.
_WRITABLE = {VmState.ACTIVE.value, VmState.PAUSED.value, VmState.SUSPENDED.value, VmState.STOPPED.value}
_WRITABLE |= {"shelved", "shelved_offloaded"}


def _require_version() -> None:
    """Below 2.26 the resource does not exist (Nova's 404 for an unknown route)."""
    if not at_least("2.26"):
        raise NotFound("The resource could not be found.")


def _server(session: Session, ctx: RequestContext, server_id: str, for_update: bool = False) -> Instance:
    query = select(Instance).where(Instance.id == server_id, Instance.deleted.is_(False))
    if not ctx.is_admin:
        query = query.where(Instance.project_id == ctx.project_id)
    if for_update:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none() if len(server_id) <= 36 else None
    if found is None:
        raise NotFound(f"Instance {server_id} could not be found.")
    return found


def _writable(session: Session, server_id: str) -> Instance:
    ctx = current()
    instance = _server(session, ctx, server_id, for_update=True)
    policy.enforce("compute:server_tags:write", {"project_id": instance.project_id})
    if instance.vm_state not in _WRITABLE:
        raise Conflict(f"Cannot 'update tags' instance {server_id} while it is in vm_state {instance.vm_state}")
    return instance


def deduplicated(tags: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def check_tag(tag: str) -> str:
    """A tag from a URL: the same rules as in a body (the URL decoding already happened)."""
    validate(tag, TAG)
    return tag


@bp.get("/servers/<server_id>/tags")
def list_tags(server_id: str) -> Response:
    _require_version()
    ctx = policy.enforce("compute:server_tags:read")
    with runtime().db.session() as session:
        return jsonify({"tags": list(_server(session, ctx, server_id).tags or [])})


@bp.put("/servers/<server_id>/tags")
def replace_tags(server_id: str) -> Response:
    _require_version()
    tags = deduplicated(validated_body(TAGS_BODY)["tags"])
    with runtime().db.session() as session:
        instance = _writable(session, server_id)
        instance.tags = tags
    return jsonify({"tags": tags})


@bp.delete("/servers/<server_id>/tags")
def delete_tags(server_id: str) -> Response:
    _require_version()
    with runtime().db.session() as session:
        _writable(session, server_id).tags = []
    return Response(status=204)


@bp.get("/servers/<server_id>/tags/<path:tag>")
def check_tag_exists(server_id: str, tag: str) -> Response:
    _require_version()
    ctx = policy.enforce("compute:server_tags:read")
    with runtime().db.session() as session:
        if tag not in (_server(session, ctx, server_id).tags or []):
            raise NotFound(f"Tag {tag} could not be found for instance {server_id}.")
    return Response(status=204)


@bp.put("/servers/<server_id>/tags/<path:tag>")
def add_tag(server_id: str, tag: str) -> Response:
    """201 when the tag is new, 204 when the server already had it, both with the tag's Location (Nova)."""
    _require_version()
    check_tag(tag)
    with runtime().db.session() as session:
        instance = _writable(session, server_id)
        tags = list(instance.tags or [])
        if tag in tags:
            response = Response(status=204)
            response.headers["Location"] = request.base_url  # Nova names the tag on both answers
            return response
        if len(tags) >= MAX_TAGS:
            raise BadRequest(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
        instance.tags = [*tags, tag]
    response = Response(status=201)
    response.headers["Location"] = request.base_url
    return response


@bp.delete("/servers/<server_id>/tags/<path:tag>")
def delete_tag(server_id: str, tag: str) -> Response:
    _require_version()
    with runtime().db.session() as session:
        instance = _writable(session, server_id)
        tags = list(instance.tags or [])
        if tag not in tags:
            raise NotFound(f"Tag {tag} could not be found for instance {server_id}.")
        instance.tags = [t for t in tags if t != tag]
    return Response(status=204)


# --- listing filters -------------------------------------------------------------------------------------------

_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")


def _wanted(raw: str) -> set[str]:
    return {t for t in (part.strip() for part in raw.split(",")) if t}


def matches(tags: Iterable[str] | None, args: Any) -> bool:
    """Nova's four tag filters of ``GET /servers``: ``tags`` (all of), ``tags-any`` (one of), ``not-tags`` (not
    all of) and ``not-tags-any`` (none of); each a comma-separated list, every given filter must hold."""
    have = set(tags or [])
    for name in _FILTERS:
        if name not in args:
            continue
        wanted = _wanted(args[name])
        if not wanted:
            continue
        if name == "tags" and not wanted <= have:
            return False
        if name == "tags-any" and not wanted & have:
            return False
        if name == "not-tags" and wanted <= have:
            return False
        if name == "not-tags-any" and wanted & have:
            return False
    return True


def filters_asked(args: Any) -> bool:
    """Whether a listing filters by tags (from 2.26; older requests ignore the filters, as Nova)."""
    return at_least("2.26") and any(name in args for name in _FILTERS)


def filter_listing(instances: list[Instance], args: Any) -> list[Instance]:
    """The instances a listing keeps under the tag filters; they need their ``tags``."""
    if not filters_asked(args):
        return instances
    return [i for i in instances if matches(i.tags, args)]


def for_create(body: dict[str, Any]) -> list[str]:
    """The tags a server create asks for: from 2.52 (before, the schema refuses the key)."""
    tags = body.get("tags")
    if tags is None:
        return []
    if not at_least("2.52"):
        raise BadRequest("Invalid input for field/attribute server. Additional properties are not allowed ('tags').")
    validate(tags, TAGS)
    return deduplicated(tags)
