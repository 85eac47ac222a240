"""What every Network API handler shares: the URL prefix, policy with Neutron's 403, request bodies with
Neutron's lenient conversions and ``fields=`` selection (a write's transaction and its notification after the
commit are ``api.network.unit_of_work``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Response, jsonify, request

from api import policy
from api.context import RequestContext, current
from api.validation import json_body, validate
from common.exceptions import BadRequest, Forbidden
from network.access import Caller
from network.exceptions import InvalidAttribute, PolicyNotAuthorized

PREFIX = "/network/v2.0"
TRUE_STRINGS = ("true", "1", "yes", "on")
FALSE_STRINGS = ("false", "0", "no", "off")
INT64 = 1 << 63


def enforce(action: str, target: Mapping[str, Any] | None = None) -> RequestContext:
    """``policy.enforce`` answering a refusal as Neutron does (403 ``PolicyNotAuthorized``)."""
    try:
        return policy.enforce(action, target)
    except Forbidden:
        raise PolicyNotAuthorized(action=action) from None


def caller(ctx: RequestContext) -> Caller:
    return Caller(project_id=ctx.project_id, is_admin=ctx.is_admin)


def to_bool(value: Any, field: str) -> Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in TRUE_STRINGS:
            return True
        if lowered in FALSE_STRINGS:
            return False
        raise InvalidAttribute(attribute=field, reason=f"'{value}' cannot be converted to boolean")
    return value


def to_int(value: Any, field: str) -> Any:
    """Neutron's integer conversion; a value beyond a 64-bit integer (which no column holds) is a 400 too."""
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise InvalidAttribute(attribute=field, reason=f"'{value}' is not an integer") from None
    if isinstance(value, bool):
        raise InvalidAttribute(attribute=field, reason=f"'{value}' is not an integer")
    if isinstance(value, int) and not -INT64 <= value < INT64:
        raise InvalidAttribute(attribute=field, reason=f"'{value}' is out of range")
    return value


def resource_body(
    resource: str, schema: dict[str, Any], bools: Iterable[str] = (), ints: Iterable[str] = ()
) -> dict[str, Any]:
    """``body[resource]`` converted as Neutron converts attributes ("true" and "1" are booleans, "42" is an
    integer), then checked against ``schema`` (a 400 naming the field when it does not match)."""
    return _single_body(json_body(), resource, schema, bools, ints)


def _single_body(
    body: Any, resource: str, schema: dict[str, Any], bools: Iterable[str], ints: Iterable[str]
) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get(resource), dict):
        raise BadRequest(f"Resource body required: a JSON object with a '{resource}' object.")
    rest = {k: v for k, v in body.items() if k != resource}
    return _converted(resource, body[resource], rest, schema, bools, ints)


def resource_bodies(
    resource: str, plural: str, schema: dict[str, Any], bools: Iterable[str] = (), ints: Iterable[str] = ()
) -> tuple[list[dict[str, Any]], bool]:
    """A create's items and whether the body was Neutron's bulk form (``{"networks": [{...}, ...]}``, each item
    converted and checked as ``resource_body`` does one); a single ``{"network": {...}}`` is one item."""
    body = json_body()
    if not isinstance(body, dict) or plural not in body:
        return [_single_body(body, resource, schema, bools, ints)], False
    items = body[plural]
    if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
        raise BadRequest(f"Resources required: '{plural}' must be a non-empty list of '{resource}' objects.")
    rest = {k: v for k, v in body.items() if k != plural}
    return [_converted(resource, item, rest, schema, bools, ints) for item in items], True


def created(resource: str, plural: str, views: list[dict[str, Any]], bulk: bool) -> tuple[Response, int]:
    """A create's 201: one ``{resource: view}``, or ``{plural: [views]}`` for a bulk create."""
    if not bulk:
        return single(resource, views[0], 201)
    pick = field_filter()
    return jsonify({plural: [pick(view) for view in views]}), 201


def _converted(
    resource: str,
    given: dict[str, Any],
    rest: dict[str, Any],
    schema: dict[str, Any],
    bools: Iterable[str],
    ints: Iterable[str],
) -> dict[str, Any]:
    attrs = dict(given)
    for field in bools:
        if field in attrs:
            attrs[field] = to_bool(attrs[field], field)
    for field in ints:
        if field in attrs and attrs[field] is not None:
            attrs[field] = to_int(attrs[field], field)
    validate({resource: attrs, **rest}, schema)
    return attrs


def project_of(ctx: RequestContext, attrs: dict[str, Any]) -> str | None:
    """The project a new resource is for: ``project_id`` or ``tenant_id`` in the body (which must agree), or
    the caller's. Both keys are removed from ``attrs`` and ``project_id`` set to the answer."""
    given = {attrs.pop(key) for key in ("project_id", "tenant_id") if key in attrs}
    if len(given) > 1:
        raise InvalidAttribute(attribute="project_id", reason="tenant_id and project_id do not match")
    project_id = given.pop() if given else ctx.project_id
    if not project_id:
        raise BadRequest("Use a project-scoped token, or name the project with project_id.")
    attrs["project_id"] = project_id
    return project_id


def field_filter() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``?fields=a&fields=b``: a function keeping only those attributes of a view (unknown names are ignored, as
    in Neutron). The request is read once, not once per view of a listing of thousands."""
    fields = {f for value in request.args.getlist("fields") for f in value.split(",") if f}
    if not fields:
        return _whole
    return lambda view: {k: v for k, v in view.items() if k in fields}


def _whole(view: dict[str, Any]) -> dict[str, Any]:
    return view


def selected(view: dict[str, Any]) -> dict[str, Any]:
    return field_filter()(view)


def collection(name: str, views: Iterable[dict[str, Any]], links: list[dict[str, str]]) -> Response:
    """A listing as Neutron answers it: ``{name: [views, less unasked fields], name_links: [...]}``, the links
    only when the page has any (``api.network.listing``)."""
    pick = field_filter()
    body: dict[str, Any] = {name: [pick(view) for view in views]}
    if links:
        body[f"{name}_links"] = links
    return jsonify(body)


def single(resource: str, view: dict[str, Any], status: int = 200) -> tuple[Response, int]:
    return jsonify({resource: selected(view)}), status


def current_caller() -> tuple[RequestContext, Caller]:
    ctx = current()
    return ctx, caller(ctx)
