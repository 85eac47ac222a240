"""The secrets of the private Redis that ``services up`` runs: its password, its TLS certificate, its config.

Why a config file and not ``--requirepass`` on the command line: ``ps`` shows every process's arguments to every
user of the machine. The file (mode 600, like everything secret in the state directory) holds the password and
the TLS settings; the launcher passes only its path. The TLS listener is for hosts on other machines: they
connect with ``rediss://`` and check the server against the CA generated here, which they are given with their
key file (``stratus-manage services host-keys``). Processes on this machine keep the plain loopback port.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common import signing
from common.settings import Settings
from manage import broker_acl

CERT_DAYS = 3650


def tls_dir(settings: Settings) -> Path:
    return settings.state_path / "broker-tls"


def write_private(path: Path, data: bytes) -> None:
    """Write ``path`` with mode 0600 from its first byte (never readable by others, even for an instant)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    path.chmod(0o600)


def ensure_password(settings: Settings) -> str:
    """The broker's password, generated on the first ``services up`` and kept from then on."""
    path = settings.effective_broker_password_file
    if not path.exists():
        write_private(path, (secrets.token_urlsafe(32) + "\n").encode())
    return path.read_text().strip()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Stratus"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def server_names(settings: Settings) -> list[x509.GeneralName]:
    """Names the certificate is valid for: loopback, this machine's names and the addresses Redis binds to (what
    remote hosts dial)."""
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for host in dict.fromkeys((socket.gethostname(), socket.getfqdn())):
        names.append(x509.DNSName(host))
    addresses = dict.fromkeys(("127.0.0.1", "::1", *settings.broker_bind.split()))
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.lstrip("-"))
        except ValueError:
            continue
        if not ip.is_unspecified:
            names.append(x509.IPAddress(ip))
    return names


def _names_every_address(cert_file: Path, settings: Settings) -> bool:
    """Whether the certificate names every address Redis now binds (not host names: they do not change)."""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    named = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    wanted = {name.value for name in server_names(settings) if isinstance(name, x509.IPAddress)}
    return wanted <= set(named.get_values_for_type(x509.IPAddress))


def ensure_certificates(settings: Settings) -> Path:
    """A CA and a server certificate it signed (EC P-256, ten years), made once, and made again (CA included: its
    key is never kept) when ``broker_bind`` names an address the certificate does not (``make up HOSTS=N`` adds the
    control node's underlay address); returns the directory. Hosts then need the new CA: host machines get it at
    their next join, hosts on other machines with a new bundle."""
    directory = tls_dir(settings)
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    if ca_file.exists() and cert_file.exists() and key_file.exists() and _names_every_address(cert_file, settings):
        return directory
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Stratus broker CA"))
        .issuer_name(_name("Stratus broker CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(socket.gethostname()))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(server_names(settings)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    private = serialization.PrivateFormat.PKCS8
    write_private(key_file, key.private_bytes(pem, private, serialization.NoEncryption()))
    write_private(cert_file, cert.public_bytes(pem))
    write_private(ca_file, ca.public_bytes(pem))
    ca_file.chmod(0o644)  # the CA certificate is public; hosts on other machines get a copy
    return directory


def write_config(settings: Settings) -> Path:
    """Redis's config file (mode 600): the password, each host's own user (``manage.broker_acl``) and, unless
    ``broker_tls_port`` is 0, the TLS listener.
    Rewritten at every ``services up``, so a changed setting applies at the next start of Redis."""
    master = signing.ensure_master_key(settings.effective_queue_keys_dir / "master.key")
    lines = [f'requirepass "{ensure_password(settings)}"', *broker_acl.config_lines(settings, master)]
    if settings.broker_tls_port:
        directory = ensure_certificates(settings)
        lines += [
            f"tls-port {settings.broker_tls_port}",
            f'tls-cert-file "{directory / "server.pem"}"',
            f'tls-key-file "{directory / "server.key"}"',
            f'tls-ca-cert-file "{directory / "ca.pem"}"',
            "tls-auth-clients no",  # hosts prove themselves with the password (and sign every message)
            "tls-protocols TLSv1.3",
        ]
    path = settings.state_path / "redis" / "redis.conf"
    write_private(path, ("\n".join(lines) + "\n").encode())
    return path
