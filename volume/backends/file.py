"""Volumes as thin qcow2 files in one directory (``volume_dir``), attached by path on the same machine.

Every name is made from an id we generated: ``volume-<uuid>.qcow2``, its snapshots qcow2 *internal* snapshots
named ``snapshot-<uuid>`` inside it (a location ``volume-<uuid>.qcow2@snapshot-<uuid>``). A volume a running guest
holds cannot take an internal snapshot (QEMU's image lock forbids a second writer), so its snapshot is a file of
its own, ``snapshot-<uuid>.qcow2`` beside it, written by the guest's host (``snapshot_by_host``: a point-in-time
copy through libvirt's backup job); that file is a standalone qcow2 with no backing file. A volume made from a
snapshot or another volume is a full, independent copy (``qemu-img convert``, with ``-l snapshot.name=`` for an
internal snapshot), so deleting either never touches the other. A new file is written under a temporary name and
renamed only once it is complete, so a failed create leaves nothing. Changes to one volume's file (snapshot, extend,
delete) hold its lock file, so two tasks never rewrite one qcow2 at once.

``qemu-img`` runs only through ``image.qemu_img`` (its one runner, under ``prlimit``); files are opened as a
``json:`` description with the format given and no backing, and an image's data is inspected before it is
converted (``image.qemu_img.convert``).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from image import qemu_img
from image.qemu_img import CONVERT_LIMITS, INFO_LIMITS, QemuImgError
from volume.backends.base import BackendError, Capacity, Connection, ImageSource, NotEnoughSpace, VolumeBackend

GiB = 1 << 30
OVERSUBSCRIPTION = 20
"""Thin volumes may promise this many times the free space (Cinder's ``max_over_subscription_ratio``)."""
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_VOLUME = re.compile(rf"^volume-{_UUID}\.qcow2$")
_SNAPSHOT = re.compile(rf"^(volume-{_UUID}\.qcow2)@(snapshot-{_UUID})$")
_SNAPSHOT_FILE = re.compile(rf"^snapshot-{_UUID}\.qcow2$")
"""A snapshot taken by a guest's host: a file of its own in the volume directory."""
_ID = re.compile(rf"^{_UUID}$")
EXPORT_FORMATS = ("raw", "qcow2")


def _gib(size_bytes: int) -> int:
    return -(-size_bytes // GiB)


class FileBackend(VolumeBackend):
    name = "file"

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- names --------------------------------------------------------------------------------------------------

    @staticmethod
    def _volume_name(volume_id: str) -> str:
        if not _ID.match(volume_id):
            raise BackendError(reason="volume ids are UUIDs")
        return f"volume-{volume_id}.qcow2"

    def _path(self, location: str) -> Path:
        if not _VOLUME.match(location):
            raise BackendError(reason="not a location of the file backend")
        return self.root / location

    def _source(self, location: str) -> Path:
        """A file a new volume may be copied from: a volume, or a snapshot file a host wrote."""
        if _SNAPSHOT_FILE.match(location):
            return self.root / location
        return self._path(location)

    def _snapshot(self, snapshot_location: str) -> tuple[str, str]:
        found = _SNAPSHOT.match(snapshot_location)
        if found is None:
            raise BackendError(reason="not a snapshot location of the file backend")
        return found.group(1), found.group(2)

    @staticmethod
    def _opened(path: Path) -> str:
        """The file as QEMU opens it: qcow2, this file alone (a volume file never has a backing file)."""
        return "json:" + json.dumps(
            {"driver": "qcow2", "file": {"driver": "file", "filename": str(path)}, "backing": None}
        )

    def _ready(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # QEMU (its own user) passes through to the files libvirt hands it, whoever made the directory first (a
        # host probing it for O_DIRECT, this service) and under whatever umask (the services run under 0077):
        # the search bits are added, listing stays as it was.
        mode = self.root.stat().st_mode & 0o7777
        if mode & 0o111 != 0o111:
            self.root.chmod(mode | 0o111)
        (self.root / ".locks").mkdir(exist_ok=True, mode=0o700)

    @contextmanager
    def _locked(self, location: str) -> Iterator[None]:
        self._ready()
        with open(self.root / ".locks" / f"{location}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def _new_file(self, location: str) -> Iterator[Path]:
        """A temporary path beside ``location``'s; renamed to it when the block succeeds, removed when it fails."""
        temporary = self.root / f".{location}.{uuid.uuid4().hex}.tmp"
        try:
            yield temporary
            os.chmod(temporary, 0o600)
            os.replace(temporary, self._path(location))
        finally:
            temporary.unlink(missing_ok=True)

    # -- qemu-img -----------------------------------------------------------------------------------------------

    @staticmethod
    def _run(args: list[str], what: str, limits: qemu_img.Limits = INFO_LIMITS) -> str:
        try:
            return qemu_img.run(args, what, limits)
        except QemuImgError as exc:
            message = exc.message
            if "lock" in message:
                message = f"{what}: the volume is in use by a running guest"
            raise BackendError(reason=message) from None

    def _info(self, path: Path) -> dict[str, object]:
        return dict(json.loads(self._run(["info", "-U", "--output", "json", self._opened(path)], "reading a volume")))

    def _grow(self, path: Path, size_gb: int) -> None:
        current = int(self._info(path)["virtual-size"])  # type: ignore[call-overload]
        if size_gb * GiB < current:
            raise BackendError(reason=f"Volumes only grow: it has {_gib(current)} GiB, {size_gb} were asked.")
        if size_gb * GiB > current:
            self._run(["resize", "-q", "-f", "qcow2", str(path), str(size_gb * GiB)], "growing a volume")

    def _check_space(self, size_gb: int) -> None:
        free = self.capacity().free_gb
        if size_gb > free * OVERSUBSCRIPTION:
            raise NotEnoughSpace(backend=self.name, free_gb=free, size_gb=size_gb)

    def _snapshots(self, path: Path) -> list[str]:
        return [str(s["name"]) for s in self._info(path).get("snapshots", [])]  # type: ignore[union-attr]

    # -- the contract -------------------------------------------------------------------------------------------

    def create(self, volume_id: str, size_gb: int) -> str:
        location = self._volume_name(volume_id)
        with self._locked(location):
            if self._path(location).exists():
                return location
            self._check_space(size_gb)
            with self._new_file(location) as temporary:
                args = ["create", "-q", "-f", "qcow2", "-o", "compat=1.1", str(temporary), str(size_gb * GiB)]
                self._run(args, "creating a volume")
        return location

    def create_from_image(self, volume_id: str, size_gb: int, image: ImageSource) -> str:
        location = self._volume_name(volume_id)
        if image.path is None:
            raise BackendError(reason="the file backend copies images from local files only")
        if image.virtual_size > size_gb * GiB:
            raise BackendError(reason=f"The image needs {_gib(image.virtual_size)} GiB; the volume has {size_gb}.")
        with self._locked(location):
            if self._path(location).exists():
                return location
            self._check_space(size_gb)
            with self._new_file(location) as temporary:
                try:
                    qemu_img.convert(image.path, image.disk_format, temporary, "qcow2")
                except QemuImgError as exc:
                    raise BackendError(reason=exc.message) from None
                self._grow(temporary, size_gb)
        return location

    def create_from_snapshot(self, volume_id: str, size_gb: int, snapshot_location: str) -> str:
        if _SNAPSHOT_FILE.match(snapshot_location):
            return self._copy(volume_id, size_gb, snapshot_location, None)
        source, snapshot = self._snapshot(snapshot_location)
        return self._copy(volume_id, size_gb, source, snapshot)

    def create_from_volume(self, volume_id: str, size_gb: int, source_location: str) -> str:
        return self._copy(volume_id, size_gb, source_location, None)

    def _copy(self, volume_id: str, size_gb: int, source_location: str, snapshot: str | None) -> str:
        location = self._volume_name(volume_id)
        source = self._source(source_location)
        if self._path(location).exists():
            return location
        self._check_space(size_gb)
        with self._locked(source_location), self._locked(location):
            if self._path(location).exists():
                return location
            if not source.exists():
                raise BackendError(reason="the source volume's data is gone")
            if snapshot is not None and snapshot not in self._snapshots(source):
                raise BackendError(reason="the snapshot's data is gone")
            with self._new_file(location) as temporary:
                args = ["convert", "-q", "-U", "-f", "qcow2"]
                args += ["-l", f"snapshot.name={snapshot}"] if snapshot else []
                args += [self._opened(source), "-O", "qcow2", "-o", "compat=1.1", str(temporary)]
                self._run(args, "copying a volume", CONVERT_LIMITS)
                self._grow(temporary, size_gb)
        return location

    def extend(self, location: str, size_gb: int) -> None:
        with self._locked(location):
            path = self._path(location)
            if not path.exists():
                raise BackendError(reason="the volume's data is gone")
            self._grow(path, size_gb)

    def delete(self, location: str) -> None:
        # A snapshot file a host wrote is a standalone copy: the volume's file is removed without touching it (the
        # volume service deletes snapshots first anyway).
        path = self._path(location)
        with self._locked(location):
            if not path.exists():
                return
            if any(name.startswith("snapshot-") for name in self._snapshots(path)):
                raise BackendError(reason="The volume has snapshots; delete them first.")
            path.unlink(missing_ok=True)
        (self.root / ".locks" / f"{location}.lock").unlink(missing_ok=True)

    def create_snapshot(self, location: str, snapshot_id: str) -> str:
        if not _ID.match(snapshot_id):
            raise BackendError(reason="snapshot ids are UUIDs")
        name = f"snapshot-{snapshot_id}"
        path = self._path(location)
        with self._locked(location):
            if not path.exists():
                raise BackendError(reason="the volume's data is gone")
            if name not in self._snapshots(path):
                self._run(["snapshot", "-q", "-c", name, self._opened(path)], "taking a snapshot")
        return f"{location}@{name}"

    def snapshot_by_host(self, location: str, snapshot_id: str) -> tuple[str, Connection] | None:
        self._path(location)
        if not _ID.match(snapshot_id):
            raise BackendError(reason="snapshot ids are UUIDs")
        name = f"snapshot-{snapshot_id}.qcow2"
        return name, Connection("file", {"path": str((self.root / name).absolute()), "format": "qcow2"})

    def delete_snapshot(self, snapshot_location: str) -> None:
        if _SNAPSHOT_FILE.match(snapshot_location):
            with self._locked(snapshot_location):
                (self.root / snapshot_location).unlink(missing_ok=True)
            (self.root / ".locks" / f"{snapshot_location}.lock").unlink(missing_ok=True)
            return
        location, name = self._snapshot(snapshot_location)
        path = self._path(location)
        with self._locked(location):
            if path.exists() and name in self._snapshots(path):
                self._run(["snapshot", "-q", "-d", name, self._opened(path)], "deleting a snapshot")

    def connection(self, location: str) -> Connection:
        return Connection("file", {"path": str(self._path(location).absolute()), "format": "qcow2"})

    def export(self, location: str, target: Path, disk_format: str) -> None:
        if disk_format not in EXPORT_FORMATS:
            raise BackendError(reason=f"Volumes are exported as {' or '.join(EXPORT_FORMATS)}, not {disk_format}.")
        path = self._path(location)
        if not path.exists():
            raise BackendError(reason="the volume's data is gone")
        options = ["-o", "compat=1.1"] if disk_format == "qcow2" else []
        args = ["convert", "-q", "-U", "-f", "qcow2", self._opened(path), "-O", disk_format, *options, str(target)]
        self._run(args, "exporting a volume", CONVERT_LIMITS)

    def size_gb(self, location: str) -> int:
        path = self._path(location)
        if not path.exists():
            raise BackendError(reason="the volume's data is gone")
        return _gib(int(self._info(path)["virtual-size"]))  # type: ignore[call-overload]

    def exists(self, location: str) -> bool:
        return self._path(location).exists()

    def capacity(self) -> Capacity:
        self._ready()
        stats = os.statvfs(self.root)
        return Capacity(total_gb=stats.f_blocks * stats.f_frsize // GiB, free_gb=stats.f_bavail * stats.f_frsize // GiB)
