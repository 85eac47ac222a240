"""The API's side of the broker: refuse work it could not hand on, and never fail a request that has committed.

A request whose work must be sent to a worker (build, delete on a live host, an action, an import) first asks
``require_broker``: when Redis does not answer, it is refused with a 503 before anything changes, so the caller
can simply try again. A send that fails after the commit anyway (the broker went away in between) is logged by
``send_after_commit`` instead of turning an accepted request into a 500; the state is in the database, and the
scheduler's sweeper resends builds and ends other tasks that stay in flight too long.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis

from api.runtime import runtime
from common.exceptions import ServiceUnavailable

LOG = logging.getLogger(__name__)


def require_broker(what: str) -> None:
    """Raise 503 when the broker does not answer; ``what`` names the service the request needs."""
    client = runtime().broker_pinger
    if client is None:
        return
    try:
        client.ping()
    except redis.RedisError as exc:
        LOG.warning("broker does not answer (%s); refusing a request for the %s service", exc, what)
        raise ServiceUnavailable(
            f"The {what} service cannot be reached right now; nothing was changed. Try again in a moment."
        ) from None


def send_after_commit(send: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Send a task for a change already committed; a failure is logged, never raised (see the module)."""
    try:
        send(*args, **kwargs)
    except Exception as exc:  # kombu wraps the broker's many connection errors in OperationalError and others
        LOG.warning("could not send %s%s after commit: %s", getattr(send, "__name__", send), args[1:], exc)
