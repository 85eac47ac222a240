"""Deleting a server: the one workflow, in both processes that run a part of it.

1. **The request** (API process, ``request``): the delete takes its task, ``deleting``, through the same
   compare-and-swap as every other action (``compute.actions.claim``); the table lets it start in any state but
   deleted and during any task, as Nova does. Then, by where the server is:
   - its host is up: the host is told to destroy the guest (after the commit) and reports back;
   - it waits for placement (``scheduling``): the build finishes the delete when it runs;
   - otherwise (no host, or a host that is down): it is finished at once (``finish``); a host that comes back
     destroys the orphan guest itself (``compute.control.hosts``).
   A delete that loses the race to another delete or to a host's report reads the server again and tries again:
   two deletes of one server both succeed, and a server that is already gone needs nothing more.
2. **The host's report** (scheduler, ``destroyed``): the guest is gone, so everything is freed (``finish``).
3. **The safety net** (scheduler, ``compute.control.sweeper`` by ``compute.states.STUCK_RULES``): a delete whose
   host went down is finished; one whose host is up but silent is sent again, once (``resend_destroy``).
4. A build, a failed build or a failed spawn that finds its server being deleted finishes the delete instead.

Why here and not in ``compute.control``: the API finishes deletes in its own transaction (a user's delete of a
server no host will answer for must not wait on a queue), and the API never imports the control side. This
module therefore imports only compute's shared modules and network's in-process interface (``network.vif``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from celery import Celery
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from common.db import Database
from compute import actions, client, moves, volumes
from compute.models import Allocation, Instance, ServerGroupMember, ports_of
from compute.service import now, swap
from compute.states import TRANSITIONS, Action, TaskState, VmState
from image import client as image_client
from network import client as network_client
from network import vif

LOG = logging.getLogger(__name__)
DELETE = TRANSITIONS[Action.DELETE]
CLAIM_ATTEMPTS = 5
"""A delete re-reads and claims again after a lost race; each loss means another writer moved the server on, so
a few attempts always suffice unless something rewrites the row in a loop."""


class Worker(Protocol):
    """What the scheduler-side steps need of their worker (``compute.control.context.ComputeControl`` is one)."""

    @property
    def db(self) -> Database: ...

    @property
    def app(self) -> Celery: ...


@dataclass(frozen=True)
class Accepted:
    """What the request must do once its transaction commits."""

    destroy_on: str | None = None
    """The host to tell to destroy the guest (None: no host will answer for it)."""
    networks: list[str] = field(default_factory=list)
    """Networks whose hosts must be told their ports changed (the delete was finished at once)."""


def request(
    session: Session, instance: Instance, host_up: Callable[[str], bool], app: Celery | None = None
) -> Accepted | None:
    """Claim the delete of ``instance`` (as read in ``session``) and finish what can be finished now.

    ``host_up`` says whether a host counts as up (``compute.service.host_is_up``). Returns what to send after the
    commit, or None if the claim kept losing (the caller answers 409). A server deleted meanwhile by another
    request is an ``Accepted`` with nothing to do: a delete is idempotent."""
    for _ in range(CLAIM_ATTEMPTS):
        if instance.deleted:
            return Accepted()
        if actions.claim(session, instance, Action.DELETE):
            return _after_claim(session, instance, bool(instance.host) and host_up(instance.host or ""), app)
        session.refresh(instance)  # someone else moved it: read it again and decide again
    LOG.warning("delete of %s kept losing its claim to other writers", instance.id)
    return None


def _after_claim(session: Session, instance: Instance, host_up: bool, app: Celery | None) -> Accepted:
    if host_up and instance.host:
        return Accepted(destroy_on=instance.host)
    if instance.task_state == TaskState.SCHEDULING:
        return Accepted()  # the build finishes the delete when it runs
    return Accepted(networks=finish(session, instance.id, app))


def finish(session: Session, instance_id: str, app: Celery | None = None, request_id: str = "") -> list[str]:
    """The guest is gone from its host (or never reached one): free everything and mark the server deleted.
    Returns the networks its ports were on (send ``network.client.networks_changed`` after the commit). Its
    volumes are detached, and those to delete with it start deleting; with ``app`` that work is sent when the
    transaction commits (``compute.volumes.release``)."""
    networks = release_ports(session, instance_id)
    volumes.release(session, instance_id, app, request_id)
    _drop_shelved_image(session, instance_id, app, request_id)
    _end_move(session, instance_id, app, request_id)
    swap(
        session,
        instance_id,
        {},
        vm_state=(DELETE.on_success[0] if DELETE.on_success else VmState.DELETED).value,
        task_state=None,
        power_state=0,
        deleted=True,
        deleted_at=now(),
        terminated_at=now(),
    )
    session.execute(sql_delete(Allocation).where(Allocation.instance_id == instance_id))
    session.execute(sql_delete(ServerGroupMember).where(ServerGroupMember.instance_id == instance_id))
    return networks


def _drop_shelved_image(session: Session, instance_id: str, app: Celery | None, request_id: str) -> None:
    """A shelved server's image goes with it, as Nova deletes it (sent when the transaction commits)."""
    instance = session.get(Instance, instance_id)
    image_id = instance.shelved_image_id if instance is not None else None
    if image_id and app is not None:
        volumes.send_after_commit(session, lambda: image_client.delete_server_snapshot(app, image_id, request_id))


def _end_move(session: Session, instance_id: str, app: Celery | None, request_id: str) -> None:
    """A move under way ends with the server; a cold move's copy on its other host goes too (sent at commit)."""
    instance = session.get(Instance, instance_id)
    others = moves.end_with_server(session, instance) if instance is not None else []
    for host in others if app is not None else []:
        volumes.send_after_commit(
            session,
            lambda host=host: client.agent_action(app, host, instance_id, "destroy_moved", request_id),  # type: ignore[arg-type]
        )


def release_ports(session: Session, instance_id: str) -> list[str]:
    """Delete the ports the server's create made, detach the ones the user brought (``preserve``); returns the
    networks whose hosts must be told. Also what a failed build frees (``compute.control.build.fail_build``)."""
    instance = session.get(Instance, instance_id)
    if instance is None:
        return []
    preserved = [entry["port_id"] for entry in ports_of(instance) if entry.get("preserve")]
    return vif.release_ports(session, instance_id, instance.project_id, preserved)


def destroyed(worker: Worker, instance_id: str, host: str, request_id: str) -> str:
    """The host reports the guest destroyed: finish the delete. A host is heard only about its own servers."""
    with worker.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.deleted:
            return "already deleted"
        if actions.reported_elsewhere(instance, host, "the destruction"):
            return "ignored: the instance lives elsewhere"
        actions.record_event(session, instance_id, request_id, "compute_terminate_instance", "Success", host)
        networks = finish(session, instance_id, worker.app, request_id)
    network_client.networks_changed(worker.app, networks, request_id)
    return "deleted"


def resend_destroy(app: Celery, host: str, instance_id: str, request_id: str = "req-sweeper") -> None:
    """Ask the host again to destroy the guest (its first message or the answer was lost; destroy is idempotent)."""
    client.agent_destroy(app, host, instance_id, request_id)


def deleting(instance: Instance) -> bool:
    """Whether a delete has been accepted for the server: the workflow that meets it finishes the delete."""
    return instance.task_state == DELETE.task_state
