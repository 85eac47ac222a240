"""A copy of a guest's volume at one instant, for a snapshot the volume's backend cannot take beside the guest (a
qcow2 file QEMU holds locked): the host's half of Nova's os-assisted-volume-snapshots.

A running guest's disk is copied with libvirt's backup API in push mode: ``virDomainBackupBegin`` with a
``<domainbackup mode='push'>`` naming that one disk. QEMU runs a ``blockdev-backup`` job whose copy-before-write
filter saves the old contents of every block the guest overwrites before the job has copied it, so the copy is
the disk as it was when the job began while the guest keeps running and writing. That is consistent like a power
cut at that instant: what the guest still held in its own caches is not in it. The job is watched by polling the
running backup's document, then the finished job's statistics (the agent runs no libvirt event loop; a look every
half second costs nothing beside a copy). A stopped guest's disk is nobody's: qemu-img copies it.

The copy is written under a hidden name beside the target and renamed only once complete, so an existing target
is a finished copy (a redelivered task finds it and is done), and a copy that failed, was cancelled or ran out of
time leaves no file: libvirt removes a failed job's file, and so does this module. A redelivered task that finds
its own job still running (the agent died while it waited) waits for that job instead of starting another.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import libvirt

from compute.host.virt.base import DriverError, VolumeConnection, volume_file
from compute.host.virt.libvirt import config, disks
from compute.host.virt.libvirt.guest import Guest

LOG = logging.getLogger(__name__)

SNAPSHOT_DEVICE = re.compile(r"vd[a-z]")
"""Devices whose volume may be copied: those attached volumes take (``base.VOLUME_DEVICE``) and ``vda``, the root
disk, which is a volume when the server boots from one (a snapshot of such a server copies it); the disk's serial,
checked next, must be the volume's id, which the instance's own root disk never carries."""
POLL_INTERVAL = 0.5
ABORT_WAIT = 30.0
"""How long a cancelled job may take to stop before the copy is reported failed anyway."""


def take(guest: Guest, device: str, serial: str, target: Path, volume_dir: Path, timeout: float) -> None:
    """Write the volume on ``device`` (whose serial must be ``serial``) to the new qcow2 file ``target``, which the
    caller has checked (``base.snapshot_target``) and found missing. DriverError when the copy failed, and then no
    file is left."""
    if not SNAPSHOT_DEVICE.fullmatch(device):
        raise DriverError(reason=f"/dev/{device} cannot hold a volume")
    active = guest.is_active()
    xml = guest.xml() if active else guest.xml(inactive=True)
    if config.disk_serials(xml).get(device) != serial:
        raise DriverError(reason=f"instance {guest.uuid} has no volume {serial} on /dev/{device}")
    partial = target.with_name(f".{target.name}.partial")
    started = time.monotonic()
    try:
        if active:
            _copy_running(guest, device, partial, timeout)
        else:
            _copy_stopped(xml, device, volume_dir, partial)
        partial.chmod(0o600)
        partial.replace(target)
    except Exception:
        partial.unlink(missing_ok=True)
        raise
    how = "backup job of the running guest" if active else "copy of the stopped guest's file"
    LOG.info("instance %s: /dev/%s copied to %s in %.1f s (%s)", guest.uuid, device, target.name,
             time.monotonic() - started, how)  # fmt: skip


def _copy_running(guest: Guest, device: str, partial: Path, timeout: float) -> None:
    running = guest.backup_xml()
    if running is not None and config.backup_file(running, device) != partial:
        raise DriverError(reason=f"instance {guest.uuid} is running another backup; try again when it has ended")
    if running is None:
        partial.unlink(missing_ok=True)  # left by an attempt whose job is gone: libvirt refuses an existing file
        guest.backup_begin(config.backup_xml(device, partial))
    deadline = time.monotonic() + timeout
    while guest.backup_xml() is not None:
        if time.monotonic() >= deadline:
            _cancel(guest)
            raise DriverError(reason=f"the copy of /dev/{device} did not finish within {timeout:g} s")
        time.sleep(POLL_INTERVAL)
    job = guest.completed_job()
    if job.get("operation", libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP) != libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP:
        raise DriverError(reason=f"the copy of /dev/{device} ended, but another job of the guest ended after it")
    if job.get("type") != libvirt.VIR_DOMAIN_JOB_COMPLETED or not partial.is_file():
        reason = job.get("errmsg") or "the backup job did not complete"
        raise DriverError(reason=f"the copy of /dev/{device} failed: {reason}")


def _cancel(guest: Guest) -> None:
    guest.abort_job()
    deadline = time.monotonic() + ABORT_WAIT
    while guest.backup_xml() is not None and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)


def _copy_stopped(xml: str, device: str, volume_dir: Path, partial: Path) -> None:
    path = config.disk_path(xml, device)
    if path is None:
        raise DriverError(reason=f"the volume on /dev/{device} is no file this host can copy while the guest is off")
    source = volume_file(VolumeConnection("file", path=path), volume_dir)
    partial.unlink(missing_ok=True)
    disks.copy_volume(source, config.disk_format(xml, device), partial)
