"""Starting a server action: the one request flow every action follows.

Check the state table, claim the task with the compare-and-swap every action uses (``compute.actions.claim``:
on the vm_state and ``task_state IS NULL`` it was read in; a lost race is a 409), write whatever the action
changes of the server in the same statement, record the user-visible action, commit, and only then send the
task; the handler answers 202. The host reports the outcome, which ends the task. The delete takes the same
claim (``compute.delete``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from api import policy
from api.broker import require_broker, send_after_commit
from api.compute import lookups
from api.context import RequestContext
from api.runtime import runtime
from common.exceptions import Conflict
from compute import actions, client
from compute.models import Instance
from compute.states import allowed, server_status

Changes = Callable[[Session, Instance], dict[str, Any]]


def conflict(instance: Instance, action: str) -> Conflict:
    status = server_status(instance.vm_state, instance.task_state)
    state = f"vm_state {instance.vm_state}" + (f", task_state {instance.task_state}" if instance.task_state else "")
    return Conflict(f"Cannot '{action}' instance {instance.id} while it is in {state} ({status}).")


def claim_task(ctx: RequestContext, server_id: str, action: str, event: str, changes: Changes | None = None) -> str:
    """Claim ``action`` on the server (409 if not allowed now), applying ``changes`` in the same transaction;
    ``changes`` runs after the state check and may raise (a 400 leaves the server untouched). Returns the host."""
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:action", {"project_id": instance.project_id})
        if instance.locked and not ctx.is_admin:
            raise Conflict(f"Instance {server_id} is locked.")
        if not allowed(action, instance.vm_state, instance.task_state) or not instance.host:
            raise conflict(instance, event)
        values = changes(session, instance) if changes else {}
        if not actions.claim(session, instance, action, **values):
            raise conflict(instance, event)
        require_broker("compute")  # last, before the commit: a refusal leaves the server untouched
        actions.record_action(session, instance, event, ctx.request_id, ctx.user_id, ctx.project_id)
        return instance.host


def start_task(ctx: RequestContext, server_id: str, action: str, event: str, **params: Any) -> str:
    """Claim the action and send it straight to the server's host. Returns the host."""
    host = claim_task(ctx, server_id, action, event)
    send_after_commit(client.agent_action, runtime().celery, host, server_id, action, ctx.request_id, **params)
    return host
