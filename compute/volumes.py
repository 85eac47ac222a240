"""A server's volumes: its block device mappings, asking its host to attach, detach or grow one, and letting them
go when the server does. Run in the API (the requests) and the scheduler (a build's root volume, a delete).

Why no task state: as in Nova, attaching or detaching a volume does not hold the server's ``task_state``; the
volume's own status (``reserved``, ``attaching``, ``detaching``, ``extending``) is the claim, taken by
``volume.service`` with its compare-and-swap, so a server may be stopped or rebooted while a volume is plugged in
(the host's driver works on a running and a stopped guest alike), and two attaches of one volume cannot both
win. The server's row is still compare-and-swapped on the state the request read (``_hold``), so an attach never
commits beside a delete that has already let the server's volumes go. The actions' rows in
``compute.states.TRANSITIONS`` say in which vm_states they may start (Nova's lists; not ``suspended``: a saved
memory image would not match a changed set of disks).

Each request writes everything in the caller's transaction and returns a :class:`HostWork` the caller sends once
it has committed; the host reports with ``ACTION_DONE`` and ``compute.control.volume_events`` ends the work.

A snapshot of an attached volume whose backend cannot read it beside the guest (a qcow2 file QEMU holds locked)
is taken by the server's host, as Cinder's remotefs drivers ask Nova (os-assisted-volume-snapshots): the volume
service names the target file, the host copies the disk at one instant while the guest runs, and the snapshot's
own status (``creating``) is the claim.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from common.exceptions import BadRequest, Conflict, NotFound
from common.settings import Settings
from compute import actions, client
from compute.models import BlockDeviceMapping, Instance
from compute.service import now, swap
from compute.states import Action, VmState, allowed
from volume import client as volume_client
from volume import service as volume_service
from volume.models import Volume, VolumeAttachment, VolumeSnapshot

LOG = logging.getLogger(__name__)

DEVICE = re.compile(r"/dev/vd[b-z]")
"""Devices a volume may be attached as; ``/dev/vda`` is the root disk."""
DEVICE_NAME = re.compile(r"/dev/x?[a-z]?d?[a-z]+[0-9]*")
"""Any device name Nova's API accepts (its ``match_device``); one that is not a free ``DEVICE`` is only a wish
that Nova's libvirt driver ignores ("Ignoring supplied device name"), taking the next free virtio disk instead."""
ROOT_DEVICE = "/dev/vda"
DETACH_TIMEOUT = 60.0
"""How long a host waits for a guest to release a disk before the detach fails (the volume stays attached)."""
GiB = 1 << 30
SNAPSHOT_TIMEOUT = 1800.0
"""How long a host's copy of an attached volume may run before it is cancelled (and the snapshot fails)."""


@dataclass(frozen=True)
class HostWork:
    """An action for the server's host, sent once the transaction that asked for it has committed."""

    host: str
    instance_id: str
    action: str
    request_id: str
    params: dict[str, Any] = field(default_factory=dict)

    def send(self, app: Celery) -> None:
        if not self.host:  # a shelved-offloaded server: the work was done in the request (no guest to plug)
            return
        client.agent_action(app, self.host, self.instance_id, self.action, self.request_id, **self.params)


# -- reading ------------------------------------------------------------------------------------------------------


def mappings(session: Session, instance_id: str) -> list[BlockDeviceMapping]:
    """The server's live mappings, root first, then by device."""
    query = select(BlockDeviceMapping).where(
        BlockDeviceMapping.instance_uuid == instance_id, BlockDeviceMapping.deleted.is_(False)
    )
    found = session.scalars(query).all()
    return sorted(found, key=lambda m: (m.boot_index != 0, m.device_name or ""))


def of_servers(session: Session, instance_ids: Sequence[str]) -> dict[str, list[BlockDeviceMapping]]:
    """Live mappings of several servers at once (the server listings), by server."""
    found: dict[str, list[BlockDeviceMapping]] = {instance_id: [] for instance_id in instance_ids}
    if not instance_ids:
        return found
    query = select(BlockDeviceMapping).where(
        BlockDeviceMapping.instance_uuid.in_(list(instance_ids)), BlockDeviceMapping.deleted.is_(False)
    )
    for mapping in session.scalars(query):
        found[mapping.instance_uuid].append(mapping)
    for listed in found.values():
        listed.sort(key=lambda m: (m.boot_index != 0, m.device_name or ""))
    return found


def mapping_of(session: Session, instance_id: str, volume_id: str) -> BlockDeviceMapping | None:
    return session.scalars(
        select(BlockDeviceMapping).where(
            BlockDeviceMapping.instance_uuid == instance_id,
            BlockDeviceMapping.volume_id == volume_id,
            BlockDeviceMapping.deleted.is_(False),
        )
    ).first()


def root_mapping(session: Session, instance_id: str) -> BlockDeviceMapping | None:
    return next((m for m in mappings(session, instance_id) if m.boot_index == 0 and m.volume_id), None)


def spec_entries(session: Session, instance_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The root volume and the attached volumes as a host's spec carries them
    (``compute.host.virt.base.AttachedVolume.from_dict``)."""
    root, attached = None, []
    for mapping in mappings(session, instance_id):
        if not mapping.volume_id or not mapping.connection_info:
            continue
        entry = {"device": mapping.device_name, "serial": mapping.volume_id, "connection_info": mapping.connection_info}
        if mapping.boot_index == 0:
            root = entry
        elif mapping.attached:
            attached.append(entry)
    return root, attached


def next_device(used: set[str]) -> str:
    for letter in "bcdefghijklmnopqrstuvwxyz":
        if f"/dev/vd{letter}" not in used:
            return f"/dev/vd{letter}"
    raise BadRequest("No free disk device names for prefix 'vd'")


# -- requests -----------------------------------------------------------------------------------------------------


def _hold(session: Session, instance: Instance, action: Action) -> None:
    """409 unless ``action`` may start in the state the server was read in, and the row still is in it."""
    state = f"vm_state {instance.vm_state}" + (f", task_state {instance.task_state}" if instance.task_state else "")
    refused = Conflict(f"Cannot '{action.value}' instance {instance.id} while it is in {state}")
    offloaded = instance.vm_state == VmState.SHELVED_OFFLOADED  # no host: its spec takes the change at unshelve
    if not (instance.host or offloaded) or not allowed(action, instance.vm_state, instance.task_state):
        raise refused
    if not swap(session, instance.id, {"vm_state": instance.vm_state, "task_state": instance.task_state}):
        raise refused


def attach(
    session: Session,
    settings: Settings,
    instance: Instance,
    volume: Volume,
    device: str | None,
    request_id: str,
    user_id: str | None,
    tag: str | None = None,
) -> tuple[BlockDeviceMapping, HostWork]:
    """Reserve ``volume`` for the server (400 unless available), on ``device`` or the next free one (400 when it
    is taken), record the mapping and the ``attach_volume`` action. The caller commits, then sends the work."""
    _hold(session, instance, Action.ATTACH_VOLUME)
    used = {m.device_name for m in mappings(session, instance.id) if m.device_name}
    if device is not None and device in used:
        raise BadRequest(f"The supplied device path ({device}) is in use.")
    device = device or next_device(used | {ROOT_DEVICE})
    attachment = volume_service.reserve(session, settings, volume, instance_uuid=instance.id, mountpoint=device)
    volume_service.attaching(session, attachment, instance.host or "")
    mapping = BlockDeviceMapping(
        instance_uuid=instance.id,
        volume_id=volume.id,
        attachment_id=attachment.id,
        device_name=device,
        source_type="volume",
        destination_type="volume",
        volume_size=volume.size,
        tag=tag,
        connection_info=attachment.connection_info,
    )
    session.add(mapping)
    session.flush()  # the unique indexes speak now (a device taken by a concurrent attach), not at commit
    offloaded = instance.vm_state == VmState.SHELVED_OFFLOADED
    if offloaded:  # as Nova: attached at once, plugged in by the host the unshelve spawns it on
        volume_service.attached(session, attachment, "")
        mapping.attached = True
    actions.record_action(
        session, instance, "attach_volume", request_id, user_id, instance.project_id, finished=offloaded
    )
    params = {
        "attachment_id": attachment.id,
        "volume_id": volume.id,
        "device": device,
        "serial": volume.id,
        "connection_info": attachment.connection_info,
    }
    return mapping, HostWork(instance.host or "", instance.id, "attach_volume", request_id, params)


def detach(
    session: Session, instance: Instance, mapping: BlockDeviceMapping, request_id: str, user_id: str | None
) -> HostWork:
    """Start unplugging the volume (400 for the root volume, or a volume not attached yet), record the
    ``detach_volume`` action. The caller commits, then sends the work."""
    if mapping.boot_index == 0:
        raise BadRequest("Cannot detach a root device volume")
    _hold(session, instance, Action.DETACH_VOLUME)
    attachment = session.get(VolumeAttachment, mapping.attachment_id) if mapping.attachment_id else None
    if attachment is None or not mapping.attached:
        raise BadRequest(f"Invalid volume: Volume {mapping.volume_id} is still being attached")
    volume_service.detaching(session, attachment)
    offloaded = instance.vm_state == VmState.SHELVED_OFFLOADED
    if offloaded:  # no guest holds it: detached at once, as Nova detaches from a shelved-offloaded server
        volume_service.detached(session, attachment)
        mapping.deleted = True
    actions.record_action(
        session, instance, "detach_volume", request_id, user_id, instance.project_id, finished=offloaded
    )
    params = {
        "attachment_id": attachment.id,
        "volume_id": mapping.volume_id,
        "device": mapping.device_name,
        "timeout": DETACH_TIMEOUT,
    }
    return HostWork(instance.host or "", instance.id, "detach_volume", request_id, params)


def _plugged_into(session: Session, volume_id: str) -> tuple[BlockDeviceMapping, Instance] | None:
    """The mapping and the server the volume is plugged into, or None (not attached through a server here)."""
    mapping = session.scalars(
        select(BlockDeviceMapping).where(
            BlockDeviceMapping.volume_id == volume_id,
            BlockDeviceMapping.deleted.is_(False),
            BlockDeviceMapping.attached.is_(True),
        )
    ).first()
    instance = session.get(Instance, mapping.instance_uuid) if mapping else None
    if mapping is None or instance is None or instance.deleted:
        return None
    return mapping, instance


def extend_attached_volume(
    session: Session, volume_id: str, new_size: int, request_id: str, user_id: str | None = None
) -> HostWork:
    """The volume service accepted growing an attached volume to ``new_size`` GiB (``volume.service.extend_volume``
    returned True, the volume is ``extending``): record ``extend_volume`` on its server and return the work for
    the server's host, to send once the caller's transaction has committed. The host grows the disk under the
    running guest (which sees the new size at once) and reports; ``volume.service.extended`` ends it.
    404 when the volume is attached to no server; 409 when its server is in a state that cannot take it."""
    found = _plugged_into(session, volume_id)
    if found is None:
        raise NotFound(f"Volume {volume_id} is not attached to a server.")
    mapping, instance = found
    _hold(session, instance, Action.EXTEND_VOLUME)
    actions.record_action(session, instance, "extend_volume", request_id, user_id, instance.project_id)
    params = {"volume_id": volume_id, "device": mapping.device_name, "new_size": int(new_size)}
    return HostWork(instance.host or "", instance.id, "extend_volume", request_id, params)


def snapshot_attached_volume(
    session: Session,
    settings: Settings,
    volume: Volume,
    snapshot: VolumeSnapshot,
    request_id: str,
    user_id: str | None = None,
) -> HostWork | None:
    """A new ``creating`` snapshot of ``volume``: None when the volume service takes it (the volume is not plugged
    into a server here, or its backend snapshots a volume in use itself); else record ``snapshot_volume`` on the
    server and return the work for its host, which copies the disk at one instant into the target the volume
    service named (``volume.service.host_snapshot_target``) while the guest runs, and reports;
    ``compute.control.volume_events`` ends the snapshot. 409 when the server is in a state that cannot take it."""
    found = _plugged_into(session, volume.id)
    if found is None:
        return None
    target = volume_service.host_snapshot_target(session, settings, volume, snapshot)
    if target is None:
        return None
    mapping, instance = found
    _hold(session, instance, Action.SNAPSHOT_VOLUME)
    actions.record_action(session, instance, "snapshot_volume", request_id, user_id, instance.project_id)
    params = {
        "volume_id": volume.id,
        "snapshot_id": snapshot.id,
        "device": mapping.device_name,
        "target": target,
        "timeout": SNAPSHOT_TIMEOUT,
    }
    return HostWork(instance.host or "", instance.id, "snapshot_volume", request_id, params)


def ever_plugged(session: Session, instance_id: str, volume_id: str) -> bool:
    """Whether the volume was ever mapped to the server (a report about it may come after a detach or delete)."""
    query = select(BlockDeviceMapping.id).where(
        BlockDeviceMapping.instance_uuid == instance_id, BlockDeviceMapping.volume_id == volume_id
    )
    return session.scalars(query).first() is not None


# -- booting from a volume ----------------------------------------------------------------------------------------

VOLUME_POLL = 2.0
"""Seconds between a build's looks at the volume it waits for."""


def root_ready(session: Session, settings: Settings, instance: Instance) -> str | None:
    """Make the server's root volume ready to boot from, in the build's transaction: a volume the volume service
    has finished making is reserved for the server now. Returns None when the build may go on (no root volume,
    or it is reserved), ``"wait"`` while the volume is still being made, else why the build must fail."""
    mapping = root_mapping(session, instance.id)
    if mapping is None or mapping.attachment_id:
        return None
    volume = session.get(Volume, mapping.volume_id)
    if volume is None or volume.deleted:
        return f"Volume {mapping.volume_id} of the server's root disk is gone."
    if volume.status in ("creating", "downloading"):
        waited = (now() - instance.created_at).total_seconds()
        if waited > settings.compute_task_timeout:
            return f"Volume {volume.id} did not become available within {settings.compute_task_timeout:g} s."
        return "wait"
    if volume.status != "available":
        reason = f": {volume.error}" if volume.error else ""
        return f"Volume {volume.id} is {volume.status}, it cannot be booted from{reason}"
    attachment = volume_service.reserve(session, settings, volume, instance_uuid=instance.id, mountpoint=ROOT_DEVICE)
    mapping.attachment_id, mapping.connection_info = attachment.id, attachment.connection_info
    return None


def booted(session: Session, instance_id: str, host: str) -> None:
    """The server's host spawned it: its root volume (and any volume reserved with it) is attached now."""
    for mapping in mappings(session, instance_id):
        attachment = session.get(VolumeAttachment, mapping.attachment_id) if mapping.attachment_id else None
        if attachment is not None and not mapping.attached and mapping.boot_index == 0:
            volume_service.attached(session, attachment, host)
            mapping.attached = True


# -- letting go ---------------------------------------------------------------------------------------------------


def release(session: Session, instance_id: str, app: Celery | None = None, request_id: str = "") -> list[str]:
    """The server is gone (or its build failed): every volume it held is detached (or unreserved, if never
    plugged in) and its mapping dropped; volumes with ``delete_on_termination`` start deleting. With ``app``
    their deletion is sent once the caller's transaction commits; without, the volume service's sweeper picks
    them up. Returns the ids of the volumes being deleted."""
    deleting = []
    for mapping in mappings(session, instance_id):
        mapping.deleted = True
        attachment = session.get(VolumeAttachment, mapping.attachment_id) if mapping.attachment_id else None
        if attachment is not None:
            if attachment.attach_status in ("attached", "detaching", "error_detaching"):
                volume_service.detached(session, attachment)
            else:
                volume_service.unreserve(session, attachment, "the server was deleted")
        volume = session.get(Volume, mapping.volume_id) if mapping.volume_id else None
        if volume is not None and mapping.delete_on_termination and not volume.deleted:
            try:  # it checks before it changes anything
                volume_service.delete_volume(session, volume)
                deleting.append(volume.id)
            except Exception as exc:  # the server's delete goes on; the volume stays for its owner to delete
                LOG.warning("volume %s of server %s is kept: %s", volume.id, instance_id, exc)
    if deleting and app is not None:
        send_after_commit(session, lambda: [volume_client.delete_volume(app, v, request_id) for v in deleting])
    return deleting


def send_after_commit(session: Session, send: Any) -> None:
    """Run ``send`` once the session's transaction commits (never if it rolls back); a failure is logged."""

    def run(_session: Session) -> None:
        try:
            send()
        except Exception:
            LOG.exception("could not send volume work after commit")

    event.listen(session, "after_commit", run, once=True)
