"""Volumes as RBD images in a Ceph pool (``volume_rbd_pool``), through librados/librbd (python3-rados, python3-rbd).

Names are made from our ids alone: a volume is the image ``volume-<uuid>`` (location ``pool/volume-<uuid>``), its
snapshots RBD snapshots ``snapshot-<uuid>`` on it (location ``pool/volume-<uuid>@snapshot-<uuid>``). Choices, and
why:

- Copy-on-write where Ceph offers it, as Cinder's RBD driver does: a volume from a snapshot is a clone of it (the
  snapshot is protected first), a volume from an image stored in Ceph a clone of the image's snapshot. A local
  image file is converted to raw by ``image.qemu_img`` (inspected first, as everywhere) and its non-zero blocks
  written with librbd, as Cinder's ``rbd import`` of a converted image.
- A volume from another volume is a full, sparse copy (librbd's ``copy``), not a clone of a hidden snapshot: the new
  volume is independent at once, and the source can be deleted or snapshotted without a snapshot of ours in the
  way (Cinder's clone-of-a-clone chains and ``.deleted`` renames are what this avoids).
- Deleting a snapshot that has clones flattens them first (each becomes a full copy of its data), then removes the
  snapshot: the contract keeps volumes made from a snapshot intact. A volume that still has snapshots is refused,
  as the file backend does; the service deletes snapshots first, so a volume never has clones when it goes.
- Every create marks its image complete last (the image metadata ``stratus.complete``); an image without the mark
  was left by a create that died half-way, and the next try removes and remakes it.
- Constructing the backend does no I/O and imports nothing of Ceph: the control side builds it to answer
  ``connection`` (monitor addresses from ceph.conf), and only the volume worker connects, once per process, on first
  use, as ``ceph_user`` with its keyring.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import ceph_files
from common.settings import Settings
from image import qemu_img
from image.qemu_img import QemuImgError
from volume.backends.base import BackendError, Capacity, Connection, ImageSource, NotEnoughSpace, VolumeBackend

GiB = 1 << 30
CHUNK = 4 << 20
"""Bytes per read or write: RBD's default object size."""
OVERSUBSCRIPTION = 20
"""Thin volumes may promise this many times the free space (Cinder's ``max_over_subscription_ratio``)."""
COMPLETE = "stratus.complete"
CONNECT_TIMEOUT = 20
OPERATION_TIMEOUT = 300
EXPORT_FORMATS = ("raw", "qcow2")
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_ID = re.compile(rf"^{_UUID}$")
_POOL = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"
_VOLUME = re.compile(rf"^({_POOL})/(volume-{_UUID})$")
_SNAPSHOT = re.compile(rf"^({_POOL})/(volume-{_UUID})@(snapshot-{_UUID})$")
_RBD_WORD = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}"
_IMAGE_SNAPSHOT = re.compile(rf"^({_POOL})/({_RBD_WORD})@({_RBD_WORD})$")
_MON_ADDRESS = re.compile(r"^(?:v[12]:)?([A-Za-z0-9][A-Za-z0-9.-]{0,252})(?::(\d{1,5}))?(?:/\d+)?$")
DEFAULT_MON_PORT = 6789


def _gib(size_bytes: int) -> int:
    return -(-size_bytes // GiB)


def monitor_addresses(conf_text: str) -> list[tuple[str, int]]:
    """The monitors a ceph.conf names (``mon_host``/``mon host`` in ``[global]``), one (host, port) each, the v1
    address where a monitor has both (librbd in QEMU and libvirt's ``<host>`` speak it on 6789, as Cinder hands out).
    """
    value = ceph_files.global_values(conf_text).get("mon_host", "")
    monitors = []
    for entry in re.findall(r"\[[^\]]*\]|[^,\s\[\]]+", value):
        addresses = [a.strip() for a in entry.strip("[]").split(",") if a.strip()]
        preferred = [a for a in addresses if a.startswith("v1:")] or addresses
        found = _MON_ADDRESS.match(preferred[0]) if preferred else None
        if found is None:
            continue
        port = int(found.group(2) or DEFAULT_MON_PORT)
        if preferred[0].startswith("v2:") and not found.group(2):
            port = 3300
        monitors.append((found.group(1), port))
    return monitors


class RbdBackend(VolumeBackend):
    name = "rbd"
    clones_ceph_snapshots = True

    def __init__(self, settings: Settings) -> None:
        self.pool = settings.volume_rbd_pool
        self.conf = settings.effective_ceph_conf
        self.user = settings.ceph_user
        self.keyring = settings.effective_ceph_keyring
        self.secret_uuid = settings.ceph_secret_uuid
        self.work_dir = settings.state_path / "volume-work"
        """Where an image is converted to raw before it is written to Ceph."""
        self._lock = threading.Lock()
        self._cluster: Any = None
        self._pid = 0
        self._rados: Any = None
        self._rbd: Any = None

    # -- names ----------------------------------------------------------------------------------------------------

    def _image_name(self, volume_id: str) -> str:
        if not _ID.match(volume_id):
            raise BackendError(reason="volume ids are UUIDs")
        return f"volume-{volume_id}"

    @staticmethod
    def _volume(location: str) -> tuple[str, str]:
        found = _VOLUME.match(location)
        if found is None:
            raise BackendError(reason="not a location of the rbd backend")
        return found.group(1), found.group(2)

    @staticmethod
    def _snapshot(location: str) -> tuple[str, str, str]:
        found = _SNAPSHOT.match(location)
        if found is None:
            raise BackendError(reason="not a snapshot location of the rbd backend")
        return found.group(1), found.group(2), found.group(3)

    # -- the cluster ----------------------------------------------------------------------------------------------

    def _connected(self) -> Any:
        """The process's connection, made on first use (and again in a forked child: a connection never crosses
        a fork)."""
        with self._lock:
            if self._cluster is not None and self._pid == os.getpid():
                return self._cluster
            try:
                import rados
                import rbd
            except ImportError:
                raise BackendError(
                    reason="the Ceph client libraries (python3-rados, python3-rbd) are not installed"
                ) from None
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
                raise BackendError(reason=f"cannot reach the Ceph cluster as {self.user}: {_cause(exc)}") from None
            self._cluster, self._pid = cluster, os.getpid()
            return cluster

    def close(self) -> None:
        with self._lock:
            if self._cluster is not None and self._pid == os.getpid():
                self._cluster.shutdown()
            self._cluster = None

    @contextlib.contextmanager
    def _ioctx(self, pool: str) -> Iterator[Any]:
        cluster = self._connected()
        try:
            ioctx = cluster.open_ioctx(pool)
        except self._rados.ObjectNotFound:
            raise BackendError(reason=f"the Ceph pool {pool} does not exist") from None
        except self._rados.Error as exc:
            raise BackendError(reason=f"cannot open the Ceph pool {pool}: {_cause(exc)}") from None
        try:
            with self._translated(f"in the Ceph pool {pool}"):
                yield ioctx
        finally:
            ioctx.close()

    @contextlib.contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        """librados/librbd errors as BackendError (their text names no path or key)."""
        try:
            yield
        except BackendError:
            raise
        except (self._rbd.Error, self._rados.Error) as exc:
            raise BackendError(reason=f"Ceph failed {what}: {_cause(exc)}") from None

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

    def _complete(self, ioctx: Any, name: str) -> bool | None:
        """True: a finished volume; False: left half-made (removed now, to be made again); None: absent."""
        with self._image(ioctx, name) as image:
            if image is None:
                return None
            try:
                if image.metadata_get(COMPLETE) == "yes":
                    return True
            except KeyError:
                pass
        self._remove(ioctx, name)
        return False

    def _mark_complete(self, ioctx: Any, name: str, size_gb: int) -> None:
        with self._image(ioctx, name) as image:
            if image.size() < size_gb * GiB:
                image.resize(size_gb * GiB)
            image.metadata_set(COMPLETE, "yes")

    def _remove(self, ioctx: Any, name: str) -> None:
        try:
            self._rbd.RBD().remove(ioctx, name)
        except self._rbd.ImageNotFound:
            return
        except (self._rbd.ImageHasSnapshots, self._rbd.ImageBusy):
            raise BackendError(reason="The volume has snapshots or is in use; it was not deleted.") from None

    @contextlib.contextmanager
    def _new_image(self, ioctx: Any, name: str) -> Iterator[None]:
        """Removes the image again when the block fails: a failed create leaves no volume."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self._rbd.RBD().remove(ioctx, name)
            raise

    def _check_space(self, size_gb: int) -> None:
        free = self.capacity().free_gb
        if size_gb > free * OVERSUBSCRIPTION:
            raise NotEnoughSpace(backend=self.name, free_gb=free, size_gb=size_gb)

    # -- the contract ---------------------------------------------------------------------------------------------

    def create(self, volume_id: str, size_gb: int) -> str:
        name = self._image_name(volume_id)
        with self._ioctx(self.pool) as ioctx:
            if self._complete(ioctx, name):
                return f"{self.pool}/{name}"
            self._check_space(size_gb)
            with self._new_image(ioctx, name):
                self._rbd.RBD().create(ioctx, name, size_gb * GiB, old_format=False)
                self._mark_complete(ioctx, name, size_gb)
        return f"{self.pool}/{name}"

    def create_from_image(self, volume_id: str, size_gb: int, image: ImageSource) -> str:
        name = self._image_name(volume_id)
        if image.virtual_size > size_gb * GiB:
            raise BackendError(reason=f"The image needs {_gib(image.virtual_size)} GiB; the volume has {size_gb}.")
        if image.rbd_snapshot is None and image.path is None:
            raise BackendError(reason="the image's data is neither a local file nor a Ceph snapshot")
        with self._ioctx(self.pool) as ioctx:
            if self._complete(ioctx, name):
                return f"{self.pool}/{name}"
            self._check_space(size_gb)
            if image.rbd_snapshot is not None:
                found = _IMAGE_SNAPSHOT.match(image.rbd_snapshot)
                if found is None:
                    raise BackendError(reason="the image's Ceph snapshot has an invalid name")
                with self._ioctx(found.group(1)) as parent_ioctx, self._new_image(ioctx, name):
                    self._rbd.RBD().clone(parent_ioctx, found.group(2), found.group(3), ioctx, name)
                    self._mark_complete(ioctx, name, size_gb)
            else:
                assert image.path is not None
                self._import(ioctx, name, size_gb, image.path, image.disk_format)
        return f"{self.pool}/{name}"

    def _import(self, ioctx: Any, name: str, size_gb: int, path: Path, disk_format: str) -> None:
        """The image's data as raw (converted first unless it is raw), its non-zero chunks written to a new image."""
        self.work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix=f"{name}.") as scratch:
            source = path
            if disk_format != "raw":
                source = Path(scratch) / "image.raw"
                try:
                    qemu_img.convert(path, disk_format, source, "raw")
                except QemuImgError as exc:
                    raise BackendError(reason=exc.message) from None
            needed = source.stat().st_size
            if needed > size_gb * GiB:
                raise BackendError(reason=f"The image needs {_gib(needed)} GiB; the volume has {size_gb}.")
            with self._new_image(ioctx, name):
                self._rbd.RBD().create(ioctx, name, size_gb * GiB, old_format=False)
                with self._image(ioctx, name) as image, source.open("rb") as data:
                    for offset, chunk in _data_chunks(data):
                        image.write(chunk, offset)
                    image.flush()
                self._mark_complete(ioctx, name, size_gb)

    def create_from_snapshot(self, volume_id: str, size_gb: int, snapshot_location: str) -> str:
        pool, source, snapshot = self._snapshot(snapshot_location)
        name = self._image_name(volume_id)
        with self._ioctx(self.pool) as ioctx, self._ioctx(pool) as source_ioctx:
            if self._complete(ioctx, name):
                return f"{self.pool}/{name}"
            with self._image(source_ioctx, source) as parent:
                sizes = {s["name"]: s["size"] for s in parent.list_snaps()} if parent is not None else {}
                if snapshot not in sizes:
                    raise BackendError(reason="the snapshot's data is gone")
                # The snapshot's own size: the volume may have grown since it was taken.
                if sizes[snapshot] > size_gb * GiB:
                    raise BackendError(reason="A volume from a snapshot is at least as large as the snapshot.")
                if not parent.is_protected_snap(snapshot):
                    parent.protect_snap(snapshot)
            self._check_space(size_gb)
            with self._new_image(ioctx, name):
                self._rbd.RBD().clone(source_ioctx, source, snapshot, ioctx, name)
                self._mark_complete(ioctx, name, size_gb)
        return f"{self.pool}/{name}"

    def create_from_volume(self, volume_id: str, size_gb: int, source_location: str) -> str:
        pool, source = self._volume(source_location)
        name = self._image_name(volume_id)
        with self._ioctx(self.pool) as ioctx, self._ioctx(pool) as source_ioctx:
            if self._complete(ioctx, name):
                return f"{self.pool}/{name}"
            with self._image(source_ioctx, source, read_only=True) as parent:
                if parent is None:
                    raise BackendError(reason="the source volume's data is gone")
                if parent.size() > size_gb * GiB:
                    raise BackendError(reason="A volume from a volume is at least as large as its source.")
                self._check_space(size_gb)
                with self._new_image(ioctx, name):
                    parent.copy(ioctx, name)
                    self._mark_complete(ioctx, name, size_gb)
        return f"{self.pool}/{name}"

    def extend(self, location: str, size_gb: int) -> None:
        pool, name = self._volume(location)
        with self._ioctx(pool) as ioctx, self._image(ioctx, name) as image:
            if image is None:
                raise BackendError(reason="the volume's data is gone")
            current = image.size()
            if size_gb * GiB < current:
                raise BackendError(reason=f"Volumes only grow: it has {_gib(current)} GiB, {size_gb} were asked.")
            if size_gb * GiB > current:
                image.resize(size_gb * GiB)

    def delete(self, location: str) -> None:
        pool, name = self._volume(location)
        with self._ioctx(pool) as ioctx:
            with self._image(ioctx, name) as image:
                if image is None:
                    return
                snapshots = [s["name"] for s in image.list_snaps()]
                if any(snapshot.startswith("snapshot-") for snapshot in snapshots):
                    raise BackendError(reason="The volume has snapshots; delete them first.")
                for checkpoint in (s for s in snapshots if s.startswith("backup.")):
                    image.remove_snap(checkpoint)  # a backup's checkpoint (rbd_blocks): its backups outlive it
            self._remove(ioctx, name)

    def create_snapshot(self, location: str, snapshot_id: str) -> str:
        if not _ID.match(snapshot_id):
            raise BackendError(reason="snapshot ids are UUIDs")
        pool, name = self._volume(location)
        snapshot = f"snapshot-{snapshot_id}"
        with self._ioctx(pool) as ioctx, self._image(ioctx, name) as image:
            if image is None:
                raise BackendError(reason="the volume's data is gone")
            if snapshot not in {s["name"] for s in image.list_snaps()}:
                image.create_snap(snapshot)
        return f"{location}@{snapshot}"

    def delete_snapshot(self, snapshot_location: str) -> None:
        pool, name, snapshot = self._snapshot(snapshot_location)
        with self._ioctx(pool) as ioctx, self._image(ioctx, name) as image:
            if image is None or snapshot not in {s["name"] for s in image.list_snaps()}:
                return
            if image.is_protected_snap(snapshot):
                image.set_snap(snapshot)
                children = list(image.list_children2())
                image.set_snap(None)
                for child in children:  # volumes made from it keep their data: each becomes a full copy
                    with self._ioctx(child["pool"]) as child_ioctx, self._image(child_ioctx, child["image"]) as clone:
                        if clone is not None:
                            clone.flatten()
                image.unprotect_snap(snapshot)
            image.remove_snap(snapshot)

    def connection(self, location: str) -> Connection:
        pool, name = self._volume(location)
        try:
            monitors = monitor_addresses(self.conf.read_text())
        except OSError:
            monitors = []
        if not monitors:
            raise BackendError(reason="the Ceph configuration names no monitor")
        if not self.secret_uuid:
            raise BackendError(reason="hosts cannot reach Ceph volumes: ceph_secret_uuid is not set")
        data = {
            "name": f"{pool}/{name}",
            "hosts": [host for host, _ in monitors],
            "ports": [str(port) for _, port in monitors],
            "cluster_name": "ceph",
            "auth_enabled": True,
            "auth_username": self.user,
            "secret_type": "ceph",
            "secret_uuid": self.secret_uuid,
            "volume_id": name.removeprefix("volume-"),
            "discard": True,
        }
        return Connection("rbd", data)

    def export(self, location: str, target: Path, disk_format: str) -> None:
        if disk_format not in EXPORT_FORMATS:
            raise BackendError(reason=f"Volumes are exported as {' or '.join(EXPORT_FORMATS)}, not {disk_format}.")
        pool, name = self._volume(location)
        raw = target if disk_format == "raw" else target.with_name(f".{target.name}.raw")
        try:
            with self._ioctx(pool) as ioctx, self._image(ioctx, name, read_only=True) as image:
                if image is None:
                    raise BackendError(reason="the volume's data is gone")
                size = image.size()
                with raw.open("wb") as out:
                    for offset, length in _extents(image, size):
                        for start in range(offset, offset + length, CHUNK):
                            chunk = image.read(start, min(CHUNK, offset + length - start))
                            if chunk.count(0) != len(chunk):
                                out.seek(start)
                                out.write(chunk)
                    out.truncate(size)
            if disk_format != "raw":
                try:
                    qemu_img.convert(raw, "raw", target, disk_format)
                except QemuImgError as exc:
                    raise BackendError(reason=exc.message) from None
        finally:
            if raw != target:
                raw.unlink(missing_ok=True)

    def size_gb(self, location: str) -> int:
        pool, name = self._volume(location)
        with self._ioctx(pool) as ioctx, self._image(ioctx, name) as image:
            if image is None:
                raise BackendError(reason="the volume's data is gone")
            return _gib(image.size())

    def exists(self, location: str) -> bool:
        pool, name = self._volume(location)
        with self._ioctx(pool) as ioctx, self._image(ioctx, name) as image:
            return image is not None

    def capacity(self) -> Capacity:
        cluster = self._connected()
        with self._translated("reading the cluster's usage"):
            stats = cluster.get_cluster_stats()
        total, free = int(stats["kb"]) * 1024, int(stats["kb_avail"]) * 1024
        return Capacity(total_gb=total // GiB, free_gb=free // GiB)


def _data_chunks(data: Any) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of the file's chunks that hold anything but zeros, skipping its holes (SEEK_DATA)."""
    fd, end = data.fileno(), os.fstat(data.fileno()).st_size
    offset = 0
    while offset < end:
        try:
            offset = os.lseek(fd, offset, os.SEEK_DATA)
            hole = os.lseek(fd, offset, os.SEEK_HOLE)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole is left
                return
            hole = end  # a filesystem without SEEK_DATA: read the rest
        start = offset - offset % CHUNK
        while start < hole:
            data.seek(start)
            chunk = data.read(CHUNK)
            if not chunk:
                return
            if chunk.count(0) != len(chunk):
                yield start, chunk
            start += len(chunk)
        offset = start


def _extents(image: Any, size: int) -> list[tuple[int, int]]:
    """The image's allocated extents (its parent's included), from librbd's diff against nothing."""
    extents: list[tuple[int, int]] = []

    def collect(offset: int, length: int, exists: bool) -> None:
        if exists:
            extents.append((offset, length))

    image.diff_iterate(0, size, None, collect, include_parent=True)
    return sorted(extents)


def _cause(exc: BaseException) -> str:
    """librados/librbd's message without a path (they name a file in a few): the errno's text."""
    number = getattr(exc, "errno", None)
    if isinstance(number, int) and number:
        return os.strerror(abs(number)).lower()
    return type(exc).__name__
