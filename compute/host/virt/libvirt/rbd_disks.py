"""Instance root disks as RBD images (``images_type = "rbd"``, Nova's rbd image backend): ``<images_rbd_pool>/
<instance uuid>_disk``, a copy-on-write clone of the image's protected snapshot in the image store's pool, grown to
the flavor's root disk. Nothing is downloaded to the host, whatever the image's size.

This module is the only host code that talks to Ceph itself (librbd, as ``ceph_user`` with its keyring on the
host), through the narrow ``RbdDisks``: clone, grow, snapshot, roll back, read and remove root disks, and the
monitors a disk's XML names. QEMU opens the disk through its own librbd with the libvirt secret (``ceph_secret``),
as it opens RBD volumes. Choices, and why:

- Names come from instance uuids alone (checked); the parent is the ``pool/image@snap`` the control side read from
  the image store, checked against the RBD name syntax before it reaches librbd.
- A clone is marked complete last (image metadata ``stratus.complete``): a disk without the mark was left by a
  spawn that died half-way and is removed and made again; a complete one is kept (a redelivered spawn).
- ``remove`` of a missing disk succeeds; its snapshots (a resize's backup, a server snapshot's point in time) go
  with it: the instance is gone, nothing of it is kept.
- Constructing it does no I/O and imports nothing of Ceph; the agent connects once, on first use.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common.settings import HostSettings
from compute.host.virt.base import DriverError

CHUNK = 4 << 20
COMPLETE = "stratus.complete"
CONNECT_TIMEOUT = 20
OPERATION_TIMEOUT = 300
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_POOL = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"
_WORD = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
_PARENT = re.compile(rf"^({_POOL})/({_WORD})@({_WORD})$")
_SNAPSHOT = re.compile(rf"^{_WORD}$")
_ADDRESS = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):(\d{1,5})$")


def _cause(exc: BaseException) -> str:
    number = getattr(exc, "errno", None)
    if isinstance(number, int) and number:
        return os.strerror(abs(number)).lower()
    return type(exc).__name__


class RbdDisks:
    def __init__(self, pool: str, conf: Path, user: str, keyring: Path) -> None:
        if not re.fullmatch(_POOL, pool):
            raise DriverError(reason=f"images_rbd_pool {pool!r} is not a valid Ceph pool name")
        self.pool, self.conf, self.user, self.keyring = pool, conf, user, keyring
        self._lock = threading.Lock()
        self._cluster: Any = None
        self._pid = 0
        self._rados: Any = None
        self._rbd: Any = None
        self._monitors: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_settings(cls, settings: HostSettings) -> RbdDisks | None:
        """None unless ``images_type`` is ``rbd``: the host makes qcow2 root disks only. Does no I/O."""
        if settings.images_type == "qcow2":
            return None
        if settings.images_type != "rbd":
            raise DriverError(reason=f"images_type must be 'qcow2' or 'rbd', not {settings.images_type!r}")
        return cls(settings.images_rbd_pool, settings.effective_ceph_conf, settings.ceph_user,
                   settings.effective_ceph_keyring)  # fmt: skip

    # -- the cluster ----------------------------------------------------------------------------------------------

    def _connected(self) -> Any:
        with self._lock:
            if self._cluster is not None and self._pid == os.getpid():
                return self._cluster
            try:
                import rados
                import rbd
            except ImportError:
                raise DriverError(reason="the Ceph client libraries (python3-rados, python3-rbd) are missing") from None
            self._rados, self._rbd = rados, rbd
            options = {
                "keyring": str(self.keyring),
                "client_mount_timeout": str(CONNECT_TIMEOUT),
                "rados_mon_op_timeout": str(CONNECT_TIMEOUT),
                "rados_osd_op_timeout": str(OPERATION_TIMEOUT),
            }
            try:
                cluster = rados.Rados(conffile=str(self.conf), rados_id=self.user, conf=options)
                cluster.connect(timeout=CONNECT_TIMEOUT)
            except rados.Error as exc:
                raise DriverError(reason=f"cannot reach the Ceph cluster as {self.user}: {_cause(exc)}") from None
            self._cluster, self._pid = cluster, os.getpid()
            return cluster

    def close(self) -> None:
        """Disconnect; the next call connects again. A client left connected to a cluster that goes away keeps
        hunting for its monitors in librados's threads for as long as the process lives."""
        with self._lock:
            if self._cluster is not None and self._pid == os.getpid():
                self._cluster.shutdown()
            self._cluster = None

    @contextlib.contextmanager
    def _pool(self, pool: str | None = None) -> Iterator[Any]:
        cluster = self._connected()
        try:
            ioctx = cluster.open_ioctx(pool or self.pool)
        except self._rados.Error as exc:
            raise DriverError(reason=f"cannot open the Ceph pool {pool or self.pool}: {_cause(exc)}") from None
        try:
            yield ioctx
        except DriverError:
            raise
        except (self._rbd.Error, self._rados.Error) as exc:
            raise DriverError(reason=f"Ceph failed on a root disk: {_cause(exc)}") from None
        finally:
            ioctx.close()

    @contextlib.contextmanager
    def _image(self, ioctx: Any, name: str, snapshot: str | None = None, read_only: bool = False) -> Iterator[Any]:
        """The open image, or None when it does not exist."""
        try:
            image = self._rbd.Image(ioctx, name, snapshot=snapshot, read_only=read_only)
        except self._rbd.ImageNotFound:
            yield None
            return
        try:
            yield image
        finally:
            image.close()

    @staticmethod
    def disk_name(uuid: str) -> str:
        if not _UUID.match(uuid):
            raise DriverError(reason="instance uuids are lower-case UUIDs")
        return f"{uuid}_disk"

    def monitors(self) -> tuple[tuple[str, int], ...]:
        """The monitors' v1 addresses from the cluster's own map (libvirt's ``<host>``; QEMU's librbd speaks v1 on
        them as the volumes' connections do)."""
        if not self._monitors:
            cluster = self._connected()
            code, output, status = cluster.mon_command(json.dumps({"prefix": "mon dump", "format": "json"}), b"")
            if code != 0:
                raise DriverError(reason=f"cannot read the Ceph monitor map: {status or os.strerror(-code)}")
            found = []
            for monitor in json.loads(output)["mons"]:
                addresses = monitor.get("public_addrs", {}).get("addrvec", [])
                v1 = [a["addr"] for a in addresses if a.get("type") == "v1"]
                matched = _ADDRESS.match((v1 or [monitor.get("addr", "")])[0].split("/")[0])
                if matched:
                    found.append((matched.group(1).strip("[]"), int(matched.group(2))))
            if not found:
                raise DriverError(reason="the Ceph monitor map names no monitor address")
            self._monitors = tuple(found)
        return self._monitors

    # -- root disks -----------------------------------------------------------------------------------------------

    def clone(self, uuid: str, parent: str, size_bytes: int) -> None:
        """The root disk as a clone of ``parent`` (``pool/image@snap``, protected), ``size_bytes`` large (0: the
        parent's size). DriverError when the parent is gone or larger than ``size_bytes``. Idempotent."""
        found = _PARENT.match(parent)
        if found is None:
            raise DriverError(reason="the image's Ceph snapshot has an invalid name")
        name = self.disk_name(uuid)
        with self._pool() as ioctx:
            if self._complete(ioctx, name):
                return
            with self._pool(found.group(1)) as parent_ioctx:
                with self._image(parent_ioctx, found.group(2), found.group(3), read_only=True) as image:
                    if image is None:
                        raise DriverError(reason="the image's data is gone from Ceph")
                    parent_size = image.size()
                if size_bytes and size_bytes < parent_size:
                    raise DriverError(
                        reason=f"the flavor's root disk ({size_bytes} bytes) is smaller than the image "
                        f"({parent_size} bytes)"
                    )
                try:
                    self._rbd.RBD().clone(parent_ioctx, found.group(2), found.group(3), ioctx, name)
                    with self._image(ioctx, name) as disk:
                        if size_bytes > parent_size:
                            disk.resize(size_bytes)
                        disk.metadata_set(COMPLETE, "yes")
                except BaseException:
                    with contextlib.suppress(Exception):
                        self._remove(ioctx, name)
                    raise

    def _complete(self, ioctx: Any, name: str) -> bool:
        with self._image(ioctx, name) as disk:
            if disk is None:
                return False
            try:
                if disk.metadata_get(COMPLETE) == "yes":
                    return True
            except KeyError:
                pass
        self._remove(ioctx, name)
        return False

    def exists(self, uuid: str) -> bool:
        with self._pool() as ioctx, self._image(ioctx, self.disk_name(uuid), read_only=True) as disk:
            return disk is not None

    def size(self, uuid: str) -> int:
        with self._pool() as ioctx, self._image(ioctx, self.disk_name(uuid), read_only=True) as disk:
            if disk is None:
                raise DriverError(reason=f"the root disk of instance {uuid} is gone from Ceph")
            return int(disk.size())

    def grow(self, uuid: str, size_bytes: int) -> None:
        """Grow the root disk no running guest holds; never shrinks (DriverError), the same size does nothing."""
        with self._pool() as ioctx, self._image(ioctx, self.disk_name(uuid)) as disk:
            if disk is None:
                raise DriverError(reason=f"the root disk of instance {uuid} is gone from Ceph")
            if size_bytes < disk.size():
                raise DriverError(reason=f"the root disk cannot shrink from {disk.size()} to {size_bytes} bytes")
            if size_bytes > disk.size():
                disk.resize(size_bytes)

    def create_snapshot(self, uuid: str, snapshot: str) -> None:
        """A point-in-time snapshot of the root disk (idempotent): a resize's backup, a server snapshot's source."""
        if not _SNAPSHOT.match(snapshot):
            raise DriverError(reason="invalid root disk snapshot name")
        with self._pool() as ioctx, self._image(ioctx, self.disk_name(uuid)) as disk:
            if disk is None:
                raise DriverError(reason=f"the root disk of instance {uuid} is gone from Ceph")
            if snapshot not in {s["name"] for s in disk.list_snaps()}:
                disk.create_snap(snapshot)

    def rollback(self, uuid: str, snapshot: str) -> None:
        """The root disk back as it was at ``snapshot`` (its size too); the guest must not run."""
        with self._pool() as ioctx, self._image(ioctx, self.disk_name(uuid)) as disk:
            if disk is not None and snapshot in {s["name"] for s in disk.list_snaps()}:
                disk.rollback_to_snap(snapshot)

    def remove_snapshot(self, uuid: str, snapshot: str) -> None:
        with self._pool() as ioctx, self._image(ioctx, self.disk_name(uuid)) as disk:
            if disk is not None and snapshot in {s["name"] for s in disk.list_snaps()}:
                disk.remove_snap(snapshot)

    def export(self, uuid: str, snapshot: str, target: Path) -> None:
        """The root disk as it was at ``snapshot``, written to the local file ``target`` as sparse raw (all-zero
        chunks left as holes)."""
        with self._pool() as ioctx, self._image(ioctx, self.disk_name(uuid), snapshot, read_only=True) as disk:
            if disk is None:
                raise DriverError(reason=f"the root disk of instance {uuid} is gone from Ceph")
            size = disk.size()
            with target.open("wb") as out:
                for offset in range(0, size, CHUNK):
                    chunk = disk.read(offset, min(CHUNK, size - offset))
                    if chunk.count(0) != len(chunk):
                        out.seek(offset)
                        out.write(chunk)
                out.truncate(size)

    def remove(self, uuid: str) -> None:
        """Remove the root disk and its snapshots; a missing one succeeds. DriverError while a guest holds it."""
        with self._pool() as ioctx:
            self._remove(ioctx, self.disk_name(uuid))

    def _remove(self, ioctx: Any, name: str) -> None:
        with self._image(ioctx, name) as disk:
            if disk is None:
                return
            for snapshot in list(disk.list_snaps()):
                disk.remove_snap(snapshot["name"])
        try:
            self._rbd.RBD().remove(ioctx, name)
        except self._rbd.ImageNotFound:
            return
        except self._rbd.ImageBusy:
            raise DriverError(reason="the root disk is still open (a guest holds it)") from None
