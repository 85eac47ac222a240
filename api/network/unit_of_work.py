"""The shape every Network API write shares: authenticate the caller, open one transaction, fetch the record and
enforce the policy on its project, call the service layer, and only after the commit tell the network service
which networks' wiring changed.

Neutron answers a record the caller may not see with 404 and a visible one the policy refuses with 403, so the
fetch (scoped by ``network.access``) comes before the policy check. The notification goes out after the commit,
never inside the transaction (STYLE 10): a task sent before the commit could be run against the old rows, and a
transaction that fails must send nothing. A handler reads::

    with unit_of_work() as work:
        attrs = resource_body(...)
        port = work.fetch(get_port, port_id, "network:update_port")
        port = ports.update_port(work.session, work.who, port_id, attrs)
        work.notify(port.network_id)
        return single("port", port_view(port))

The view is rendered inside the block (the records are still attached); the block's end commits, then notifies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session

from api.context import RequestContext
from api.network.common import current_caller, enforce, project_of
from api.runtime import runtime
from network import client
from network.access import Caller

LOG = logging.getLogger(__name__)


class Owned(Protocol):
    """A record that belongs to a project: what the policy's ``project_id`` target is read from."""

    project_id: str


R = TypeVar("R", bound=Owned)
Lookup = Callable[[Session, Caller, str], R]
"""A ``network.access``-style fetch: the record the caller may see, or the resource's 404."""


@dataclass
class UnitOfWork:
    """One write request: who asks (``ctx``, ``who``), its transaction (``session``), and the networks to notify
    once that transaction has committed."""

    ctx: RequestContext
    who: Caller
    session: Session
    changed: list[str] = field(default_factory=list)
    routers: list[str] = field(default_factory=list)

    def fetch(self, lookup: Lookup[R], resource_id: str, action: str) -> R:
        """The record (404 when the caller cannot see it), then ``action`` enforced on its project (403)."""
        record = lookup(self.session, self.who, resource_id)
        enforce(action, {"project_id": record.project_id})
        return record

    def project_for(self, attrs: dict[str, Any], action: str) -> str | None:
        """The project a new resource is for (``common.project_of``), with the create ``action`` enforced on it."""
        project_id = project_of(self.ctx, attrs)
        enforce(action, {"project_id": project_id})
        return project_id

    def notify(self, *network_ids: str) -> None:
        """Tell the network service, after the commit, that these networks' wiring changed."""
        self.changed.extend(network_ids)

    def notify_router(self, *router_ids: str | None) -> None:
        """Tell the network service, after the commit, that these routers (their interfaces, gateway, routes or
        floating IPs) changed; None is skipped (a floating IP that had no router)."""
        self.routers.extend(r for r in router_ids if r)


@contextmanager
def unit_of_work() -> Iterator[UnitOfWork]:
    """Authenticate first (a request without a valid token is a 401 whatever its body), then one transaction;
    the notifications go out only if the block commits."""
    ctx, who = current_caller()
    with runtime().db.session() as session:
        work = UnitOfWork(ctx=ctx, who=who, session=session)
        yield work
    _notify(work.changed, ctx, client.ports_changed, client.SYNC_NETWORK)
    _notify(work.routers, ctx, client.router_changed, client.SYNC_ROUTER)


def _notify(ids: Iterable[str], ctx: RequestContext, send: Callable[[Any, str, str], None], task: str) -> None:
    """A broker that cannot be reached is logged, not answered as an error: the change is committed and the
    control side's periodic sync converges on it anyway."""
    celery = runtime().celery
    for resource_id in dict.fromkeys(ids):
        try:
            send(celery, resource_id, ctx.request_id)
        except Exception:  # the broker's many connection errors; the request itself succeeded
            LOG.warning("could not send %s for %s [%s]", task, resource_id, ctx.request_id)
