"""The libvirt driver, in layers (nova's shape):

- ``config``: pure builders of domain XML from plain dataclasses; no libvirt, no policy. Golden-file tested.
- ``host``: the connection to libvirtd (opened lazily, reopened when libvirtd restarts) and facts about the host.
- ``guest``: a thin wrapper around one domain, and the libvirt state → ``PowerState`` mapping.
- ``disks``: root disk overlays, snapshots and config drives, with ``qemu-img`` and ``genisoimage``.
- ``runner``: the one module here that runs commands (``subprocess``); tenant images go through ``image.qemu_img``.
- ``driver``: ``LibvirtDriver``, the ``ComputeDriver`` that orchestrates the above.

Run by the compute host agent (``stratus-compute``) alone. Only this package imports ``libvirt`` (an
import-linter contract says so), and nothing here imports the database.
"""
