"""The cloud's Ceph cluster as a compute host's clients reach it (QEMU's librbd, the compute agent's root-disk
clones): what ``host join`` puts in a host's bundle and ``host setup`` writes on the host.

A bundle carries values, never files: the cluster's ``fsid``, its monitors (``mon_host``), the cephx user and its
key. The host renders its own ``ceph.conf`` and keyring from them once each is checked, so nothing of the control
node's ``ceph.conf`` (its daemons' paths, sockets and logs) and no line a bundle could smuggle in reaches the host.
The host's files go where its settings look (``ceph_conf``, ``ceph_keyring``; by default ``<state_dir>/ceph/``).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path

from common import ceph_files
from common.exceptions import ConfigError
from common.settings import HostSettings, Settings
from manage.broker import write_private

_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ADDRESS = r"(?:v[12]:)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252})(?::\d{1,5})?(?:/\d{1,10})?"
"""One monitor address: ``[v2:|v1:]host[:port][/nonce]``, an IPv6 host in brackets."""
_ENTRY = rf"(?:{_ADDRESS}|\[{_ADDRESS}(?:,{_ADDRESS})*\])"
_MON_HOST = re.compile(rf"{_ENTRY}(?:[, ]+{_ENTRY})*")
"""``mon_host`` as Ceph writes it: monitors separated by commas or spaces, each an address or a bracketed address
vector (``[v2:a:3300,v1:a:6789]``)."""


def hosts_use_ceph(settings: Settings) -> bool:
    """Whether a host opens anything in Ceph: root disks there (``images_type``) or Ceph volumes to attach."""
    backends = [name.strip() for name in settings.volume_backends.split(",")]
    return settings.images_type == "rbd" or "rbd" in backends


def _check_mon_host(value: str) -> str:
    """``value`` when it is a monitor list and nothing else (a newline, a comment, a second setting are not)."""
    if len(value) > 1024 or not _MON_HOST.fullmatch(value):
        raise ConfigError(setting="ceph", reason=f"mon_host {value!r} is not a list of monitor addresses")
    return value


@dataclass(frozen=True)
class CephClient:
    """What a host needs to reach the cluster as ``user``; every field checked when made."""

    fsid: str
    mon_host: str
    user: str
    key: str
    """The cephx key, base64 as Ceph prints it."""

    def __post_init__(self) -> None:
        try:
            if str(uuidlib.UUID(self.fsid)) != self.fsid:
                raise ValueError
        except (ValueError, TypeError, AttributeError):
            raise ConfigError(setting="ceph", reason="fsid is not a lower-case uuid") from None
        _check_mon_host(self.mon_host)
        if not _USER.match(self.user):
            raise ConfigError(setting="ceph", reason=f"{self.user!r} is not a Ceph user name")
        try:
            if len(base64.b64decode(self.key, validate=True)) < 16:
                raise ValueError
        except (binascii.Error, ValueError):
            raise ConfigError(setting="ceph", reason="the cephx key is not a key") from None

    @classmethod
    def from_table(cls, table: object) -> CephClient:
        """The ``[ceph]`` table of a bundle, refused unless it holds exactly the four strings."""
        names = {"fsid", "mon_host", "user", "key"}
        if not isinstance(table, dict) or set(table) != names or not all(isinstance(v, str) for v in table.values()):
            raise ConfigError(setting="ceph", reason=f"the bundle's [ceph] table must hold {', '.join(sorted(names))}")
        return cls(**table)

    def table(self) -> dict[str, str]:
        return {"fsid": self.fsid, "mon_host": self.mon_host, "user": self.user, "key": self.key}

    def conf(self) -> str:
        return (
            "# Written by stratus-manage host setup: the cloud's Ceph cluster as this host's clients reach it.\n"
            "[global]\n"
            f"fsid = {self.fsid}\n"
            f"mon_host = {self.mon_host}\n"
            "auth_cluster_required = cephx\n"
            "auth_service_required = cephx\n"
            "auth_client_required = cephx\n"
            "\n[client]\n"
            "# QEMU and the agents leave no log or socket behind\n"
            "log_file =\n"
            "admin_socket =\n"
        )

    def keyring(self) -> str:
        return f"[client.{self.user}]\n\tkey = {self.key}\n"


def of_control(settings: Settings) -> CephClient | None:
    """The control node's cluster for a host, when hosts use Ceph; ConfigError when they do and the cluster's
    ``ceph.conf`` or ``ceph_user``'s keyring cannot be read (Ceph must be made before hosts join)."""
    if not hosts_use_ceph(settings):
        return None
    conf, keyring, user = settings.effective_ceph_conf, settings.effective_ceph_keyring, settings.ceph_user
    try:
        values, key = ceph_files.global_values(conf.read_text()), ceph_files.keyring_key(keyring.read_text(), user)
    except OSError as exc:
        reason = f"hosts use Ceph but {exc.filename} cannot be read ({exc.strerror}): start Ceph before joining hosts"
        raise ConfigError(setting="ceph_conf", reason=reason) from None
    if key is None:
        raise ConfigError(setting="ceph_keyring", reason=f"{keyring} holds no key of client.{user}")
    if "fsid" not in values or "mon_host" not in values:
        raise ConfigError(setting="ceph_conf", reason=f"{conf} names no fsid or no mon_host in [global]")
    return CephClient(values["fsid"], values["mon_host"], user, key)


def install(client: CephClient, settings: HostSettings) -> tuple[Path, Path]:
    """Write the host's ceph.conf (readable: no secret in it) and keyring (mode 600) where its settings look."""
    conf, keyring = settings.effective_ceph_conf, settings.effective_ceph_keyring
    write_private(keyring, client.keyring().encode())
    write_private(conf, client.conf().encode())
    conf.chmod(0o644)
    return conf, keyring
