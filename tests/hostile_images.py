"""Images that name a host file, and the canary file they name: every trick of issue 11 item 1 in one place.

The canary holds random bytes made for the test, so any run of them in a converted, downloaded or booted image can
only have come from reading it. The files here are made with ``qemu-img`` (trusted: the tests made them) or written
byte by byte; nothing here ever opens one with ``qemu-img`` as its claimed format.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CANARY_SIZE = 64 * 1024
# Any copy of 24 or more bytes of the canary contains one of its 16-byte windows that start at a multiple of 8.
_WINDOW, _STRIDE = 16, 8


def make_canary(directory: Path) -> Path:
    """A world-readable file of random bytes in ``directory``, like the host's own files QEMU could reach."""
    path = directory / "canary.bin"
    path.write_bytes(os.urandom(CANARY_SIZE))
    path.chmod(0o644)
    return path


def leaks(data: bytes, canary: Path) -> bool:
    """Whether ``data`` holds 24 bytes or more of the canary, at any offset."""
    secret = canary.read_bytes()
    return any(secret[at : at + _WINDOW] in data for at in range(0, len(secret) - _WINDOW + 1, _STRIDE))


def _qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True, timeout=60)


def descriptor(canary: Path, create_type: str = "monolithicFlat") -> bytes:
    """The issue's own example: a VMDK descriptor whose flat extent is a host file."""
    return (
        f'# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="{create_type}"\n\n'
        f'RW 128 FLAT "{canary}" 0\n\nddb.virtualHWVersion = "4"\n'
    ).encode()


_FLAT_SUBFORMATS = ("monolithicFlat", "twoGbMaxExtentFlat")
_IDS = "CID=fffffffe\nparentCID=ffffffff\n"


def hostile_texts(canary: Path) -> dict[str, bytes]:
    """VMDK descriptors spelled to get past a check that looks for the usual first line or QEMU's probe. Each but
    the last makes QEMU 7.2 read the canary when opened with ``-f vmdk`` (checked by hand); the last is a spelling
    QEMU refuses but other readers may not."""
    return {
        "descriptor": descriptor(canary),
        "descriptor, two-gigabyte flat extents": descriptor(canary, "twoGbMaxExtentFlat"),
        "descriptor after a blank line": b"\n" + descriptor(canary),
        "descriptor after comments and odd spacing": (
            f'#!/bin/sh\n# just a script\n\n\t  \n{_IDS}createType="monolithicFlat"\n'
            f'   RW\t 128   FLAT\t"{canary}"   0  \r\n'
        ).encode(),
        "descriptor with its extent spread over lines": (
            f'\n{_IDS}createType="monolithicFlat"\nRW\n128\nFLAT\n"{canary}"\n0\n'.encode()
        ),
        "descriptor with its createType in a comment": (
            f'\n# createType="monolithicFlat"\n{_IDS}  RW 128 FLAT "{canary}" 0\n'.encode()
        ),
        "descriptor in lower case": f'\n{_IDS}createtype="monolithicFlat"\nrw 128 flat "{canary}" 0\n'.encode(),
    }


def hostile_images(directory: Path, canary: Path) -> dict[str, tuple[Path, str]]:
    """Every trick as (file, the disk_format it claims), keyed by a label for the test's messages."""
    images: dict[str, tuple[Path, str]] = {}
    for number, (label, text) in enumerate(hostile_texts(canary).items()):
        path = directory / f"text-{number}.img"
        path.write_bytes(text)
        images[f"{label}, as raw"] = (path, "raw")
        images[f"{label}, as vmdk"] = (path, "vmdk")
    backing = directory / "backing.qcow2"
    _qemu_img("create", "-f", "qcow2", "-b", str(canary), "-F", "raw", str(backing))
    images["qcow2 with a backing file"] = (backing, "qcow2")
    data_file = directory / "data-file.qcow2"
    _qemu_img("create", "-f", "qcow2", "-o", f"data_file={canary},data_file_raw=on", str(data_file), "64K")
    images["qcow2 with an external data file"] = (data_file, "qcow2")
    make_canary(canary.parent)  # qemu-img just sized (and zeroed) the data file: random bytes again
    for subformat in _FLAT_SUBFORMATS:
        made = directory / f"{subformat}.vmdk"
        _qemu_img("create", "-f", "vmdk", "-o", f"subformat={subformat}", str(made), "1M")
        pointed = directory / f"{subformat}-canary.vmdk"
        pointed.write_bytes(_point_extents_at(made.read_bytes(), canary))
        images[f"qemu-img's own {subformat} descriptor"] = (pointed, "vmdk")
        images[f"qemu-img's own {subformat} descriptor, as raw"] = (pointed, "raw")
    return images


def hostile_labels() -> list[str]:
    """The keys :func:`hostile_images` returns, without making any file (for test parameters)."""
    labels = [f"{label}, as {claim}" for label in hostile_texts(Path("canary")) for claim in ("raw", "vmdk")]
    labels += ["qcow2 with a backing file", "qcow2 with an external data file"]
    for subformat in _FLAT_SUBFORMATS:
        labels += [f"qemu-img's own {subformat} descriptor", f"qemu-img's own {subformat} descriptor, as raw"]
    return labels


def _point_extents_at(text: bytes, canary: Path) -> bytes:
    lines = []
    for line in text.split(b"\n"):
        if line.startswith(b"RW "):
            access, _sectors, kind, _name, offset = line.split(b" ")
            line = b" ".join([access, b"128", kind, f'"{canary}"'.encode(), offset])
        lines.append(line)
    return b"\n".join(lines)
