"""Reclaiming soft-deleted servers: Nova's ``_reclaim_queued_deletes``.

With ``reclaim_instance_interval`` > 0 a user's delete only powers the server off (SOFT_DELETED, everything kept,
``restore`` brings it back); this periodic task deletes for good every server soft-deleted longer ago than the
interval, through the one delete workflow (``compute.delete``): the same claim, the host destroys the guest and
its report frees everything; a host that is down is not waited for.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from compute import actions, client, delete, service
from compute.control.context import ComputeControl
from compute.models import ComputeHost, Instance
from compute.states import VmState
from network import client as network_client

LOG = logging.getLogger(__name__)
REQUEST_ID = "req-reclaim"


def reclaim(control: ComputeControl) -> int:
    """Delete every server soft-deleted more than ``reclaim_instance_interval`` seconds ago; returns how many."""
    interval = control.settings.reclaim_instance_interval
    if interval <= 0:
        return 0
    before = service.now() - timedelta(seconds=interval)
    with control.db.session() as session:
        due = list(
            session.scalars(
                select(Instance.id).where(
                    Instance.deleted.is_(False),
                    Instance.vm_state == VmState.SOFT_DELETED.value,
                    Instance.task_state.is_(None),
                    Instance.soft_deleted_at <= before,
                )
            )
        )
    return sum(reclaim_one(control, instance_id) for instance_id in due)


def reclaim_one(control: ComputeControl, instance_id: str, request_id: str = REQUEST_ID) -> bool:
    """Delete one soft-deleted server now (the periodic reclaim, and what ``forceDelete`` asks of a host)."""
    down_after = timedelta(seconds=control.settings.compute_host_down_after)
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.deleted or instance.vm_state != VmState.SOFT_DELETED:
            return False
        accepted = delete.request(
            session, instance, lambda host: service.host_is_up(session.get(ComputeHost, host), down_after), control.app
        )
        if accepted is None:
            return False
        actions.record_action(session, instance, "delete", request_id, instance.user_id, instance.project_id)
    if accepted.destroy_on:
        client.agent_destroy(control.app, accepted.destroy_on, instance_id, request_id)
    network_client.networks_changed(control.app, accepted.networks, request_id)
    LOG.info("reclaimed soft-deleted server %s", instance_id)
    return True
