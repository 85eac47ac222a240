"""TLS between the hosts' libvirt daemons: the cloud's hypervisor CA and each host's certificates (issue #16).

Live migration (libvirt's peer-to-peer mode) has the source host's libvirtd open a connection to the
destination's, and block migration streams the guest's disks over it. That link must be authenticated and
private, and it must be a hypervisor host of this cloud on both ends: so libvirtd listens with TLS only
(``listen_tls``, never ``listen_tcp``), on the host's underlay address only, trusts only this CA, and admits
only client certificates whose distinguished name is one of the cloud's host certificates
(``tls_allowed_dn_list``). No password is involved: the certificate is the credential.

The CA is made once in the control node's state directory (``<state_dir>/hypervisor-tls/``, beside the broker's
``broker-tls/``); its key never leaves that directory. Each host gets, in ``hypervisor-tls/hosts/<host>/``, the
five files in the flat layout a libvirt client's ``pkipath`` wants (libvirt's docs, "TLS x509 certificate
setup"; the server side names its files in ``libvirtd.conf``'s ``ca_file``/``cert_file``/``key_file``):

- ``cacert.pem``: the CA's certificate (on every host, client and server);
- ``servercert.pem`` / ``serverkey.pem``: what its libvirtd presents (CN = the host's name, subject alternative
  names = its underlay address and its name, extended key usage TLS server);
- ``clientcert.pem`` / ``clientkey.pem``: what its libvirtd presents when it dials a peer (same names, TLS
  client).

libvirt checks more than a chain (its ``virNetTLSContextCheckCert*``): the CA must say ``CA:TRUE`` and may sign
certificates; a leaf's key usage must allow digital signatures and key encipherment and its extended key usage
must name its role. The certificates here say exactly that.

A live migration's own streams (QEMU's: the guest's memory, and the NBD copy of its local disks) are encrypted by
QEMU itself (libvirt's ``VIR_MIGRATE_TLS``) with a second set of files per host, QEMU's (:func:`issue_qemu`, same
CA, their own keys: see there why), in the directory qemu.conf's ``migrate_tls_x509_cert_dir`` names
(:func:`qemu_conf`; ``/etc/pki/qemu`` on a real host).

``manage.host_join`` calls :func:`issue` and :func:`issue_qemu` for ``stratus-manage host join``, and
:func:`libvirtd_conf`, :func:`install_qemu` and :func:`write_qemu_conf` for ``stratus-manage host setup``;
simulated hosts (``manage.host_machine``) call the same functions, so a host on this machine is configured as a
real one is.
"""

from __future__ import annotations

import datetime
import grp
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common import signing
from common.exceptions import ConfigError
from common.settings import HostSettings
from manage.broker import write_private

CERT_DAYS = 3650
TLS_PORT = 16514
"""libvirtd's TLS port (libvirt's default, ``tls_port``)."""
ORGANIZATION = "Stratus"
HOSTS_UNIT = "Stratus hypervisor hosts"
"""The organizational unit of every host certificate: what ``tls_allowed_dn_list`` admits (with the CA)."""
CA_NAME = "Stratus hypervisor CA"
FILES = ("cacert.pem", "servercert.pem", "serverkey.pem", "clientcert.pem", "clientkey.pem")
"""The five files of a host's directory, in libvirt's names."""
QEMU_UNIT = "Stratus QEMU migration streams"
"""The organizational unit of QEMU's certificates: not :data:`HOSTS_UNIT`, so libvirtd admits none of them."""
QEMU_FILES = ("ca-cert.pem", "server-cert.pem", "server-key.pem", "client-cert.pem", "client-key.pem")
"""QEMU's five files (its ``tls-creds-x509`` object reads them from one directory, by these names)."""
QEMU_GROUP = "libvirt-qemu"
"""The group QEMU runs as on Debian unless qemu.conf says otherwise: it must read its keys."""


@dataclass(frozen=True)
class Layout:
    """How a directory of a host's certificates names its files, and the unit its certificates say."""

    ca: str
    server: tuple[str, str]
    client: tuple[str, str]
    unit: str


LIBVIRT_LAYOUT = Layout("cacert.pem", ("servercert.pem", "serverkey.pem"), ("clientcert.pem", "clientkey.pem"),
                        HOSTS_UNIT)  # fmt: skip
QEMU_LAYOUT = Layout("ca-cert.pem", ("server-cert.pem", "server-key.pem"), ("client-cert.pem", "client-key.pem"),
                     QEMU_UNIT)  # fmt: skip

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
"""A host's name: an RFC 1123 host name (labels of letters, digits and inner hyphens, dot-separated). At most
63 characters in all: the broker's user names and key patterns (``manage.broker_acl``) hold it whole."""
SAFE_PATH = re.compile(r"/[A-Za-z0-9/._+-]*")
"""A path that may appear inside a quoted libvirtd.conf value (libvirt's config strings have no escapes)."""


def check_host(name: str) -> str:
    """``name`` when it is a host name (see :data:`HOST_NAME`), else ConfigError: it goes into certificates,
    file names, the broker's ACL and the host's settings."""
    if not isinstance(name, str) or len(name) > 63 or not HOST_NAME.fullmatch(name) or name == signing.CONTROL:
        reason = f"{name!r} is not a host name (letters, digits, inner hyphens, dot-separated labels; at most 63)"
        raise ConfigError(setting="host", reason=reason)
    return name


def check_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The underlay address of a host: one plain unicast IP address another machine can reach (not loopback,
    unspecified, multicast or link-local, which are no address of a host on the underlay)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(setting="address", reason=f"{address!r} is not an IP address") from None
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast or ip.is_link_local:
        raise ConfigError(setting="address", reason=f"{address} is not an address other hosts can reach")
    return ip


def check_path(path: Path | str) -> str:
    """``path`` as an absolute path of safe characters, the only form it may take inside libvirtd.conf."""
    text = str(path)
    if not SAFE_PATH.fullmatch(text) or "/../" in f"{text}/":
        raise ConfigError(setting="libvirt_pki_dir", reason=f"{text!r} is not an absolute path of [A-Za-z0-9/._+-]")
    return text


# ---------------------------------------------------------------------------------------------------------------
# The CA and the certificates


def tls_dir(settings: HostSettings) -> Path:
    return settings.state_path / "hypervisor-tls"


def host_dir(settings: HostSettings, host: str) -> Path:
    """Where :func:`issue` keeps ``host``'s five files on the control node."""
    return tls_dir(settings) / "hosts" / check_host(host)


def _name(common_name: str, unit: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)]
    if unit:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ensure_ca(settings: HostSettings) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The cloud's hypervisor CA (EC P-256, ten years), made on first use in ``<state_dir>/hypervisor-tls``:
    ``ca.pem`` (public, 0644) and ``ca.key`` (0600, never copied anywhere)."""
    directory = tls_dir(settings)
    cert_file, key_file = directory / "ca.pem", directory / "ca.key"
    if not (cert_file.exists() and key_file.exists()):
        now = datetime.datetime.now(datetime.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(CA_NAME))
            .issuer_name(_name(CA_NAME))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(key_file, _pem_key(key))  # the key first: a CA certificate without its key is never seen
        write_private(cert_file, cert.public_bytes(serialization.Encoding.PEM))
        cert_file.chmod(0o644)
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(setting=str(key_file), reason="not the EC key of the hypervisor CA")
    return cert, key


def _leaf(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    host: str,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    purpose: x509.ObjectIdentifier,
    unit: str = HOSTS_UNIT,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host, unit))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip), x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # libvirt requires both bits when key usage is present (certtool's "signing_key" and "encryption_key").
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _current(
    directory: Path,
    layout: Layout,
    ca: x509.Certificate,
    host: str,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> bool:
    """Whether ``directory`` already holds ``host``'s five files in ``layout``, issued by this CA for this name,
    address and unit."""
    names = (layout.ca, *layout.server, *layout.client)
    if not all((directory / name).is_file() for name in names):
        return False
    if (directory / layout.ca).read_bytes() != ca.public_bytes(serialization.Encoding.PEM):
        return False
    for name in (layout.server[0], layout.client[0]):
        try:
            cert = x509.load_pem_x509_certificate((directory / name).read_bytes())
            cert.verify_directly_issued_by(ca)
            alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (ValueError, TypeError, x509.ExtensionNotFound, x509.InvalidSignature):
            return False
        if alt.get_values_for_type(x509.IPAddress) != [ip] or alt.get_values_for_type(x509.DNSName) != [host]:
            return False
        if [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)] != [layout.unit]:
            return False
    return True


def _issue(settings: HostSettings, directory: Path, layout: Layout, host: str, address: str) -> Path:
    check_host(host)
    ip = check_address(address)
    ca, ca_key = ensure_ca(settings)
    if _current(directory, layout, ca, host, ip):
        return directory
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    for (cert_name, key_name), purpose in (
        (layout.server, ExtendedKeyUsageOID.SERVER_AUTH),
        (layout.client, ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        cert, key = _leaf(ca, ca_key, host, ip, purpose, layout.unit)
        write_private(directory / key_name, _pem_key(key))
        write_private(directory / cert_name, cert.public_bytes(pem))
    write_private(directory / layout.ca, ca.public_bytes(pem))  # last: _current checks it with the rest
    return directory


def issue(settings: HostSettings, host: str, address: str) -> Path:
    """The directory (mode 0700) of ``host``'s five files (:data:`FILES`), issued for its name and underlay
    ``address``. Idempotent: files already issued by this CA for the same name and address are kept as they are
    (a second ``host join`` hands out the same certificates); a changed address gets new ones."""
    return _issue(settings, host_dir(settings, host), LIBVIRT_LAYOUT, host, address)


def issue_qemu(settings: HostSettings, host: str, address: str) -> Path:
    """The directory (mode 0700, ``hosts/<host>/qemu``) of ``host``'s QEMU files (:data:`QEMU_FILES`): what its
    QEMU presents and trusts on a live migration's streams with native TLS (memory and NBD), issued by the same CA
    for the same name and underlay ``address`` (the source's QEMU checks the target's certificate against the
    address the stream goes to), idempotent as :func:`issue`.

    Not the host's libvirt certificates, although their usages would do (a server and a client certificate naming
    the address): QEMU is the guest-facing process, running as ``libvirt-qemu`` and reading its key itself, and a
    guest that escaped into it must not hold the host's libvirt identity, which every other host's libvirtd admits.
    These say :data:`QEMU_UNIT`, which ``tls_allowed_dn_list`` (:func:`allowed_dn_patterns`) does not admit."""
    return _issue(settings, host_dir(settings, host) / "qemu", QEMU_LAYOUT, host, address)


def qemu_gid(qemu_conf: str = "") -> int | None:
    """The group QEMU's processes run as: qemu.conf's ``group`` (a name, or ``+N``), else :data:`QEMU_GROUP`; None
    for root or a group this machine does not have (then the keys stay root's alone)."""
    found = re.findall(r'^\s*group\s*=\s*"([^"]*)"', qemu_conf, flags=re.MULTILINE)
    name = found[-1] if found else QEMU_GROUP
    try:
        gid = int(name[1:]) if name.startswith("+") else grp.getgrnam(name).gr_gid
    except (KeyError, ValueError):
        return None
    return gid or None


def install_qemu(files: Mapping[str, bytes], directory: Path, gid: int | None) -> Path:
    """Write QEMU's five files (:data:`QEMU_FILES`, from a bundle or :func:`issue_qemu`) into ``directory``:
    certificates 0644, keys 0640 and the directory 0750, both of group ``gid`` (QEMU's, :func:`qemu_gid`), which
    QEMU needs to read its key; root's alone (0600, 0700) when ``gid`` is None. Returns ``directory``."""
    directory = Path(check_path(directory))
    missing = [name for name in QEMU_FILES if name not in files]
    if missing:
        raise ConfigError(setting="qemu_tls_dir", reason=f"no {', '.join(missing)} to install")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in QEMU_FILES:
        path = directory / name
        write_private(path, files[name])
        if name.endswith("-key.pem"):
            os.chown(path, -1, gid if gid is not None else -1)
            path.chmod(0o640 if gid is not None else 0o600)
        else:
            path.chmod(0o644)
    os.chown(directory, -1, gid if gid is not None else -1)
    directory.chmod(0o750 if gid is not None else 0o700)
    return directory


# ---------------------------------------------------------------------------------------------------------------
# libvirtd's configuration


def allowed_dn_patterns() -> list[str]:
    """``tls_allowed_dn_list``: any host certificate of the cloud (its organization and unit, any common name), in
    the form libvirt matches a client's distinguished name against: GnuTLS's ``gnutls_x509_crt_get_dn``, the
    attributes in the certificate's order, which ``virt-pki-query-dn`` prints. The common name comes last, so
    ``*`` cannot stand for the attributes before it. Who may sign such a certificate is the CA's business:
    libvirtd trusts no other."""
    return [f"O={ORGANIZATION},OU={HOSTS_UNIT},CN=*"]


def libvirtd_conf(address: str, pki_dir: Path | str, port: int = TLS_PORT) -> str:
    """The settings of ``libvirtd.conf`` for a hypervisor host (every other key keeps libvirt's default, or the
    value :func:`merge_conf` finds in the file): TLS only, on ``address`` only, certificates from
    ``pki_dir`` (where the host's five files are), clients admitted by certificate and distinguished name.

    With ``libvirtd --listen`` (a simulated host, or libvirtd without systemd's socket activation) the
    listen settings here apply; under socket activation (Debian's default) ``libvirtd-tls.socket`` listens
    instead, and :func:`tls_socket_dropin` puts it on the same address. Every value comes from a checked one: an IP
    address, an integer, a path of safe characters and fixed text."""
    ip = check_address(address)
    directory = check_path(pki_dir).rstrip("/") or "/"
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(setting="port", reason=f"{port!r} is not a TCP port")
    dn_list = ", ".join(f'"{pattern}"' for pattern in allowed_dn_patterns())
    lines = [
        "# stratus-manage host setup (manage/hypervisor_tls.py): TLS between the cloud's hypervisor hosts only.",
        "# Every setup rewrites these keys; the file's other settings are kept.",
        "listen_tls = 1",
        "listen_tcp = 0",
        f'listen_addr = "{ip}"',
        f'tls_port = "{port}"',
        'auth_tls = "none"',  # the client certificate and its DN are the credential (checked below)
        f'ca_file = "{directory}/cacert.pem"',
        f'cert_file = "{directory}/servercert.pem"',
        f'key_file = "{directory}/serverkey.pem"',
        "tls_no_verify_certificate = 0",
        "tls_no_sanity_certificate = 0",
        f"tls_allowed_dn_list = [{dn_list}]",
    ]
    return "\n".join(lines) + "\n"


def conf_keys(text: str) -> set[str]:
    """The keys a libvirtd.conf text sets (``key = value`` lines)."""
    return {
        line.split("=", 1)[0].strip() for line in text.splitlines() if "=" in line and not line.lstrip().startswith("#")
    }


def merge_conf(existing: str, ours: str) -> str:
    """``existing`` (the host's libvirtd.conf) without the lines that set one of ``ours``'s keys, then ``ours``:
    the operator's other settings stay, ours win. A multi-line value of one of our keys (a list) is dropped whole."""
    keys = conf_keys(ours)
    comments = {line for line in ours.splitlines() if line.startswith("#")}  # our header, written again below
    kept: list[str] = []
    skipping = False
    for line in existing.splitlines():
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else None
        if key is not None:
            skipping = key in keys and line.count("[") > line.count("]")
            if key in keys:
                continue
        elif skipping:
            skipping = "]" not in line
            continue
        if line not in comments:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return ("\n".join(kept) + "\n\n" if kept else "") + ours


def qemu_conf(pki_dir: Path | str) -> str:
    """The settings of ``qemu.conf`` for live migrations with QEMU's native TLS (``VIR_MIGRATE_TLS``): QEMU's files
    in ``pki_dir`` (:data:`QEMU_FILES`), and the target's QEMU demanding the source's client certificate. Only the
    migration's (``migrate_*``): the operator's TLS for consoles or disks is left alone."""
    directory = check_path(pki_dir).rstrip("/") or "/"
    lines = [
        "# stratus-manage host setup (manage/hypervisor_tls.py): QEMU's own TLS for migration streams between hosts.",
        "# Every setup rewrites these keys; the file's other settings are kept.",
        f'migrate_tls_x509_cert_dir = "{directory}"',
        "migrate_tls_x509_verify = 1",
    ]
    return "\n".join(lines) + "\n"


def write_qemu_conf(path: Path, pki_dir: Path | str) -> None:
    """``path`` (a host's qemu.conf) with :func:`qemu_conf`'s settings merged in (:func:`merge_conf`); libvirtd
    reads it when it starts."""
    existing = path.read_text() if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(merge_conf(existing, qemu_conf(pki_dir)))


def tls_socket_dropin(address: str, port: int = TLS_PORT) -> str:
    """A drop-in for ``libvirtd-tls.socket`` (``/etc/systemd/system/libvirtd-tls.socket.d/stratus.conf``):
    under systemd's socket activation libvirtd ignores ``listen_addr``, and the socket listens on every address
    unless told otherwise."""
    ip = check_address(address)
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"[Socket]\nListenStream=\nListenStream={host}:{int(port)}\nFreeBind=yes\n"


def migration_uri(address: str, pki_dir: Path | str) -> str:
    """The libvirt URI one host dials another's libvirtd with (live migration's peer-to-peer connection): TLS to
    its underlay address, with this host's client files from ``pki_dir`` (``pkipath``)."""
    ip = check_address(address)
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"qemu+tls://{host}/system?pkipath={check_path(pki_dir)}"
