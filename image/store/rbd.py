"""Images as RBD images in a Ceph pool (``image_rbd_pool``), as Glance's rbd store keeps them, so that a volume
made from an image on the same cluster is a copy-on-write clone of it, not a download and a copy.

An image is the RBD image named after it (the image id; a format variant ``<id>.<format>``) holding its bytes
exactly as they were uploaded, whatever the format (the checksum is over those bytes, and a download gives them
back), with one snapshot ``snap``, protected: what clones are made from. The location is ``rbd:<pool>/<name>@snap``.
Only a raw image can be cloned into a volume (``ceph_snapshot`` is offered for any, the volume service checks the
format); a qcow2 one is read as a file and converted, as Cinder does with a non-raw Glance image.

Choices, and why:

- Staging is a local file, as in the filesystem store: the upload workflow inspects the staged bytes before it
  commits them (every header, the end of the file for VHD), and ``qemu-img`` converts local files. ``commit`` then
  writes the file's non-zero 4 MiB chunks into ``<name>.part-<random>`` (thin: holes stay holes), snapshots and
  protects it and renames it to ``<name>``: readers never see a half-written image. The local file goes.
- Data with clones is not deleted under them. The image API refuses to delete an image while volumes are clones
  of it (``in_use``: Glance's 409, "in use through the backend store"); a clone made in the moment between that
  check and ``delete`` finds its parent renamed ``<name>.deleted-<random>``, and ``sweep_staging`` removes it
  once its last clone is gone. Nothing is flattened: a user's volume is never rewritten because an image went.
- Constructing the store does no I/O and imports nothing of Ceph (the API process builds it at start); each
  process connects once, on first use, as ``ceph_user`` with its keyring, and again after a fork.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from image.store.base import ImageStore, StagedWrite, StoreError, StoreInUse, write_all

LOG = logging.getLogger(__name__)
PREFIX = "rbd:"
SNAPSHOT = "snap"
CHUNK = 4 << 20
"""Bytes per read or write: RBD's default object size."""
IN_FLIGHT = 8
"""Asynchronous writes outstanding while an image is written to Ceph."""
CONNECT_TIMEOUT = 20
OPERATION_TIMEOUT = 300
COPIES_KEPT_SECONDS = 24 * 3600
"""A temporary local copy is swept after a day: a volume may convert a large one for a long time."""
PART, DELETED = ".part-", ".deleted-"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_POOL = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"
_LOCATION = re.compile(rf"^{PREFIX}({_POOL})/([A-Za-z0-9][A-Za-z0-9._-]{{0,63}})@{SNAPSHOT}$")


def _checked_name(name: str) -> str:
    if not _NAME.match(name) or PART in name or DELETED in name:
        raise ValueError(f"invalid store name {name!r}")
    return name


def _cause(exc: BaseException) -> str:
    """librados/librbd's message without a path (they name a file in a few): the errno's text."""
    number = getattr(exc, "errno", None)
    if isinstance(number, int) and number:
        return os.strerror(abs(number)).lower()
    return type(exc).__name__


class _RbdWrite(StagedWrite):
    """A local staging file, written into Ceph by ``commit``."""

    def __init__(self, store: RbdStore, image_id: str) -> None:
        self._store = store
        self._path = store.staging / f"{_checked_name(image_id)}.{uuid.uuid4().hex}"
        # Unbuffered: uploads write megabytes at a time, which a buffer would only copy (``base.write_all``).
        self._handle: BinaryIO | None = open(self._path, "xb", buffering=0)  # noqa: SIM115 - closed by commit/abort
        os.chmod(self._path, 0o600)

    @property
    def path(self) -> Path:
        return self._path

    def write(self, chunk: bytes | memoryview) -> None:
        assert self._handle is not None, "write after commit or abort"
        write_all(self._handle, chunk)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def commit(self, name: str) -> str:
        assert self._handle is not None, "commit after commit or abort"
        self._handle.close()
        self._handle = None
        try:
            return self._store.put(self._path, _checked_name(name))
        finally:
            self._path.unlink(missing_ok=True)

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._path.unlink(missing_ok=True)


class _SnapshotReader(io.RawIOBase):
    """An image's protected snapshot as a read-only, seekable file; closing it closes the image and its pool."""

    def __init__(self, ioctx: Any, image: Any) -> None:
        self._ioctx, self._image = ioctx, image
        self._size, self._offset = image.size(), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        length = min(len(buffer), self._size - self._offset)
        if length <= 0:
            return 0
        data = self._image.read(self._offset, length)
        buffer[: len(data)] = data
        self._offset += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._offset, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._offset = base + offset
        return self._offset

    def tell(self) -> int:
        return self._offset

    @property
    def size(self) -> int:
        return self._size

    def pread(self, offset: int, length: int) -> bytes:
        return bytes(self._image.read(offset, length))

    def close(self) -> None:
        if not self.closed:
            try:
                self._image.close()
            finally:
                self._ioctx.close()
        super().close()


class RbdStore(ImageStore):
    def __init__(self, pool: str, conf: Path, user: str, keyring: Path, staging: Path) -> None:
        if not re.fullmatch(_POOL, pool):
            raise ValueError(f"invalid Ceph pool name {pool!r}")
        self.pool, self.conf, self.user, self.keyring = pool, conf, user, keyring
        self.staging = staging
        """Local files of uploads before they are committed."""
        self.copies = staging.with_name(".copies")
        """Temporary local copies (``local_file``)."""
        self._lock = threading.Lock()
        self._cluster: Any = None
        self._pid = 0
        self._rados: Any = None
        self._rbd: Any = None

    # -- the cluster ----------------------------------------------------------------------------------------------

    def _connected(self) -> Any:
        """The process's connection, made on first use (and again in a forked child: one never crosses a fork)."""
        with self._lock:
            if self._cluster is not None and self._pid == os.getpid():
                return self._cluster
            try:
                import rados
                import rbd
            except ImportError:
                raise StoreError(reason="the Ceph client libraries (python3-rados, python3-rbd) are missing") from None
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
                raise StoreError(reason=f"cannot reach the Ceph cluster as {self.user}: {_cause(exc)}") from None
            self._cluster, self._pid = cluster, os.getpid()
            return cluster

    def close(self) -> None:
        with self._lock:
            if self._cluster is not None and self._pid == os.getpid():
                self._cluster.shutdown()
            self._cluster = None

    def _open_pool(self, pool: str) -> Any:
        cluster = self._connected()
        try:
            return cluster.open_ioctx(pool)
        except self._rados.ObjectNotFound:
            raise StoreError(reason=f"the Ceph pool {pool} does not exist") from None
        except self._rados.Error as exc:
            raise StoreError(reason=f"cannot open the Ceph pool {pool}: {_cause(exc)}") from None

    @contextlib.contextmanager
    def _pool(self, pool: str | None = None) -> Iterator[Any]:
        ioctx = self._open_pool(pool or self.pool)
        try:
            with self._translated():
                yield ioctx
        finally:
            ioctx.close()

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """librados/librbd errors as StoreError (their text names no path or key)."""
        try:
            yield
        except (StoreError, FileNotFoundError):
            raise
        except (self._rbd.Error, self._rados.Error) as exc:
            raise StoreError(reason=f"Ceph failed: {_cause(exc)}") from None

    def _parse(self, location: str) -> tuple[str, str]:
        found = _LOCATION.match(location)
        if found is None:
            raise ValueError(f"not an rbd location: {location!r}")
        return found.group(1), found.group(2)

    # -- writing --------------------------------------------------------------------------------------------------

    def begin(self, image_id: str) -> _RbdWrite:
        self.staging.mkdir(parents=True, exist_ok=True, mode=0o700)
        return _RbdWrite(self, image_id)

    def put(self, path: Path, name: str) -> str:
        """The local file's bytes as the RBD image ``name`` with its protected snapshot; returns the location.
        An older image of that name is replaced (StoreInUse when clones of it exist)."""
        part = f"{name}{PART}{uuid.uuid4().hex[:12]}"
        with self._pool() as ioctx:
            size = path.stat().st_size
            self._rbd.RBD().create(ioctx, part, size, old_format=False)
            try:
                image = self._rbd.Image(ioctx, part)
                try:
                    with path.open("rb") as data:
                        _write_data(image, data)
                    image.create_snap(SNAPSHOT)
                    image.protect_snap(SNAPSHOT)
                finally:
                    image.close()
                if self._purge(ioctx, name) is False:
                    raise StoreInUse(reason=f"clones of the image stored as {name}; it cannot be replaced")
                self._rbd.RBD().rename(ioctx, part, name)
            except BaseException:
                with contextlib.suppress(Exception):
                    self._purge(ioctx, part)
                raise
        return f"{PREFIX}{self.pool}/{name}@{SNAPSHOT}"

    # -- reading --------------------------------------------------------------------------------------------------

    def _open_snapshot(self, location: str) -> _SnapshotReader:
        pool, name = self._parse(location)
        ioctx = self._open_pool(pool)
        try:
            with self._translated():
                try:
                    image = self._rbd.Image(ioctx, name, snapshot=SNAPSHOT, read_only=True)
                except self._rbd.ImageNotFound:
                    raise FileNotFoundError(location) from None
        except BaseException:
            ioctx.close()
            raise
        return _SnapshotReader(ioctx, image)

    def open(self, location: str) -> BinaryIO:
        return io.BufferedReader(self._open_snapshot(location), buffer_size=CHUNK)  # type: ignore[return-value]

    def local_path(self, location: str) -> Path | None:
        self._parse(location)
        return None

    @contextlib.contextmanager
    def local_file(self, location: str) -> Iterator[Path]:  # type: ignore[override]
        """A sparse local copy of the snapshot (its all-zero chunks left as holes), removed after the block."""
        self.copies.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryDirectory(dir=self.copies) as scratch:
            copy = Path(scratch) / "image"
            with self._open_snapshot(location) as source, copy.open("wb") as out, self._translated():
                for offset in range(0, source.size, CHUNK):
                    chunk = source.pread(offset, min(CHUNK, source.size - offset))
                    if chunk.count(0) != len(chunk):
                        out.seek(offset)
                        out.write(chunk)
                out.truncate(source.size)
            yield copy

    def size(self, location: str) -> int:
        with self._open_snapshot(location) as source:
            return source.size

    def ceph_snapshot(self, location: str) -> str | None:
        pool, name = self._parse(location)
        return f"{pool}/{name}@{SNAPSHOT}"

    def in_use(self, location: str) -> bool:
        pool, name = self._parse(location)
        with self._pool(pool) as ioctx:
            return bool(self._children(ioctx, name))

    def _children(self, ioctx: Any, name: str) -> list[Any]:
        try:
            image = self._rbd.Image(ioctx, name, snapshot=SNAPSHOT, read_only=True)
        except (self._rbd.ImageNotFound, self._rbd.ObjectNotFound):
            return []
        try:
            return list(image.list_children2())
        finally:
            image.close()

    # -- removing -------------------------------------------------------------------------------------------------

    def delete(self, location: str) -> None:
        pool, name = self._parse(location)
        with self._pool(pool) as ioctx:
            if self._purge(ioctx, name) is False:
                # Cloned after the image API checked: the clones keep it, the sweeper frees it after them.
                kept = f"{name}{DELETED}{uuid.uuid4().hex[:12]}"
                self._rbd.RBD().rename(ioctx, name, kept)
                LOG.warning("image data %s has clones; kept as %s until they are gone", location, kept)

    def _purge(self, ioctx: Any, name: str) -> bool | None:
        """Remove an RBD image and its snapshots: True when removed, None when absent, False (nothing changed
        but unprotected snapshots) when a clone depends on it."""
        try:
            image = self._rbd.Image(ioctx, name)
        except self._rbd.ImageNotFound:
            return None
        try:
            for snapshot in list(image.list_snaps()):
                if image.is_protected_snap(snapshot["name"]):
                    try:
                        image.unprotect_snap(snapshot["name"])
                    except self._rbd.ImageBusy:
                        return False
                image.remove_snap(snapshot["name"])
        finally:
            image.close()
        try:
            self._rbd.RBD().remove(ioctx, name)
        except self._rbd.ImageNotFound:
            return None
        return True

    def sweep_staging(self, older_than_seconds: float) -> int:
        """Local staging files and copies by age; in Ceph, parts of commits that died and deleted images whose
        clones are gone. Ceph out of reach is logged, not raised: the local sweep still counts."""
        removed = _sweep_files(self.staging, older_than_seconds)
        removed += _sweep_files(self.copies, max(older_than_seconds, COPIES_KEPT_SECONDS))
        try:
            removed += self._sweep_pool(older_than_seconds)
        except StoreError as exc:
            LOG.warning("could not sweep the Ceph pool %s: %s", self.pool, exc.message)
        return removed

    def _sweep_pool(self, older_than_seconds: float) -> int:
        removed = 0
        cutoff = time.time() - older_than_seconds
        with self._pool() as ioctx:
            for name in self._rbd.RBD().list(ioctx):
                if DELETED in name:
                    removed += self._purge(ioctx, name) is True
                elif PART in name:
                    try:
                        with contextlib.closing(self._rbd.Image(ioctx, name, read_only=True)) as image:
                            made = image.create_timestamp().timestamp()
                    except self._rbd.ImageNotFound:
                        continue
                    if made < cutoff:
                        removed += self._purge(ioctx, name) is True
        return removed


def _write_data(image: Any, data: BinaryIO) -> None:
    """The file's chunks that hold anything but zeros, written with up to IN_FLIGHT asynchronous writes; holes
    (SEEK_DATA) are not even read. Raises the first write's error after all have ended."""
    fd, end = data.fileno(), os.fstat(data.fileno()).st_size
    slots = threading.Semaphore(IN_FLIGHT)
    failures: list[int] = []

    def done(completion: Any) -> None:
        if completion.get_return_value() < 0:
            failures.append(completion.get_return_value())
        slots.release()

    offset = 0
    while offset < end and not failures:
        try:
            offset = os.lseek(fd, offset, os.SEEK_DATA)
            hole = os.lseek(fd, offset, os.SEEK_HOLE)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole is left
                break
            hole = end  # a filesystem without SEEK_DATA: read the rest
        start = offset - offset % CHUNK
        while start < hole and not failures:
            chunk = os.pread(fd, CHUNK, start)
            if not chunk:
                break
            if chunk.count(0) != len(chunk):
                slots.acquire()
                image.aio_write(chunk, start, done)
            start += len(chunk)
        offset = start
    for _ in range(IN_FLIGHT):
        slots.acquire()
    if failures:
        raise StoreError(reason=f"Ceph failed a write: {os.strerror(-failures[0]).lower()}")
    image.flush()


def _sweep_files(directory: Path, older_than_seconds: float) -> int:
    cutoff, removed = time.time() - older_than_seconds, 0
    if not directory.is_dir():
        return 0
    for path in directory.iterdir():
        try:
            if path.stat().st_mtime >= cutoff:
                continue
            if path.is_dir():
                for inner in sorted(path.rglob("*"), reverse=True):
                    inner.rmdir() if inner.is_dir() else inner.unlink()
                path.rmdir()
            else:
                path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed
