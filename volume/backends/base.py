"""The volume backend contract: where a volume's blocks live, behind one narrow interface.

The volume service (``stratus-volume``) is the only caller; the API and the compute hosts never import a backend.
A backend names what it made with a *location*, an opaque string it hands out and understands later (the database
keeps it, clients never see it). Every method is idempotent where its docstring says so, because a task may be
delivered twice: creating a volume that already exists at the size asked succeeds, deleting a missing one succeeds.
A failed create leaves nothing behind. Errors are ``BackendError`` with a message a user may read (no paths, no
secrets).

What reaches a compute host is a ``Connection``: Cinder's ``connection_info`` shape (``driver_volume_type`` and
``data``), made only of values the backend produced or checked, never of user strings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from common.exceptions import StratusError

GiB = 1 << 30


class BackendError(StratusError):
    """The backend failed an operation; the message is what the user sees in the volume's error."""

    msg_fmt = "{reason}"
    code = 500
    title = "Volume Backend Error"


class NotEnoughSpace(BackendError):
    msg_fmt = "The volume backend {backend} has {free_gb} GiB free, {size_gb} GiB are needed."
    code = 413


@dataclass(frozen=True)
class ImageSource:
    """An image's data as a backend can read it: a local file in its stored format, or (an image store on the same
    Ceph cluster) an RBD snapshot a volume can be cloned from without copying."""

    image_id: str
    disk_format: str
    """``raw`` or ``qcow2`` (the image service converts anything else first)."""
    virtual_size: int
    """Bytes the guest sees; a volume smaller than this cannot hold the image."""
    path: Path | None = None
    rbd_snapshot: str | None = None
    """``pool/image@snap`` when the image store is Ceph: a clone, not a copy."""


@dataclass(frozen=True)
class Connection:
    """How a compute host plugs the volume into a guest (Cinder's ``connection_info``).

    ``file``: ``data = {"path": absolute path, "format": "qcow2" | "raw"}``; the host attaches the file by path
    and refuses a path outside its configured volume directory.
    ``rbd``: ``data = {"name": "pool/image", "hosts": [...], "ports": [...], "auth_username": ...,
    "secret_uuid": ...}``; the key itself reaches the host's libvirt as a secret, never in this structure.
    """

    driver_volume_type: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"driver_volume_type": self.driver_volume_type, "data": dict(self.data)}


@dataclass(frozen=True)
class Capacity:
    """What the backend reports for scheduling and ``GET /scheduler-stats/get_pools``."""

    total_gb: int
    free_gb: int
    thin: bool = True


class VolumeBackend(ABC):
    """One storage backend. ``name`` is what volume types select with ``volume_backend_name``."""

    name: str
    clones_ceph_snapshots: ClassVar[bool] = False
    """Whether ``create_from_image`` clones an ``ImageSource.rbd_snapshot`` (a backend on the image store's Ceph
    cluster); any other backend is handed a local file."""

    @abstractmethod
    def create(self, volume_id: str, size_gb: int) -> str:
        """Make an empty, thin volume of ``size_gb`` and return its location. Idempotent."""

    @abstractmethod
    def create_from_image(self, volume_id: str, size_gb: int, image: ImageSource) -> str:
        """Make a volume of ``size_gb`` holding the image (a copy-on-write clone where the backend can). BackendError
        when the image's virtual size exceeds ``size_gb``. Idempotent; a failure leaves no volume."""

    @abstractmethod
    def create_from_snapshot(self, volume_id: str, size_gb: int, snapshot_location: str) -> str:
        """A new, independent volume holding the snapshot's data, grown to ``size_gb``. Idempotent."""

    @abstractmethod
    def create_from_volume(self, volume_id: str, size_gb: int, source_location: str) -> str:
        """A new, independent volume holding the (detached) source volume's data, grown to ``size_gb``."""

    @abstractmethod
    def extend(self, location: str, size_gb: int) -> None:
        """Grow the detached volume to ``size_gb`` (never shrink: BackendError). Growing to its size succeeds.
        An attached volume is grown by its host (libvirt's block resize), not here."""

    @abstractmethod
    def delete(self, location: str) -> None:
        """Remove the volume's data. Deleting a missing volume succeeds. BackendError while snapshots of it exist
        that depend on it (the service deletes snapshots first)."""

    @abstractmethod
    def create_snapshot(self, location: str, snapshot_id: str) -> str:
        """A point-in-time, read-only copy of the detached volume (thin where the backend can); returns its
        location. Idempotent."""

    @abstractmethod
    def delete_snapshot(self, snapshot_location: str) -> None:
        """Remove a snapshot; a missing one succeeds. Volumes made from it stay intact."""

    @abstractmethod
    def connection(self, location: str) -> Connection:
        """What a host needs to attach the volume. Reads, changes nothing."""

    @abstractmethod
    def export(self, location: str, target: Path, disk_format: str) -> None:
        """Write the detached volume's data to the local file ``target`` as ``disk_format`` (``raw`` or
        ``qcow2``), for an upload to the image service."""

    @abstractmethod
    def size_gb(self, location: str) -> int:
        """The volume's virtual size in GiB (rounded up), as the backend holds it."""

    @abstractmethod
    def exists(self, location: str) -> bool: ...

    @abstractmethod
    def capacity(self) -> Capacity: ...

    def snapshot_by_host(self, location: str, snapshot_id: str) -> tuple[str, Connection] | None:
        """Whether a snapshot of the volume while a guest holds it must be taken by that guest's host: None (the
        default) when ``create_snapshot`` reads an attached volume too (RBD snapshots a live image itself); else
        the snapshot's location and the target the host writes a point-in-time copy of the disk to (a qcow2 file
        that QEMU holds locked can be copied only by that QEMU, as Cinder's remotefs drivers ask Nova to do).
        Names only: reads and changes nothing."""
        return None
