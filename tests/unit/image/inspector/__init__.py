"""Unit tests of the image format inspector (``image.inspector`` and ``image.formats``), one module per kind of
image or of attack, and what they share: byte patching, a counting opener, and the samples' expected formats and
sizes. The samples themselves come from ``tests/unit/image/conftest.py``."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

GIB = 1024**3
MIB = 1024**2


class CountingOpener:
    """Opens files for the inspector and records which files it opened and how many bytes it read."""

    def __init__(self) -> None:
        self.opened: list[Path] = []
        self.bytes_read = 0

    def __call__(self, path: Path) -> _CountingFile:
        self.opened.append(path)
        return _CountingFile(path.open("rb", buffering=0), self)


class _CountingFile:
    def __init__(self, file: io.RawIOBase, opener: CountingOpener) -> None:
        self._file, self._opener = file, opener

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._opener.bytes_read += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def __enter__(self) -> _CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def patch(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as file:
        file.seek(offset)
        file.write(data)


def replace_text(path: Path, old: bytes, new: bytes) -> None:
    """Rewrite ``old`` as ``new`` in place, padded with spaces so no byte after it moves."""
    content = path.read_bytes()
    assert content.count(old) == 1 and len(new) <= len(old)
    patch(path, content.index(old), new.ljust(len(old)))


def iso_image(directory: Path) -> Path:
    (directory / "content").mkdir()
    (directory / "content" / "hello.txt").write_text("hello\n")
    path = directory / "cd.iso"
    subprocess.run(["genisoimage", "-quiet", "-o", str(path), str(directory / "content")], check=True)
    return path


# sample -> (format, virtual size QEMU gives it)
DETECTED = [
    ("qcow2-v3", "qcow2", GIB),
    ("qcow2-v2", "qcow2", GIB),
    ("vmdk-monolithic-sparse", "vmdk", GIB),
    ("vmdk-stream-optimized", "vmdk", GIB),
    ("vhd-dynamic", "vhd", 1073995776),  # qemu-img rounds 1 GiB up to a whole CHS geometry
    ("vhd-fixed", "vhd", 10514432),
    ("vhdx", "vhdx", GIB),
    ("vdi", "vdi", GIB),
    ("qed", "qed", GIB),
    ("raw", "raw", 64 * MIB),
]
