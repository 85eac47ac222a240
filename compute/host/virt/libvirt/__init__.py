"""The libvirt driver, in layers (nova's shape):

- ``config``: pure builders of domain XML from plain dataclasses; no libvirt, no policy. Golden-file tested.
- ``host``: the connection to libvirtd (opened lazily, reopened when libvirtd restarts) and facts about the host.
- ``guest``: a thin wrapper around one domain, and the libvirt state → ``PowerState`` mapping.
- ``disks``: root disk overlays, snapshots and config drives, with ``qemu-img`` and ``genisoimage``.
- ``driver``: ``LibvirtDriver``, the ``ComputeDriver`` that orchestrates the above.

Only this package imports ``libvirt``.
"""
