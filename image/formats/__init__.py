"""Header parsers, one module per family of disk image formats.

Each parser is a *probe*: given a :class:`Reader` over an upload, it returns ``None`` when the file does not carry
its format's signature, an :class:`ImageInfo` when it does and the header is sound and self-contained, and raises
:class:`InspectionError` when the signature is there but the header is malformed or names other files. The public
entry points, which run the probes in :data:`PROBES` order, are in :mod:`image.inspector`.
"""

from __future__ import annotations

from collections.abc import Callable

from image.formats import iso, luks, microsoft, qemu, virtualbox, vmware
from image.formats.base import READ_BUDGET, ImageInfo, InspectionError, Reader

Probe = Callable[[Reader], ImageInfo | None]

#: Signatures at the start of the file come first; the VHD footer at the end and the ISO descriptor at 32 KiB come
#: last, so a file that is both (a qcow2 with "CD001" at 0x8001) is judged by what QEMU would take it for.
PROBES: tuple[Probe, ...] = (
    qemu.probe_qcow2,
    qemu.probe_qed,
    vmware.probe_vmdk,
    microsoft.probe_vhdx,
    luks.probe_luks,
    virtualbox.probe_vdi,
    microsoft.probe_vhd,
    iso.probe_iso,
)

__all__ = ["PROBES", "READ_BUDGET", "ImageInfo", "InspectionError", "Probe", "Reader"]
