"""The only place that runs ``qemu-img`` on image data a tenant supplied: conversions (variants, imports), base
images in a host's cache, root disk overlays on them, and the snapshots that read them back.

QEMU opens whatever other files an image names: a qcow2 backing file or external data file, the extents of a VMDK
descriptor, a VMDK parent. One such header turns a conversion or a boot into a read of any host file (the Fernet
keys, the database). So every run here, image service and compute host alike:

1. first inspects the bytes with :mod:`image.inspector` and requires them to be exactly the recorded format, with
   nothing that names another file, whatever the image record says or said when the data arrived;
2. gives the format with ``-f`` (nothing is ever probed) and the file as a ``json:`` block description whose only
   file is the path given and whose backing is ``null``, so even a header the inspector missed cannot make QEMU
   open a backing file (``--image-opts`` would do the same but refuses ``-f`` and needs commas escaped in paths;
   JSON is exact for any path);
3. runs under ``prlimit`` (address space and CPU time, as Nova's ``qemu_img_info`` does) and a wall-clock timeout,
   so a hostile header cannot exhaust the host either.

Imports nothing of the image service's control side: compute hosts use it too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from common.exceptions import StratusError
from image.inspector import ImageInfo, inspect

# The inspector's formats (raw-like claims come back as raw) → qemu's driver names.
QEMU_DRIVERS = {
    "raw": "raw",
    "iso": "raw",
    "qcow2": "qcow2",
    "vmdk": "vmdk",
    "vhd": "vpc",
    "vhdx": "vhdx",
    "vdi": "vdi",
}
TARGET_OPTIONS = {"qcow2": ("-o", "compat=1.1"), "raw": (), "vmdk": ("-o", "subformat=streamOptimized")}
CONVERTIBLE_TARGETS = tuple(TARGET_OPTIONS)
#: Formats a root disk overlay may sit on: what libvirt hands QEMU as the backing of every instance disk.
BASE_FORMATS = ("qcow2", "raw")
GiB = 1 << 30


@dataclass(frozen=True)
class Limits:
    """What one qemu-img run may use: bytes of address space, seconds of CPU time, seconds of wall-clock time."""

    address_space: int
    cpu_seconds: int
    wall_seconds: float


# Nova's limits for qemu-img info (1 GiB, 30 s): reading headers needs little.
INFO_LIMITS = Limits(1 * GiB, 30, 60.0)
CONVERT_LIMITS = Limits(2 * GiB, 3600, 3600.0)


class QemuImgError(StratusError):
    """qemu-img refused or failed on an image that passed inspection; the message says which run and why."""

    msg_fmt = "{reason}"
    code = 400
    title = "Bad Request"


def inspected(path: Path, disk_format: str) -> ImageInfo:
    """The inspector's verdict on ``path`` as ``disk_format``; raises ``InspectionError`` for anything unsafe."""
    info = inspect(path, disk_format)
    if info.format not in QEMU_DRIVERS:
        raise QemuImgError(reason=f"{disk_format} images cannot be read by this cloud")
    return info


def _file(path: Path) -> dict[str, object]:
    return {"driver": "file", "filename": str(path.absolute())}


def source_args(path: Path, driver: str) -> list[str]:
    """``-f driver`` and the json: description that opens ``path`` alone (no backing, whatever its header says)."""
    return ["-f", driver, "json:" + json.dumps({"file": _file(path), "backing": None})]


def run(args: list[str], what: str, limits: Limits) -> str:
    """Run ``qemu-img args`` under ``limits``; its stdout, or :class:`QemuImgError` naming ``what`` failed."""
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise QemuImgError(reason="prlimit (util-linux) is not installed: qemu-img is never run without limits")
    command = [prlimit, f"--as={limits.address_space}", f"--cpu={limits.cpu_seconds}", "--", "qemu-img", *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=limits.wall_seconds, check=False)
    except subprocess.TimeoutExpired:
        raise QemuImgError(reason=f"{what}: qemu-img took longer than {limits.wall_seconds:g} s") from None
    except OSError as exc:
        raise QemuImgError(reason=f"{what}: {exc}") from exc
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise QemuImgError(reason=f"{what}: {lines[-1] if lines else f'qemu-img exited with {result.returncode}'}")
    return result.stdout


def virtual_size(path: Path, disk_format: str) -> int:
    """The guest-visible size in bytes of an inspected image, as qemu-img reads it."""
    info = inspected(path, disk_format)
    args = ["info", "--output", "json", *source_args(path, QEMU_DRIVERS[info.format])]
    output = run(args, f"reading {path}", INFO_LIMITS)
    return int(json.loads(output)["virtual-size"])


def convert(source: Path, source_format: str, target: Path, target_format: str) -> ImageInfo:
    """Write ``source`` (checked to be a safe ``source_format`` image first) to ``target`` in ``target_format``,
    replacing what ``target`` held; returns what the inspector found the source to be."""
    if target_format not in TARGET_OPTIONS:
        raise QemuImgError(reason=f"images can be converted to {', '.join(CONVERTIBLE_TARGETS)}, not {target_format}")
    info = inspected(source, source_format)
    args = ["convert", *source_args(source, QEMU_DRIVERS[info.format]), "-O", target_format]
    args += [*TARGET_OPTIONS[target_format], str(target)]
    run(args, f"converting a {source_format} image to {target_format}", CONVERT_LIMITS)
    return info


def create_overlay(overlay: Path, base: Path, base_format: str, size: int) -> None:
    """A qcow2 at ``overlay`` of ``size`` bytes whose backing file is ``base``, checked first to be a safe
    ``base_format`` image: QEMU will follow the backing chain when the guest boots. ``-u``: qemu-img itself never
    opens the base (its size comes from the inspection)."""
    if base_format not in BASE_FORMATS:
        raise QemuImgError(reason=f"root disks sit on {' or '.join(BASE_FORMATS)} images, not {base_format}")
    inspected(base, base_format)
    args = ["create", "-q", "-u", "-f", "qcow2", "-F", base_format, "-b", str(base.absolute()), str(overlay)]
    run([*args, str(size)], f"creating the disk {overlay}", INFO_LIMITS)


def flatten(overlay: Path, target: Path, force_share: bool = False) -> None:
    """Copy the instance disk ``overlay`` (a qcow2 made by :func:`create_overlay`) and its base into one
    standalone qcow2 at ``target``. The overlay's own header is ours, but the base it names is checked again, and
    the chain QEMU may open is spelled out: the overlay, its base, and nothing below. ``force_share`` (``-U``)
    reads a disk a paused guest holds open."""
    share = ["-U"] if force_share else []
    header = run(
        ["info", *share, "--output", "json", *source_args(overlay, "qcow2")], f"snapshot of {overlay}", INFO_LIMITS
    )
    described = json.loads(header)
    chain: dict[str, object] = {"file": _file(overlay), "backing": None}
    if described.get("backing-filename"):
        base = Path(described["full-backing-filename"])
        base_format = described.get("backing-filename-format", "")
        if base_format not in BASE_FORMATS:
            raise QemuImgError(reason=f"the disk {overlay} sits on a {base_format or 'unnamed'} format image")
        inspected(base, base_format)
        chain["backing"] = {"driver": base_format, "file": _file(base), "backing": None}
    args = ["convert", *share, "-f", "qcow2", "json:" + json.dumps(chain)]
    run([*args, "-O", "qcow2", str(target)], f"snapshot of {overlay}", CONVERT_LIMITS)
