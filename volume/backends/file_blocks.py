"""Block access to the file backend's qcow2 volumes: QEMU persistent dirty bitmaps as checkpoints, data over NBD.

A backup adds the bitmap ``stratus-backup-<backup id>`` to the volume's qcow2 file (``qemu-img bitmap``): from then
on every QEMU that opens the file read-write — the guest's, while the volume is attached; ``qemu-img`` resizing
it; a restore — records each cluster it writes there, and the bitmap is saved in the file when QEMU closes it. The
next backup reads that bitmap as the list of changed blocks. Both the data and the bitmap are read through
``qemu-nbd`` serving the one file on a socket pair (libnbd starts it by socket activation: no path, no port):
``base:allocation`` says which clusters hold data, ``qemu:dirty-bitmap:<name>`` which changed.

``qemu-nbd`` runs under ``prlimit`` like every ``qemu-img`` here. The file backend's naming (``FileBackend``'s
locations) and its per-volume lock are reused, so a backup never runs beside a snapshot, extend or delete of the
same file.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from image.qemu_img import CONVERT_LIMITS, INFO_LIMITS
from volume.backends.base import BackendError
from volume.backends.blocks import BlockAccess, BlockReader, BlockWriter, Range
from volume.backends.file import FileBackend

BITMAP_PREFIX = "stratus-backup-"
_CHECKPOINT = re.compile(r"^stratus-backup-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
STATUS_WINDOW = 1 << 30
"""Bytes asked per NBD block-status request (the server may answer less)."""
ZERO_STEP = 1 << 30
ALLOCATION = "base:allocation"
_HOLE, _ZERO = 1, 2  # base:allocation flags
_DIRTY = 1  # qemu:dirty-bitmap flag


def _nbd() -> Any:
    """libnbd's Python binding (Debian's python3-libnbd, put on the virtualenv's path by deploy/install-deps.sh)."""
    try:
        import nbd  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise BackendError(reason="libnbd's Python binding (python3-libnbd) is not installed") from None
    return nbd


def _server(opened: str, *, write: bool, bitmap: str | None = None, snapshot: str | None = None) -> list[str]:
    """``qemu-nbd`` serving one qcow2 file, under the same limits as ``qemu-img`` converting one."""
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise BackendError(reason="prlimit (util-linux) is not installed: qemu-nbd is never run without limits")
    limits = CONVERT_LIMITS
    argv = [prlimit, f"--as={limits.address_space}", f"--cpu={limits.cpu_seconds}", "--", "qemu-nbd"]
    argv += ["--discard=unmap", "--detect-zeroes=unmap"] if write else ["--read-only", "--shared=1"]
    argv += ["-B", bitmap] if bitmap else []
    argv += ["-l", f"snapshot.name={snapshot}"] if snapshot else []
    return [*argv, opened]


def _status(handle: Any, context: str, offset: int, count: int) -> list[tuple[int, int, int]]:
    """One NBD block-status reply of ``context`` from ``offset``: ``(offset, length, flags)`` entries."""
    found: list[tuple[int, int, int]] = []

    def collect(meta: str, start: int, entries: list[int], _error: Any) -> int:
        if meta == context:
            position = start
            for index in range(0, len(entries), 2):
                found.append((position, entries[index], entries[index + 1]))
                position += entries[index]
        return 0

    handle.block_status(count, offset, collect)
    return found


def _extents(handle: Any, context: str, size: int) -> Iterator[tuple[int, int, int]]:
    """``(offset, length, flags)`` of one metadata context over the whole export (a reply may cover less than
    was asked: ask again from where it ended)."""
    offset = 0
    while offset < size:
        found = _status(handle, context, offset, min(STATUS_WINDOW, size - offset))
        if not found:
            raise BackendError(reason="the volume's block status could not be read")
        for start, length, flags in found:
            length = min(length, size - start)
            if length > 0:
                yield start, length, flags
        offset = min(size, found[-1][0] + found[-1][1])


def _merged(ranges: Iterator[tuple[int, int]]) -> Iterator[Range]:
    pending: Range | None = None
    for offset, length in ranges:
        if pending is not None and pending.end == offset:
            pending = Range(pending.offset, pending.length + length)
            continue
        if pending is not None:
            yield pending
        pending = Range(offset, length)
    if pending is not None:
        yield pending


class _Handle:
    """The NBD connection as readers and writers use it; it ends with the ``with`` block that opened it, however
    long a caller keeps the reader (libnbd closes a handle, and waits for its qemu-nbd, when it is dropped)."""

    def __init__(self, handle: Any) -> None:
        self._handle: Any = handle

    def __getattr__(self, name: str) -> Any:
        if self._handle is None:
            raise BackendError(reason="the volume was read after its backup ended")
        return getattr(self._handle, name)

    def drop(self) -> None:
        self._handle = None


class _Reader(BlockReader):
    def __init__(self, handle: Any, *, tracked_by: str | None, checkpoint: str | None) -> None:
        self.handle = handle
        self.size = int(handle.get_size())
        self.tracked = tracked_by is not None
        self.checkpoint = checkpoint
        self.context = f"qemu:dirty-bitmap:{tracked_by}" if tracked_by else ALLOCATION

    def ranges(self) -> Iterator[Range]:
        if self.tracked:
            wanted = ((o, n) for o, n, flags in _extents(self.handle, self.context, self.size) if flags & _DIRTY)
        else:
            wanted = (
                (o, n) for o, n, flags in _extents(self.handle, ALLOCATION, self.size) if not flags & (_HOLE | _ZERO)
            )
        return _merged(wanted)

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self.handle.pread(length, offset))


class _Writer(BlockWriter):
    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.size = int(handle.get_size())

    def write(self, offset: int, data: bytes) -> None:
        self.handle.pwrite(data, offset)

    def zero(self, offset: int, length: int) -> None:
        end = offset + length
        while offset < end:
            step = min(ZERO_STEP, end - offset)
            self.handle.zero(step, offset)
            offset += step


class FileBlocks(BlockAccess):
    def __init__(self, backend: FileBackend) -> None:
        self.backend = backend

    @staticmethod
    def checkpoint_of(backup_id: str) -> str:
        name = f"{BITMAP_PREFIX}{backup_id}"
        if not _CHECKPOINT.match(name):
            raise BackendError(reason="backup ids are UUIDs")
        return name

    def _bitmaps(self, location: str) -> list[str]:
        info = self.backend._info(self.backend._path(location))
        specific = info.get("format-specific", {}).get("data", {})  # type: ignore[union-attr]
        return [str(b["name"]) for b in specific.get("bitmaps", [])]

    def _bitmap(self, location: str, verb: str, name: str) -> None:
        path = self.backend._path(location)
        args = ["bitmap", verb, *(["--enable"] if verb == "--add" else []), self.backend._opened(path), name]
        self.backend._run(args, "marking a backup's checkpoint", INFO_LIMITS)

    @contextmanager
    def _connected(self, argv: list[str], contexts: list[str]) -> Iterator[Any]:
        nbd = _nbd()
        handle = nbd.NBD()
        for context in contexts:
            handle.add_meta_context(context)
        try:
            handle.connect_systemd_socket_activation(argv)
        except nbd.Error as exc:
            raise BackendError(reason=f"the volume could not be opened for its backup: {exc.string}") from None
        wrapped = _Handle(handle)
        try:
            yield wrapped
        finally:
            wrapped.drop()
            with suppress(nbd.Error):
                handle.shutdown()
            # libnbd's close (the last reference going) waits for qemu-nbd to exit, so the file is written back
            # and its lock released before the volume is touched again.
            del handle

    @contextmanager
    def reader(
        self, location: str, *, backup_id: str, since: str | None, snapshot_location: str | None = None
    ) -> Iterator[BlockReader]:
        if snapshot_location is not None and "@" not in snapshot_location:
            # A snapshot file a guest's host wrote (snapshot_by_host): a standalone qcow2 read alone, without
            # touching the volume, which its guest may hold.
            source = self.backend._source(snapshot_location)
            with self.backend._locked(snapshot_location):
                if not source.exists():
                    raise BackendError(reason="the snapshot's data is gone")
                argv = _server(self.backend._opened(source), write=False)
                with self._connected(argv, [ALLOCATION]) as handle:
                    yield _Reader(handle, tracked_by=None, checkpoint=None)
            return
        path = self.backend._path(location)
        with self.backend._locked(location):
            if not path.exists():
                raise BackendError(reason="the volume's data is gone")
            snapshot = self.backend._snapshot(snapshot_location)[1] if snapshot_location else None
            bitmaps = self._bitmaps(location)
            tracked_by = since if since is not None and snapshot is None and since in bitmaps else None
            checkpoint = None if snapshot is not None else self.checkpoint_of(backup_id)
            if checkpoint is not None and checkpoint not in bitmaps:
                self._bitmap(location, "--add", checkpoint)
            contexts = [ALLOCATION] + ([f"qemu:dirty-bitmap:{tracked_by}"] if tracked_by else [])
            argv = _server(self.backend._opened(path), write=False, bitmap=tracked_by, snapshot=snapshot)
            try:
                with self._connected(argv, contexts) as handle:
                    yield _Reader(handle, tracked_by=tracked_by, checkpoint=checkpoint)
            except BaseException:
                if checkpoint is not None:
                    self._bitmap(location, "--remove", checkpoint)
                raise

    def forget(self, location: str, checkpoint: str) -> None:
        if not _CHECKPOINT.match(checkpoint):
            raise BackendError(reason="not a checkpoint of the file backend")
        with self.backend._locked(location):
            if self.backend._path(location).exists() and checkpoint in self._bitmaps(location):
                self._bitmap(location, "--remove", checkpoint)

    @contextmanager
    def writer(self, location: str) -> Iterator[BlockWriter]:
        path = self.backend._path(location)
        with self.backend._locked(location):
            if not path.exists():
                raise BackendError(reason="the volume's data is gone")
            with self._connected(_server(self.backend._opened(path), write=True), []) as handle:
                yield _Writer(handle)
                handle.flush()
