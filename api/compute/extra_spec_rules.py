"""Flavor extra spec validation (microversion 2.86), for the namespaces Nova recognises.

From 2.86 Nova checks the extra specs written with ``POST /flavors/{id}/os-extra_specs`` and ``PUT
/flavors/{id}/os-extra_specs/{key}``: a key in a recognised namespace (``hw``, ``hw_rng``, ``hw_video``, ``os``,
``quota``, ``resources``, ``trait``, ``accel``, ``pci_passthrough``, ``aggregate_instance_extra_specs``,
``capabilities``, ``powervm``, ``vmware``) must be one it knows and its value must be of the kind it takes; keys
of other namespaces pass unchecked. Before 2.86 nothing is checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from common.exceptions import BadRequest

Check = Callable[[str], bool]


def _enum(*values: str) -> Check:
    return lambda value: value in values


def _integer(minimum: int = 0) -> Check:
    return lambda value: bool(re.fullmatch(r"-?[0-9]+", value)) and int(value) >= minimum


def _anything(value: str) -> bool:
    return True


_BOOL_WORDS = ("true", "false", "1", "0", "yes", "no", "on", "off")
_BOOL = _enum(*(w for word in _BOOL_WORDS for w in (word, word.upper(), word.capitalize())))
_PAGE_SIZE = re.compile(r"^(small|large|any|[0-9]+([kKmMgGtT]i?[bB]?)?)$")

HW: dict[str, Check] = {
    "cpu_policy": _enum("shared", "dedicated", "mixed"),
    "cpu_thread_policy": _enum("prefer", "isolate", "require"),
    "emulator_threads_policy": _enum("share", "isolate"),
    "cpu_dedicated_mask": _anything,
    "cpu_realtime": _BOOL,
    "cpu_realtime_mask": _anything,
    "hide_hypervisor_id": _BOOL,
    "numa_nodes": _integer(1),
    "pci_numa_affinity_policy": _enum("required", "preferred", "legacy", "socket"),
    "cpu_sockets": _integer(1),
    "cpu_cores": _integer(1),
    "cpu_threads": _integer(1),
    "cpu_max_sockets": _integer(1),
    "cpu_max_cores": _integer(1),
    "cpu_max_threads": _integer(1),
    "mem_page_size": lambda value: bool(_PAGE_SIZE.match(value)),
    "boot_menu": _BOOL,
    "vif_multiqueue_enabled": _BOOL,
    "mem_encryption": _BOOL,
    "pmu": _BOOL,
    "serial_port_count": _integer(0),
    "tpm_version": _enum("1.2", "2.0"),
    "tpm_model": _enum("tpm-tis", "tpm-crb"),
    "watchdog_action": _enum("none", "pause", "poweroff", "reset", "disabled"),
    "vpmem": _anything,
    "locked_memory": _BOOL,
    "virtio_packed_ring": _BOOL,
    "maxphysaddr_mode": _enum("emulate", "passthrough"),
    "maxphysaddr_bits": _integer(1),
    "viommu_model": _enum("intel", "smmuv3", "virtio", "auto"),
    "ephemeral_encryption": _BOOL,
    "ephemeral_encryption_format": _enum("luks", "plain"),
    "time_hpet": _BOOL,
    "cpu_realtime_policy": _anything,
}
HW_INDEXED = {"numa_cpus": _anything, "numa_mem": _integer(0)}  # hw:numa_cpus.0, hw:numa_mem.1 ...
QUOTA_INTEGERS = frozenset(
    (
        "cpu_shares", "cpu_period", "cpu_quota", "cpu_limit", "cpu_reservation", "cpu_shares_share",
        "disk_read_bytes_sec", "disk_read_iops_sec", "disk_write_bytes_sec", "disk_write_iops_sec",
        "disk_total_bytes_sec", "disk_total_iops_sec", "disk_io_limit", "disk_io_reservation",
        "disk_io_shares_share", "memory_limit", "memory_reservation", "memory_shares_share", "vif_inbound_average",
        "vif_inbound_peak", "vif_inbound_burst", "vif_outbound_average", "vif_outbound_peak", "vif_outbound_burst",
        "vif_limit", "vif_reservation", "vif_shares_share",
    )
)  # fmt: skip
QUOTA_LEVELS = frozenset(("cpu_shares_level", "disk_io_shares_level", "memory_shares_level", "vif_shares_level"))
FREE_NAMESPACES = ("aggregate_instance_extra_specs", "capabilities", "powervm", "vmware")
_GROUPED = re.compile(r"^(resources|trait)([a-zA-Z0-9_-]{0,64}):(.+)$")


def _unknown(key: str) -> BadRequest:
    return BadRequest(f"Validation failed; extra spec key '{key}' is not recognised in its namespace.")


def _bad_value(key: str, value: str) -> BadRequest:
    return BadRequest(f"Validation failed; '{value}' is not a valid value for extra spec '{key}'.")


def _check(key: str) -> Check | None:
    """The check of a recognised key; None for a key of a namespace Nova does not check. Unknown: 400."""
    namespace, _, name = key.partition(":")
    grouped = _GROUPED.match(key)
    if grouped:
        kind, _, rest = grouped.groups()
        if kind == "resources":
            if not re.fullmatch(r"[A-Z0-9_]+", rest):
                raise _unknown(key)
            return _integer(0)
        if not re.fullmatch(r"[A-Z0-9_]+", rest):
            raise _unknown(key)
        return _enum("required", "forbidden")
    if not name or namespace in FREE_NAMESPACES:
        return None
    if namespace == "hw":
        indexed, _, index = name.partition(".")
        if index and indexed in HW_INDEXED and index.isdigit():
            return HW_INDEXED[indexed]
        if name in HW:
            return HW[name]
        raise _unknown(key)
    table: dict[str, dict[str, Check]] = {
        "hw_rng": {"allowed": _BOOL, "rate_bytes": _integer(0), "rate_period": _integer(0)},
        "hw_video": {"ram_max_mb": _integer(0)},
        "os": {"secure_boot": _enum("required", "disabled", "optional")},
        "accel": {"device_profile": _anything},
        "pci_passthrough": {"alias": _anything},
        "quota": {**dict.fromkeys(QUOTA_INTEGERS, _integer(0)), **dict.fromkeys(QUOTA_LEVELS, _anything)},
    }
    if namespace not in table:
        return None
    if name not in table[namespace]:
        raise _unknown(key)
    return table[namespace][name]


def validate(specs: dict[str, str]) -> None:
    """2.86's check of extra specs about to be written (values already strings); 400 for the first bad one."""
    for key, value in specs.items():
        check = _check(key)
        if check is not None and not check(value):
            raise _bad_value(key, value)
