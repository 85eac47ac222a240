"""Shelving a server, taking it off its host, and bringing it back: Nova's shelve, shelve-offload and unshelve.

1. **Shelve** (the API claims ``shelving``, makes the ``<name>-shelved`` image and sends the host the work): the
   host uploads the root disk to that image (a volume-backed server has none) and powers the guest off; its report
   makes the server SHELVED (``finish_shelve``). With ``shelved_offload_time`` 0 the offload starts at once
   (``after_shelve``); with N > 0 the periodic ``offload_due`` starts it N seconds later; -1 never.
2. **Offload** (``shelving_offloading``): the host destroys the guest and its disks; its report releases the
   claim, unbinds the ports (kept, with their addresses) and clears the host (``finish_offload``).
3. **Unshelve** (``unshelving``): a server still on its host is only powered on. An offloaded one is placed again
   as a build is (``start_unshelve``, the build's claim), its ports are bound on the new host, and the host spawns
   it from the shelved image (``network_ready``, ``spawn``). Success makes it ACTIVE and deletes the image
   (``after_unshelve``); a failure leaves it SHELVED_OFFLOADED with its image, for another try.
Every step is a compare-and-swap on the state it expects: a redelivered task or a late report changes nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compute import actions, client, service
from compute.control import build, records
from compute.control.context import ComputeControl
from compute.models import Instance, ports_of
from compute.states import Action, TaskState, VmState
from image import client as image_client
from network import client as network_client
from network import vif

LOG = logging.getLogger(__name__)
SHELVED_IMAGE_KEY = "shelved_image"
"""Key of ``Instance.image_meta`` holding what the API read of the shelved image for an unshelve (its host
downloads it as a build downloads its image)."""


# --- shelve -----------------------------------------------------------------------------------------------------


def finish_shelve(session: Session, instance: Instance, power_state: int, error: str | None) -> dict[str, Any]:
    if error is not None:  # the server stays as it was; its half-made image goes (after_shelve)
        return {"shelved_image_id": None}
    return {"vm_state": VmState.SHELVED.value, "shelved_at": service.now()}


def after_shelve(
    control: ComputeControl, instance_id: str, request_id: str, error: str | None, image: str | None
) -> None:
    """After the report's commit: a failed shelve's image is deleted; a shelved server is offloaded at once when
    ``shelved_offload_time`` is 0."""
    if error is not None:
        if image:
            image_client.delete_server_snapshot(control.app, image, request_id)
        return
    if control.settings.shelved_offload_time == 0:
        client.shelve_offload(control.app, instance_id, request_id)


def start_offload(control: ComputeControl, instance_id: str, request_id: str) -> bool:
    """Claim the offload of a SHELVED server and tell its host; False when it is no longer shelved and idle."""
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.deleted or not instance.host:
            return False
        if not actions.claim(session, instance, Action.SHELVE_OFFLOAD):
            return False
        host = instance.host
    client.agent_action(control.app, host, instance_id, Action.SHELVE_OFFLOAD.value, request_id)
    return True


def offload_due(control: ComputeControl) -> int:
    """The periodic offload (``shelved_offload_time`` > 0): every server shelved for longer than that."""
    wait = control.settings.shelved_offload_time
    if wait <= 0:
        return 0
    before = service.now() - timedelta(seconds=wait)
    with control.db.session() as session:
        due = list(
            session.scalars(
                select(Instance.id).where(
                    Instance.deleted.is_(False),
                    Instance.vm_state == VmState.SHELVED.value,
                    Instance.task_state.is_(None),
                    Instance.shelved_at <= before,
                )
            )
        )
    return sum(start_offload(control, instance_id, "req-shelved-offload") for instance_id in due)


def finish_offload(session: Session, instance: Instance, power_state: int, error: str | None) -> dict[str, Any]:
    """The guest is gone from its host: no claim, no host, ports unbound (the networks are told by
    ``after_offload``)."""
    if error is not None:
        return {}  # still shelved on its host: the offload may be tried again
    records.release_resources(session, instance.id)
    return {
        "vm_state": VmState.SHELVED_OFFLOADED.value,
        "host": None,
        "taken_by": None,
        "attempts": [],
        "power_state": 0,
    }


def after_offload(
    control: ComputeControl, instance_id: str, request_id: str, error: str | None, image: str | None
) -> None:
    if error is not None:
        return
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.vm_state != VmState.SHELVED_OFFLOADED:
            return
        networks = vif.unbind_ports(session, instance_id, instance.project_id)
    network_client.networks_changed(control.app, networks, request_id)


# --- unshelve ---------------------------------------------------------------------------------------------------


def _expect_unplaced() -> dict[str, str]:
    return {"vm_state": VmState.SHELVED_OFFLOADED.value, "task_state": TaskState.UNSHELVING.value}


def start_unshelve(control: ComputeControl, instance_id: str, request_id: str) -> str:
    """Place an offloaded server being unshelved, then bind its ports there (or spawn it, without ports)."""
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.deleted or instance.host:
            return "superseded"
        if instance.vm_state != VmState.SHELVED_OFFLOADED or instance.task_state != TaskState.UNSHELVING:
            return "superseded"
        request = build.placement_request(session, instance, control.settings.compute_host_down_after)
        group_id, project_id, networked = instance.server_group_id, instance.project_id, bool(ports_of(instance))
    host, reason = build.place(control, instance_id, request, group_id, TaskState.UNSHELVING, _expect_unplaced())
    if host is None:
        if reason != "superseded":
            _fail(control, instance_id, request_id, reason, None)
        return reason
    if networked:
        network_client.bind_instance(control.app, instance_id, project_id, host, request_id)
        return f"placed on {host}, networking"
    spawn(control, instance_id, host, request_id)
    return f"placed on {host}"


def unshelving_here(control: ComputeControl, instance_id: str, host: str) -> bool:
    """Whether a "network ready" for ``instance_id`` on ``host`` belongs to an unshelve (``network_ready``)."""
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        return bool(
            instance is not None
            and not instance.deleted
            and instance.host == host
            and instance.task_state == TaskState.UNSHELVING
        )


def network_ready(
    control: ComputeControl, instance_id: str, host: str, nics: list[dict[str, Any]], request_id: str
) -> str:
    """The ports are wired on the new host: remember how to plug them, and spawn."""
    with control.db.session() as session:
        if not records.remember_nics(session, instance_id, host, TaskState.UNSHELVING, nics):
            return "superseded"
    spawn(control, instance_id, host, request_id)
    return "spawning"


def spawn(control: ComputeControl, instance_id: str, host: str, request_id: str) -> None:
    """Send the host the server's spec with the shelved image as its image (volume-backed: its root volume)."""
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None:
            return
        spec = build.instance_spec(instance)
        shelved = (instance.image_meta or {}).get(SHELVED_IMAGE_KEY)
        if shelved:
            spec["image"] = {k: shelved.get(k) for k in ("id", "disk_format", "checksum", "size", "ceph_snapshot")}
    client.agent_action(control.app, host, instance_id, Action.UNSHELVE.value, request_id, spec=spec)


def network_failed(control: ComputeControl, instance_id: str, host: str, reason: str, request_id: str) -> str:
    _fail(control, instance_id, request_id, f"The ports could not be wired on {host}: {reason}", host)
    return "error"


def _fail(control: ComputeControl, instance_id: str, request_id: str, message: str, host: str | None) -> None:
    """The unshelve is over without a guest: back to SHELVED_OFFLOADED, no claim, the image kept for a retry."""
    with control.db.session() as session:
        values = _unplaced(session, instance_id) | {"task_state": None, "vm_state": VmState.SHELVED_OFFLOADED.value}
        if service.swap(session, instance_id, {"task_state": TaskState.UNSHELVING.value}, **values):
            actions.record_event(session, instance_id, request_id, "compute_unshelve_instance", "Error", host, message)
    LOG.warning("[%s] unshelve of %s failed: %s", request_id, instance_id, message)


def _unplaced(session: Session, instance_id: str) -> dict[str, Any]:
    records.release_resources(session, instance_id)
    return {"host": None, "taken_by": None, "attempts": [], "fault": records.fault(500, "Unshelve failed")}


def give_up(session: Session, instance: Instance) -> dict[str, Any]:
    """The sweeper gives up an unshelve that never reported: an offloaded server goes back to no host and no
    claim (its image kept for another try); one still on its host stays there, shelved."""
    if instance.vm_state != VmState.SHELVED_OFFLOADED:
        return {}
    values = _unplaced(session, instance.id) | {"power_state": 0}
    del values["fault"]  # the sweeper writes its own
    return values


def finish_unshelve(session: Session, instance: Instance, power_state: int, error: str | None) -> dict[str, Any]:
    if error is None:
        meta = {k: v for k, v in (instance.image_meta or {}).items() if k != SHELVED_IMAGE_KEY}
        return {
            "vm_state": VmState.ACTIVE.value,
            "shelved_image_id": None,
            "shelved_at": None,
            "image_meta": meta,
            "launched_at": service.now(),
            "fault": None,
        }
    if instance.vm_state == VmState.SHELVED:  # still on its host: it stays shelved there
        return {}
    return _unplaced(session, instance.id) | {"vm_state": VmState.SHELVED_OFFLOADED.value, "power_state": 0}


def after_unshelve(
    control: ComputeControl, instance_id: str, request_id: str, error: str | None, image: str | None
) -> None:
    """The server runs again: its shelved image has served (Nova deletes it too). A failed unshelve keeps it."""
    if error is None and image:
        image_client.delete_server_snapshot(control.app, image, request_id)
