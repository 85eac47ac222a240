"""The hosts' libvirt TLS (``manage.hypervisor_tls``) against a real libvirtd: one started with the libvirtd.conf
settings ``host setup`` writes, in a mount and network namespace of its own (its own ``/run/libvirt``,
``/var/lib/libvirt``, ``/etc/libvirt`` and a loopback holding the host's underlay address), so the machine's
libvirtd is never touched. A peer host's client certificate gets in; one of another CA, or of this CA but not a
host certificate (the DN list), does not."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.settings import load_host
from manage import hypervisor_tls

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="a libvirtd in namespaces of its own needs root"),
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("libvirtd", "virsh", "unshare", "ip")),
        reason="libvirtd, virsh, unshare or ip is not installed",
    ),
]

SERVER = "198.51.100.7"

# $1: libvirtd.conf, $2: the run directory, $3: the server's address, then pairs of (label, client pki dir).
SCRIPT = r"""
set -u
conf="$1" run="$2" address="$3"; shift 3
for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /etc/libvirt; do
    mount -t tmpfs tmpfs "$d"
done
ip link set lo up
ip addr add "$address/32" dev lo
libvirtd -f "$conf" -p "$run/libvirtd.pid" --listen >"$run/libvirtd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/$address/16514") 2>/dev/null && break; sleep 0.1; done
while [ $# -gt 0 ]; do
    label="$1" pki="$2"; shift 2
    out=$(timeout 30 virsh -c "qemu+tls://$address/system?pkipath=$pki" uri 2>&1)
    echo "$label rc=$? $out" | tr '\n' ' '; echo
done
kill "$pid"; wait "$pid"
"""


def foreign_client(directory: Path, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> Path:
    """A client certificate the cloud's CA signed that is not a host certificate (another unit)."""
    directory.mkdir(parents=True)
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Stratus"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Not a host"),
            x509.NameAttribute(NameOID.COMMON_NAME, "intruder"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "cacert.pem").write_bytes(ca_cert.public_bytes(pem))
    (directory / "clientcert.pem").write_bytes(cert.public_bytes(pem))
    (directory / "clientkey.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return directory


def test_libvirtd_admits_a_peer_host_over_tls_and_refuses_other_cas_and_non_host_certificates(tmp_path):
    cloud = load_host({"STRATUS_STATE_DIR": str(tmp_path / "cloud")})
    server = hypervisor_tls.issue(cloud, "node-a", SERVER)
    peer = hypervisor_tls.issue(cloud, "node-b", "198.51.100.8")
    other_cloud = load_host({"STRATUS_STATE_DIR": str(tmp_path / "other-cloud")})
    stranger = hypervisor_tls.issue(other_cloud, "node-b", "198.51.100.8")
    intruder = foreign_client(tmp_path / "intruder", *hypervisor_tls.ensure_ca(cloud))

    run = tmp_path / "run"
    run.mkdir()
    conf = tmp_path / "libvirtd.conf"
    # The machine's unix socket directory stays the machine's: this daemon's sockets go to its own directory.
    conf.write_text(hypervisor_tls.libvirtd_conf(SERVER, server) + f'unix_sock_dir = "{run}"\n')
    result = subprocess.run(
        ["unshare", "--mount", "--net", "--propagation", "private", "bash", "-c", SCRIPT, "tls-test",
         str(conf), str(run), SERVER, "peer", str(peer), "stranger", str(stranger), "intruder", str(intruder)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    lines = {line.split(" ", 1)[0]: line for line in result.stdout.splitlines() if line.strip()}
    log = (run / "libvirtd.log").read_text() if (run / "libvirtd.log").exists() else ""
    assert "peer rc=0" in lines.get("peer", ""), (result.stdout, result.stderr, log)
    assert f"qemu+tls://{SERVER}/system" in lines["peer"]
    assert "stranger rc=1" in lines["stranger"] and "certificate" in lines["stranger"].lower(), lines["stranger"]
    assert "intruder rc=1" in lines["intruder"], lines["intruder"]
    assert "Client's Distinguished Name is not on the list of allowed clients" in log  # the DN list refused it
