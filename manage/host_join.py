"""A compute host on another machine: ``stratus-manage host join`` on the control node, ``host setup`` on the host.

``join`` writes one bundle file, a plain (uncompressed) tar archive of mode 0600, with everything the host needs
and nothing more (the database's address and credentials are control-only, ``common.settings.CONTROL_ONLY``):

- ``bundle.toml``: ``format``, ``host``, ``address`` and a ``[settings]`` table, the host's settings: its name
  and underlay address, the broker over TLS by the control node's address (``rediss://<control>:<tls port>/0``)
  as its own Redis user ``host-<host>``, the API's URL by address (image and metadata URLs follow from it), the
  service account's password and the settings every host must share with the control side;
- ``host.keys``: its message key file (``common.signing``: its own key only);
- ``broker-password``: the password of its Redis user (``manage.broker_acl``);
- ``broker-ca.pem``: the CA the broker's TLS certificate chains to;
- ``metadata-secret``: the secret its metadata proxy signs guests' requests with (``common.metadata_secret``);
- ``libvirt/cacert.pem``, ``servercert.pem``, ``serverkey.pem``, ``clientcert.pem``, ``clientkey.pem``: its
  libvirtd's TLS files (``manage.hypervisor_tls``);
- ``qemu/ca-cert.pem``, ``server-cert.pem``, ``server-key.pem``, ``client-cert.pem``, ``client-key.pem``: its
  QEMU's, for live migrations' encrypted streams, installed in ``/etc/pki/qemu`` (readable by QEMU's group) with
  ``migrate_tls_x509_cert_dir`` in ``qemu.conf``.

When hosts use Ceph (root disks or volumes there), ``bundle.toml`` also has a ``[ceph]`` table: the cluster's fsid
and monitors, the cephx user and its key (``manage.ceph_client``), from which ``setup`` writes the host's own
``ceph.conf`` and keyring.

Whoever holds the bundle holds that host's power (its reports, its queues, its libvirt identity), never more:
copy it with ``scp`` and delete it once set up. ``setup`` reads only those members (regular files of bounded size;
any other member, a link or a path, is refused) and installs them where the defaults of ``HostSettings`` look:
``<state_dir>/queue-keys/hosts/<host>.keys`` and ``.broker-password``, ``<state_dir>/broker-tls/ca.pem``,
``<state_dir>/metadata-secret``, the libvirt files in the libvirt pki directory (``/etc/pki/libvirt``), then
writes ``<state_dir>/stratus.toml`` (with a TOML serializer, the bundle's values checked against the settings'
types first), the TLS settings of ``libvirtd.conf`` and the ``libvirtd-tls.socket`` drop-in (the underlay
address only), the units' environment file, and installs the host's systemd units.

Both are plain functions (:func:`join`, :func:`setup`): the simulated host machines of ``manage.host_machine``
are configured by them as a real machine is, with paths of their own (:class:`HostPaths`).
"""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import math
import os
import tarfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from common import signing
from common.exceptions import ConfigError
from common.hostnames import agent_names
from common.metadata_secret import metadata_secret
from common.settings import CONTROL_ONLY, LOG_LEVELS, HostSettings, Settings, load
from manage import broker, broker_acl, ceph_client, hypervisor_tls
from manage.broker import write_private

FORMAT = 1
MEMBER_LIMIT = 64 * 1024
"""Largest member ``setup`` reads: every file of a bundle is a few hundred bytes."""
LIBVIRT_MEMBERS = tuple(f"libvirt/{name}" for name in hypervisor_tls.FILES)
QEMU_MEMBERS = tuple(f"qemu/{name}" for name in hypervisor_tls.QEMU_FILES)
MEMBERS = ("bundle.toml", "host.keys", "broker-password", "broker-ca.pem", "metadata-secret", *LIBVIRT_MEMBERS,
           *QEMU_MEMBERS)  # fmt: skip
SHARED = (
    "region", "metadata_url", "queue_message_max_age", "host_heartbeat_interval", "compute_host_down_after",
    "compute_build_take_timeout", "compute_report_interval", "compute_full_report_interval", "network_resync_interval",
    "network_full_resync_interval", "compute_driver",
    "libvirt_virt_type", "images_type", "images_rbd_pool", "ceph_user", "ceph_secret_uuid", "network_dataplane",
    "network_underlay_mtu", "network_vni_min", "network_vni_max", "network_physical_bridges", "log_level",
    "live_migration_with_native_tls",
)  # fmt: skip
"""Settings a host takes from the control node when the control node's differ from the default: what the two
sides must agree on (timings, the storage and network layout). Never a control-only one."""
CODE_ROOT = Path(__file__).resolve().parent.parent
UNITS_DIR = CODE_ROOT / "deploy" / "systemd"
UNIT_CODE_ROOT = "/opt/stratus"
UNIT_STATE_DIR = "/var/lib/stratus"
"""The paths the unit files in ``deploy/systemd`` are written for; ``setup`` puts in the real ones."""


# ---------------------------------------------------------------------------------------------------------------
# TOML


def _toml_char(char: str) -> str:
    """One character inside a TOML basic string: quote, backslash and control characters escaped, the rest as is
    (TOML files are UTF-8; an astral character must not become a JSON-style surrogate pair, which TOML refuses)."""
    if char in '"\\':
        return "\\" + char
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"\\u{ord(char):04x}"
    return char


def _toml_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(setting=name, reason=f"{value!r} is not a finite number")
        return repr(value)
    if isinstance(value, str):
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise ConfigError(setting=name, reason="a string with a lone surrogate")
        return '"' + "".join(_toml_char(c) for c in value) + '"'
    raise ConfigError(setting=name, reason=f"{type(value).__name__} is not a setting's type")


def dump_toml(values: dict[str, Any], tables: dict[str, dict[str, Any]] | None = None) -> str:
    """Flat TOML of setting-like values (strings, integers, finite floats, booleans) and one level of tables; every
    key a bare key. What it writes reads back equal (checked), whatever the strings hold."""
    for section in (values, *(tables or {}).values()):
        for key in section:
            if not key or not all(c.isascii() and (c.isalnum() or c in "_-") for c in key):
                raise ConfigError(setting=key, reason="not a bare TOML key")
    lines = [f"{key} = {_toml_value(key, value)}" for key, value in values.items()]
    for table, entries in (tables or {}).items():
        lines += ["", f"[{table}]", *(f"{key} = {_toml_value(key, value)}" for key, value in entries.items())]
    text = "\n".join(lines) + "\n"
    expected = dict(values) | {table: dict(entries) for table, entries in (tables or {}).items()}
    if tomllib.loads(text) != expected:  # never write what would read back as something else
        raise ConfigError(setting="stratus.toml", reason="the values do not survive TOML")
    return text


# ---------------------------------------------------------------------------------------------------------------
# join (control node)


def _reachable(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)


def control_address(settings: Settings, given: str | None = None) -> str:
    """The control node's underlay address, which hosts dial the broker's TLS port at: ``given``, else the one
    address of ``broker_bind`` another machine can reach. Redis must listen there."""
    bound = settings.broker_bind.split()
    if given is not None:
        address = str(hypervisor_tls.check_address(given))
        if address not in bound and not {"0.0.0.0", "::", "*"} & set(bound):
            raise ConfigError(
                setting="broker_bind", reason=f"Redis does not listen on {address}: add it to broker_bind"
            )
        return address
    candidates = [address for address in bound if _reachable(address)]
    if len(candidates) != 1:
        reason = (
            f"{settings.broker_bind!r} names {'no' if not candidates else 'more than one'} address other machines "
            "reach: add the control node's underlay address to broker_bind (or give --control-address)"
        )
        raise ConfigError(setting="broker_bind", reason=reason)
    return str(hypervisor_tls.check_address(candidates[0]))


def _check_broker_certificate(settings: Settings, address: str) -> Path:
    """The broker's CA, once the broker's certificate is known to name ``address`` (it names the addresses of
    ``broker_bind`` when it was made; a host checks the address it dials)."""
    from cryptography import x509

    directory = broker.ensure_certificates(settings)
    cert = x509.load_pem_x509_certificate((directory / "server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    if ipaddress.ip_address(address) not in names.get_values_for_type(x509.IPAddress):
        reason = (
            f"the broker's certificate does not name {address}: list it in broker_bind and run services up, which "
            "makes the certificate again and restarts the broker there"
        )
        raise ConfigError(setting="broker_bind", reason=reason)
    return directory / "ca.pem"


def _public_url(settings: Settings, given: str | None = None) -> str:
    """The API's URL for the host: ``given`` (a simulated host reaching the API by an address the catalog does
    not name), else the control node's public URL; either must name a host other machines reach."""
    url = (given or settings.effective_public_url).rstrip("/")
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    if parts.scheme not in ("http", "https") or parts.query or parts.fragment or any(c.isspace() for c in url):
        raise ConfigError(setting="public_url", reason=f"{url!r} is not an http(s) URL")
    if hostname in ("localhost", "") or (not _reachable(hostname) and _is_ip(hostname)):
        reason = f"{url} is not reachable from another machine: set public_url (and api_host) to the control's address"
        raise ConfigError(setting="public_url", reason=reason)
    return url


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def host_settings(
    settings: Settings, host: str, address: str, control: str, public_url: str | None = None
) -> dict[str, Any]:
    """The ``[settings]`` of ``host``'s bundle: what it must know, never a control-only setting."""
    defaults = {f.name: f.default for f in dataclasses.fields(HostSettings)}
    values: dict[str, Any] = {
        "host": host,
        "network_underlay_ip": address,
        "broker_url": f"rediss://{_url_host(control)}:{settings.broker_tls_port}/0",
        "broker_user": broker_acl.host_user(host),
        "public_url": _public_url(settings, public_url),
    }
    if settings.service_password:
        values["service_password"] = settings.service_password
    values |= {name: getattr(settings, name) for name in SHARED if getattr(settings, name) != defaults[name]}
    leaked = set(values) & CONTROL_ONLY
    if leaked:  # a programming error, never an operator's: SHARED names only host settings
        raise ConfigError(setting=", ".join(sorted(leaked)), reason="control-only settings never go to a host")
    return values


def _url_host(address: str) -> str:
    return f"[{address}]" if ipaddress.ip_address(address).version == 6 else address


def _tar_add(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o600) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    archive.addfile(info, io.BytesIO(data))


def _register_with_broker(settings: Settings, master: bytes, host: str) -> str:
    """Give ``host`` its Redis user: in the broker's config file for its next start, and in the running broker
    when this state directory has one. Returns what happened, for the operator."""
    import redis

    from manage.services import redis_service, running_pid

    broker_acl.register(settings, host)
    if (settings.state_path / "redis" / "redis.conf").exists():
        broker.write_config(settings)
    if not (running_pid(redis_service(settings), settings) or settings.effective_broker_password_file.exists()):
        return f"the broker gives {broker_acl.host_user(host)} its user when it starts"
    try:
        broker_acl.apply(settings, master, [host])
    except (redis.RedisError, OSError) as exc:
        return (
            f"the running broker was not told ({exc}); it gives {broker_acl.host_user(host)} its user at its next start"
        )
    return f"the running broker knows {broker_acl.host_user(host)} now"


def join(
    settings: Settings,
    host: str,
    address: str,
    out: Path | None = None,
    control: str | None = None,
    public_url: str | None = None,
) -> tuple[Path, str]:
    """Write the bundle of ``host`` (underlay ``address``) to ``out`` (default ``./<host>.stratus-host.tar``),
    mode 0600 from its first byte, and register the host with the broker. ``control``: the control node's
    underlay address (default: the one of ``broker_bind``); ``public_url``: the API's URL for the host (default:
    the control node's). Returns the bundle's path and what the broker was told. Idempotent: a second join of
    the same host gives the same keys and certificates. ConfigError, with nothing written, for a bad name,
    address or URL, or a control node other machines cannot reach."""
    hypervisor_tls.check_host(host)
    broker_acl.check_host_name(host)
    address = str(hypervisor_tls.check_address(address))
    if not settings.broker_tls_port:
        raise ConfigError(setting="broker_tls_port", reason="0: the broker has no TLS listener for other machines")
    control = control_address(settings, control)
    values = host_settings(settings, host, address, control, public_url)
    ca_file = _check_broker_certificate(settings, control)
    master = signing.ensure_master_key(settings.effective_queue_keys_dir / "master.key")
    names = agent_names(HostSettings().replace(host=host, **_agent_settings(values)))
    keys = "".join(f"{name} {signing.host_key(master, name).hex()}\n" for name in names).encode()
    ceph = ceph_client.of_control(settings)
    libvirt = hypervisor_tls.issue(settings, host, address)
    qemu = hypervisor_tls.issue_qemu(settings, host, address)
    tables = {"settings": values} | ({"ceph": ceph.table()} if ceph else {})
    manifest = dump_toml({"format": FORMAT, "host": host, "address": address}, tables)
    out = out or Path(f"{host}.stratus-host.tar")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _tar_add(tar, "bundle.toml", manifest.encode())
        _tar_add(tar, "host.keys", keys)
        _tar_add(tar, "broker-password", broker_acl.host_password(master, host).encode() + b"\n")
        _tar_add(tar, "broker-ca.pem", ca_file.read_bytes(), 0o644)
        _tar_add(tar, "metadata-secret", metadata_secret(settings) + b"\n")
        for name in hypervisor_tls.FILES:
            _tar_add(tar, f"libvirt/{name}", (libvirt / name).read_bytes())
        for name in hypervisor_tls.QEMU_FILES:
            _tar_add(tar, f"qemu/{name}", (qemu / name).read_bytes())
    return out, _register_with_broker(settings, master, host)


def _agent_settings(values: dict[str, Any]) -> dict[str, Any]:
    """The bundle's settings that decide which host names its agents speak for (``common.hostnames``)."""
    return {name: values[name] for name in ("compute_driver", "network_dataplane") if name in values}


# ---------------------------------------------------------------------------------------------------------------
# setup (the host)


@dataclass(frozen=True)
class HostPaths:
    """Where ``setup`` installs a host. A real machine keeps the defaults but ``state_dir``; a simulated host
    (``manage.host_machine``) gives directories below its own root, and None for what it does not use."""

    state_dir: Path
    pki_dir: Path = Path("/etc/pki/libvirt")
    libvirtd_conf: Path | None = Path("/etc/libvirt/libvirtd.conf")
    systemd_dir: Path | None = Path("/etc/systemd/system")
    """Where the host's units and the ``libvirtd-tls.socket`` drop-in go; None: neither is written."""
    env_file: Path | None = Path("/etc/stratus/stratus.env")
    """The units' ``EnvironmentFile`` (``STRATUS_STATE_DIR``, ``STRATUS_HOST``); None: not written."""
    qemu_pki_dir: Path | None = None
    """QEMU's TLS files for migration streams (the host's ``qemu_tls_dir``); None: ``qemu`` beside ``pki_dir``
    (``/etc/pki/qemu``). Its ``qemu.conf`` is the one beside ``libvirtd_conf`` (none without it)."""

    @property
    def qemu_dir(self) -> Path:
        return self.qemu_pki_dir or self.pki_dir.parent / "qemu"

    @property
    def qemu_conf(self) -> Path | None:
        return None if self.libvirtd_conf is None else self.libvirtd_conf.parent / "qemu.conf"


@dataclass(frozen=True)
class Installed:
    """What ``setup`` did, and what to start."""

    host: str
    address: str
    config_file: Path
    pki_dir: Path
    libvirtd_conf: Path | None
    units: tuple[str, ...]

    def instructions(self) -> list[str]:
        lines = [
            f"host {self.host} ({self.address}) is set up: settings in {self.config_file}",
            f"libvirt TLS files in {self.pki_dir}"
            + (f", TLS settings in {self.libvirtd_conf}" if self.libvirtd_conf else ""),
        ]
        if self.units:
            lines += [
                "start it with:",
                "  systemctl daemon-reload",
                "  systemctl enable --now libvirtd.socket libvirtd-tls.socket && systemctl restart libvirtd.service",
                f"  systemctl enable --now {' '.join(self.units)}",
            ]
        return lines


def read_bundle(bundle: Path) -> dict[str, bytes]:
    """The members of a bundle, by name: only regular files of :data:`MEMBERS`, each at most
    :data:`MEMBER_LIMIT` bytes; anything else in the archive (a link, a device, an unknown or absolute path, a
    second copy) refuses the whole bundle. Nothing is extracted by the archive's own names."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(bundle, mode="r:") as tar:
            for member in tar:
                if member.name not in MEMBERS or not member.isreg() or member.name in found:
                    raise ConfigError(setting="bundle", reason=f"{bundle}: unexpected member {member.name!r}")
                if member.size > MEMBER_LIMIT:
                    raise ConfigError(setting="bundle", reason=f"{bundle}: {member.name} is too large")
                handle = tar.extractfile(member)
                found[member.name] = handle.read(MEMBER_LIMIT + 1) if handle else b""
    except (tarfile.TarError, OSError) as exc:
        raise ConfigError(setting="bundle", reason=f"{bundle}: not a host bundle ({exc})") from None
    missing = sorted(set(MEMBERS) - set(found))
    if missing:
        raise ConfigError(setting="bundle", reason=f"{bundle}: missing {', '.join(missing)}")
    return found


def _checked_settings(manifest: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The bundle's host, address and settings, each setting a known host setting of the right type."""
    if manifest.get("format") != FORMAT:
        raise ConfigError(setting="bundle", reason=f"format {manifest.get('format')!r}, not {FORMAT}")
    host = hypervisor_tls.check_host(str(manifest.get("host", "")))
    address = str(hypervisor_tls.check_address(str(manifest.get("address", ""))))
    values = manifest.get("settings")
    if not isinstance(values, dict):
        raise ConfigError(setting="bundle", reason="no [settings] table")
    kinds = {f.name: type(f.default) for f in dataclasses.fields(HostSettings)}
    for name, value in values.items():
        if name in CONTROL_ONLY or name not in kinds or name == "state_dir":
            raise ConfigError(setting=name, reason="not a setting a bundle may give a host")
        kind = kinds[name]
        if not (type(value) is kind or (kind is float and type(value) is int)):
            raise ConfigError(setting=name, reason=f"expected {kind.__name__}, got {value!r}")
    if values.get("host") != host or values.get("network_underlay_ip") != address:
        raise ConfigError(setting="bundle", reason="its settings name another host or address than it does")
    return host, address, dict(values)


def _write(path: Path, data: bytes, mode: int) -> None:
    write_private(path, data)
    path.chmod(mode)


def _existing_settings(path: Path) -> dict[str, Any]:
    """The host's settings file as it is (kept but for what the bundle sets), without control-only keys."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(setting=str(path), reason=str(exc)) from None
    return {key: value for key, value in data.items() if key not in CONTROL_ONLY and not isinstance(value, dict)}


def install_units(systemd_dir: Path, state_dir: Path) -> tuple[str, ...]:
    """Copy the host's units (``deploy/systemd/host``) into ``systemd_dir`` with this checkout's path and the
    state directory in place of the paths they are written for. Returns the units' names."""
    code_root = hypervisor_tls.check_path(CODE_ROOT)
    state = hypervisor_tls.check_path(state_dir)
    source = UNITS_DIR / "host"
    systemd_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for unit in sorted(source.glob("stratus-*")):
        text = unit.read_text().replace(UNIT_CODE_ROOT, code_root).replace(UNIT_STATE_DIR, state)
        (systemd_dir / unit.name).write_text(text)
        (systemd_dir / unit.name).chmod(0o644)
        names.append(unit.name)
    return tuple(name for name in names if name.endswith(".service"))


def setup(bundle: Path, paths: HostPaths) -> Installed:
    """Install ``bundle`` on this host (see the module's text); idempotent: run it again with a new bundle of the
    same host (a new address, new shared settings) and the files and settings follow."""
    members = read_bundle(bundle)
    try:
        manifest = tomllib.loads(members["bundle.toml"].decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(setting="bundle", reason=f"bundle.toml: {exc}") from None
    host, address, values = _checked_settings(manifest)
    ceph = ceph_client.CephClient.from_table(manifest["ceph"]) if "ceph" in manifest else None
    keys = _checked_keys(members["host.keys"], host)
    password = members["broker-password"].decode(errors="replace").strip()
    if not password or not password.isalnum():
        raise ConfigError(setting="bundle", reason="broker-password is not a password")
    state = Path(hypervisor_tls.check_path(paths.state_dir.resolve()))
    pki = Path(hypervisor_tls.check_path(paths.pki_dir))

    state.mkdir(mode=0o711, parents=True, exist_ok=True)
    for directory in (state / "log", state / "run"):
        directory.mkdir(mode=0o700, exist_ok=True)
    hosts_dir = state / "queue-keys" / "hosts"
    _write(hosts_dir / f"{host}.keys", keys, 0o600)
    _write(hosts_dir / f"{host}.broker-password", (password + "\n").encode(), 0o600)
    _write(state / "broker-tls" / "ca.pem", members["broker-ca.pem"], 0o644)
    _write(state / "metadata-secret", members["metadata-secret"], 0o600)
    pki.mkdir(mode=0o755, parents=True, exist_ok=True)
    for name in hypervisor_tls.FILES:
        _write(pki / name, members[f"libvirt/{name}"], 0o600 if name.endswith("key.pem") else 0o644)

    config_file = state / "stratus.toml"
    qemu_conf = paths.qemu_conf.read_text() if paths.qemu_conf is not None and paths.qemu_conf.exists() else ""
    qemu = hypervisor_tls.install_qemu({name: members[f"qemu/{name}"] for name in hypervisor_tls.QEMU_FILES},
                                       paths.qemu_dir, hypervisor_tls.qemu_gid(qemu_conf))  # fmt: skip
    located = {"state_dir": str(state), "libvirt_pki_dir": str(pki), "qemu_tls_dir": str(qemu)}
    settings = _existing_settings(config_file) | values | located
    _write(config_file, dump_toml(settings).encode(), 0o600)
    if ceph is not None:
        known = {f.name for f in dataclasses.fields(HostSettings)}
        ceph_client.install(ceph, HostSettings().replace(**{k: v for k, v in settings.items() if k in known}))

    if paths.libvirtd_conf is not None:
        existing = paths.libvirtd_conf.read_text() if paths.libvirtd_conf.exists() else ""
        merged = hypervisor_tls.merge_conf(existing, hypervisor_tls.libvirtd_conf(address, pki))
        paths.libvirtd_conf.parent.mkdir(parents=True, exist_ok=True)
        paths.libvirtd_conf.write_text(merged)
    if paths.qemu_conf is not None:
        hypervisor_tls.write_qemu_conf(paths.qemu_conf, qemu)
    units: tuple[str, ...] = ()
    if paths.systemd_dir is not None:
        dropin = paths.systemd_dir / "libvirtd-tls.socket.d" / "stratus.conf"
        dropin.parent.mkdir(parents=True, exist_ok=True)
        dropin.write_text(hypervisor_tls.tls_socket_dropin(address))
        units = install_units(paths.systemd_dir, state)
    if paths.env_file is not None:
        text = f"STRATUS_STATE_DIR={state}\nSTRATUS_HOST={host}\n"
        level = str(settings.get("log_level", "")).upper()
        if level in LOG_LEVELS:  # the units' command lines take it (celery's --loglevel), as services up does
            text += f"STRATUS_LOG_LEVEL={level}\n"
        _write(paths.env_file, text.encode(), 0o644)
    return Installed(host, address, config_file, pki, paths.libvirtd_conf, units)


def _checked_keys(data: bytes, host: str) -> bytes:
    """The bundle's key file, when it is one (``name hexkey`` lines) and holds ``host``'s key."""
    lines = data.decode(errors="replace").splitlines()
    names = set()
    for line in lines:
        name, _, value = line.partition(" ")
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise ConfigError(setting="bundle", reason="host.keys is not a message key file")
        names.add(hypervisor_tls.check_host(name) if name != host else name)
    if host not in names:
        raise ConfigError(setting="bundle", reason=f"host.keys holds no key of {host}")
    return data


# ---------------------------------------------------------------------------------------------------------------
# The control node under systemd


def prepare_control(settings: Settings) -> None:
    """What ``services up`` does before it starts anything, for a control node whose services systemd runs
    (``stratus-prepare.service``): the state directory, the master key, the broker's config file (password,
    hosts' users, TLS certificate), the database schema and the Fernet keys."""
    from manage.services import run_manage

    settings.state_path.mkdir(mode=0o711, parents=True, exist_ok=True)
    settings.state_path.chmod(0o711)
    for directory in (settings.log_dir, settings.run_dir, settings.state_path / "redis"):
        directory.mkdir(mode=0o700, exist_ok=True)
    signing.ensure_master_key(settings.effective_queue_keys_dir / "master.key")
    broker.write_config(settings)
    run_manage(settings, ("db-sync",), ("fernet-setup",))


# ---------------------------------------------------------------------------------------------------------------
# Commands


@click.group("host")
def host() -> None:
    """Compute hosts on other machines: a bundle for each (join), installed there (setup)."""


@host.command("join")
@click.argument("name")
@click.option("--address", required=True, help="The host's underlay IP address (its VXLAN and libvirt TLS endpoint).")
@click.option(
    "--out", type=click.Path(path_type=Path), help="Bundle file to write (mode 600). [./NAME.stratus-host.tar]"
)
@click.option("--control-address", help="The control node's underlay address. [the one of broker_bind]")
@click.option("--public-url", help="The API's URL as the host reaches it. [public_url]")
def join_command(
    name: str, address: str, out: Path | None, control_address: str | None, public_url: str | None
) -> None:
    """Write the bundle of host NAME: its settings, message key, broker password, the broker's CA, its metadata
    secret and its libvirt TLS certificates. Copy it to the host and run `stratus-manage host setup` there."""
    try:
        path, broker_note = join(load(), name, address, out, control_address, public_url)
    except ConfigError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"wrote the bundle of {name} to {path} (mode 600: it holds the host's secrets); {broker_note}")
    click.echo(f"on {name}: stratus-manage host setup {path.name}, then delete the bundle")


@host.command("setup")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--state-dir", type=click.Path(path_type=Path), default=Path(UNIT_STATE_DIR), show_default=True)
@click.option("--libvirt-pki-dir", type=click.Path(path_type=Path), default=Path("/etc/pki/libvirt"), show_default=True)
@click.option("--libvirtd-conf", type=click.Path(path_type=Path), default=Path("/etc/libvirt/libvirtd.conf"),
              show_default=True)  # fmt: skip
@click.option("--systemd-dir", type=click.Path(path_type=Path), default=Path("/etc/systemd/system"), show_default=True)
@click.option(
    "--env-file", type=click.Path(path_type=Path), default=Path("/etc/stratus/stratus.env"), show_default=True
)
@click.option("--qemu-pki-dir", type=click.Path(path_type=Path), help="QEMU's TLS files. [qemu beside the libvirt one]")
def setup_command(
    bundle: Path, state_dir: Path, libvirt_pki_dir: Path, libvirtd_conf: Path, systemd_dir: Path, env_file: Path,
    qemu_pki_dir: Path | None,
) -> None:  # fmt: skip
    """Install a bundle made by `stratus-manage host join` on this host, and say what to start."""
    paths = HostPaths(state_dir, libvirt_pki_dir, libvirtd_conf, systemd_dir, env_file, qemu_pki_dir)
    try:
        installed = setup(bundle, paths)
    except ConfigError as exc:
        raise click.ClickException(exc.message) from None
    for line in installed.instructions():
        click.echo(line)


@host.command("prepare-control")
def prepare_control_command() -> None:
    """Prepare the control node's state directory for its systemd units (run by stratus-prepare.service)."""
    prepare_control(load())
    click.echo("control node prepared")
