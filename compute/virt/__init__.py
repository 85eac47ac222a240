"""Hypervisor drivers, chosen by the ``compute_driver`` setting: ``libvirt`` (the real one) or ``fake``."""
