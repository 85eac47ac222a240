"""Turns the request's ``X-Auth-Token`` into a RequestContext, lazily: only handlers that ask pay for it."""

from __future__ import annotations

import dataclasses
import logging
import uuid

from flask import Flask, Response, g, request

from api.context import RequestContext
from api.runtime import runtime
from common.accounts import HOST_ROLE
from common.exceptions import Unauthorized
from common.hostauth import ForgedRequest
from identity.application_credentials import permits
from identity.cache import Snapshot
from identity.tokens import ValidatedToken

LOG = logging.getLogger(__name__)


def context_from_token(request_id: str, token: ValidatedToken) -> RequestContext:
    return RequestContext(
        request_id=request_id,
        user_id=token.user.id,
        user_name=token.user.name,
        user_domain_id=token.user.domain.id,
        project_id=token.project.id if token.project else None,
        project_name=token.project.name if token.project else None,
        project_domain_id=token.project.domain.id if token.project else None,
        domain_id=token.domain.id if token.domain else None,
        roles=frozenset(r.name for r in token.roles),
        token_audit_id=token.payload.audit_ids[0],
        system=token.system,
    )


def authenticate() -> RequestContext:
    """The caller's context; an invalid token raises 401 here, a missing one gives an anonymous context."""
    request_id = g.request_id
    token_id = request.headers.get("X-Auth-Token")
    if not token_id:
        return RequestContext(request_id=request_id)
    rt = runtime()
    token = rt.tokens.validate(rt.db, token_id, snapshot=identity_snapshot())
    within_access_rules(token)
    ctx = context_from_token(request_id, token)
    if ctx.has_role(HOST_ROLE):
        ctx = dataclasses.replace(ctx, host=verified_host(request_id))
    return ctx


# The service types a path's first segment serves, as the catalog lists them (``identity.catalog``).
SERVICE_TYPES: dict[str, tuple[str, ...]] = {
    "identity": ("identity",),
    "compute": ("compute",),
    "network": ("network",),
    "image": ("image",),
    "volume": ("block-storage", "volumev3", "volume"),
    "placement": ("placement",),
}


def within_access_rules(token: ValidatedToken) -> None:
    """A token of an application credential with access rules reaches only what they allow: 401 otherwise, as
    keystonemiddleware answers. Rule paths are below the service's root and name the version (``/v2.1/servers``)."""
    credential = token.application_credential
    if credential is None or not credential.access_rules:
        return
    segment, _, rest = request.path.lstrip("/").partition("/")
    if not permits(credential.access_rules, SERVICE_TYPES.get(segment, ()), request.method, "/" + rest):
        raise Unauthorized("The request is not allowed by the access rules of the token's application credential.")


def verified_host(request_id: str) -> str | None:
    """The compute host a host-role request proves it comes from (``common.hostauth``); None when it names none.
    A signature that does not verify is refused with 401 and logged: the agent's log then says why (a clock
    that drifted, a key file of another host) instead of a 404 for an image it should see."""
    try:
        return runtime().host_verifier.verify(
            request.headers, request.method, request.script_root + request.path, request.query_string.decode("latin-1")
        )
    except ForgedRequest as exc:
        LOG.warning("[%s] refused a host-signed %s %s: %s", request_id, request.method, request.path, exc)
        raise Unauthorized(f"The host signature of this request is not valid: {exc}") from None


def identity_snapshot() -> Snapshot:
    """One identity snapshot per request: every token it validates costs at most one generation read."""
    if "identity_snapshot" not in g:
        rt = runtime()
        g.identity_snapshot = rt.tokens.snapshot(rt.db)
    return g.identity_snapshot


def _start_request() -> None:
    incoming = request.headers.get("X-OpenStack-Request-ID", "")
    valid = incoming.startswith("req-") and len(incoming) == 40
    g.request_id = incoming if valid else f"req-{uuid.uuid4()}"


def _tag_response(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers["X-OpenStack-Request-ID"] = request_id
        response.headers["X-Compute-Request-Id"] = request_id
    return response


def register(app: Flask) -> None:
    app.before_request(_start_request)
    app.after_request(_tag_response)
    app.extensions["stratus.authenticate"] = authenticate
