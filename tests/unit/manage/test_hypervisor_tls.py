"""``manage.hypervisor_tls``: the cloud's hypervisor CA, each host's libvirt certificates, libvirtd's TLS settings."""

from __future__ import annotations

import fnmatch
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from common.exceptions import ConfigError
from common.settings import load_host
from manage import hypervisor_tls


@pytest.fixture
def settings(tmp_path):
    return load_host({"STRATUS_STATE_DIR": str(tmp_path / "state")})


def _cert(directory, name):
    return x509.load_pem_x509_certificate((directory / name).read_bytes())


def test_a_hosts_five_files_are_libvirts_names_private_and_chain_to_the_cloud_ca(settings):
    directory = hypervisor_tls.issue(settings, "node-1", "10.0.0.21")
    assert sorted(p.name for p in directory.iterdir()) == sorted(hypervisor_tls.FILES)
    assert directory.stat().st_mode & 0o777 == 0o700
    assert all((directory / name).stat().st_mode & 0o777 == 0o600 for name in hypervisor_tls.FILES)
    ca = x509.load_pem_x509_certificate((hypervisor_tls.tls_dir(settings) / "ca.pem").read_bytes())
    assert _cert(directory, "cacert.pem") == ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for name, purpose in (
        ("servercert.pem", ExtendedKeyUsageOID.SERVER_AUTH),
        ("clientcert.pem", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        cert = _cert(directory, name)
        cert.verify_directly_issued_by(ca)  # raises when it does not verify
        assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [purpose]
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.digital_signature and usage.key_encipherment  # libvirt refuses a leaf without either


def test_the_certificates_name_the_host_and_carry_its_underlay_address_and_name(settings):
    directory = hypervisor_tls.issue(settings, "node-1.example", "10.0.0.21")
    for name in ("servercert.pem", "clientcert.pem"):
        cert = _cert(directory, name)
        assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "node-1.example"
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.21")]
        assert names.get_values_for_type(x509.DNSName) == ["node-1.example"]


def test_a_second_issue_for_the_same_host_and_address_keeps_the_same_files(settings):
    first = hypervisor_tls.issue(settings, "node-1", "10.0.0.21")
    before = {name: (first / name).read_bytes() for name in hypervisor_tls.FILES}
    again = hypervisor_tls.issue(settings, "node-1", "10.0.0.21")
    assert again == first
    assert {name: (again / name).read_bytes() for name in hypervisor_tls.FILES} == before


def test_a_new_address_gets_new_certificates_from_the_same_ca(settings):
    directory = hypervisor_tls.issue(settings, "node-1", "10.0.0.21")
    ca = (directory / "cacert.pem").read_bytes()
    hypervisor_tls.issue(settings, "node-1", "10.0.0.99")
    names = _cert(directory, "servercert.pem").extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert names.value.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.99")]
    assert (directory / "cacert.pem").read_bytes() == ca


@pytest.mark.parametrize(
    "name",
    ["", "a b", "x/y", "../etc", 'q"', "-lead", "trail-", "a..b", "a*", "under_score", "control", "é", "a" * 64],
)
def test_a_name_that_is_not_a_host_name_is_refused_and_nothing_is_issued(settings, name):
    with pytest.raises(ConfigError):
        hypervisor_tls.issue(settings, name, "10.0.0.21")
    assert not (hypervisor_tls.tls_dir(settings) / "hosts").exists()


@pytest.mark.parametrize("address", ["", "10.0.0", "10.0.0.1/24", "127.0.0.1", "0.0.0.0", "::1", "224.0.0.1",
                                     "fe80::1", "10.0.0.1\nlisten_tcp = 1", "host.example"])  # fmt: skip
def test_an_address_that_is_not_a_reachable_ip_is_refused(settings, address):
    with pytest.raises(ConfigError):
        hypervisor_tls.issue(settings, "node-1", address)
    with pytest.raises(ConfigError):
        hypervisor_tls.libvirtd_conf(address, "/etc/pki/libvirt")


@pytest.mark.parametrize("path", ["relative/dir", '/etc/"x', "/etc/pki\nlisten_tcp = 1", "/a/../b", "/a b"])
def test_a_pki_dir_that_could_break_out_of_its_quotes_is_refused(path):
    with pytest.raises(ConfigError):
        hypervisor_tls.libvirtd_conf("10.0.0.21", path)


def test_libvirtd_listens_with_tls_only_on_the_underlay_address_and_admits_only_host_certificates():
    text = hypervisor_tls.libvirtd_conf("10.0.0.21", "/etc/pki/libvirt")
    settings = dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line and not line.startswith("#"))
    assert settings["listen_tls"] == "1" and settings["listen_tcp"] == "0"
    assert settings["listen_addr"] == '"10.0.0.21"'
    assert settings["auth_tls"] == '"none"' and settings["tls_no_verify_certificate"] == "0"
    assert settings["ca_file"] == '"/etc/pki/libvirt/cacert.pem"'
    assert settings["key_file"] == '"/etc/pki/libvirt/serverkey.pem"'
    assert settings["tls_allowed_dn_list"] == '["O=Stratus,OU=Stratus hypervisor hosts,CN=*"]'


def test_the_allowed_dn_pattern_matches_a_host_certificate_as_libvirt_prints_it_and_no_other(settings, tmp_path):
    directory = hypervisor_tls.issue(settings, "node-1", "10.0.0.21")
    (pattern,) = hypervisor_tls.allowed_dn_patterns()
    tool = shutil.which("virt-pki-query-dn")
    if tool:  # libvirt's own rendering of the DN, what tls_allowed_dn_list is matched against
        dn = subprocess.run([tool, str(directory / "clientcert.pem")], capture_output=True, text=True, check=True)
        assert fnmatch.fnmatchcase(dn.stdout.strip(), pattern)
    assert fnmatch.fnmatchcase("O=Stratus,OU=Stratus hypervisor hosts,CN=node-1", pattern)
    assert not fnmatch.fnmatchcase("O=Stratus,CN=Stratus hypervisor CA", pattern)
    assert not fnmatch.fnmatchcase("O=Other,OU=Stratus hypervisor hosts,CN=node-1", pattern)


def test_merging_keeps_the_operators_other_settings_and_replaces_ours():
    ours = hypervisor_tls.libvirtd_conf("10.0.0.21", "/etc/pki/libvirt")
    existing = 'max_clients = 100\nlisten_tcp = 1\ntls_allowed_dn_list = ["a",\n  "b"]\n# listen_addr = "x"\n'
    merged = hypervisor_tls.merge_conf(existing, ours)
    assert "max_clients = 100" in merged and "# listen_addr" in merged
    assert "listen_tcp = 1" not in merged and '"b"]' not in merged
    assert merged.endswith(ours) and hypervisor_tls.merge_conf(merged, ours) == merged


def test_the_socket_dropin_and_migration_uri_name_the_underlay_address():
    assert "ListenStream=10.0.0.21:16514" in hypervisor_tls.tls_socket_dropin("10.0.0.21")
    assert "ListenStream=[fd00::5]:16514" in hypervisor_tls.tls_socket_dropin("fd00::5")
    uri = hypervisor_tls.migration_uri("10.0.0.22", "/etc/pki/libvirt")
    assert uri == "qemu+tls://10.0.0.22/system?pkipath=/etc/pki/libvirt"


def test_two_hosts_open_a_mutually_authenticated_tls_link_by_address(settings):
    """What libvirt does between two hosts: the client checks the server's certificate for the address it dialled,
    the server requires a client certificate from the same CA."""
    server_dir = hypervisor_tls.issue(settings, "node-1", "10.0.0.21")
    client_dir = hypervisor_tls.issue(settings, "node-2", "10.0.0.22")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(server_dir / "servercert.pem", server_dir / "serverkey.pem")
    server_context.load_verify_locations(server_dir / "cacert.pem")
    server_context.verify_mode = ssl.CERT_REQUIRED
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.load_cert_chain(client_dir / "clientcert.pem", client_dir / "clientkey.pem")
    client_context.load_verify_locations(client_dir / "cacert.pem")
    left, right = socket.socketpair()
    peer: dict[str, object] = {}

    def serve() -> None:
        with server_context.wrap_socket(left, server_side=True) as tls:
            peer["cert"] = tls.getpeercert()
            tls.sendall(b"ok")

    thread = threading.Thread(target=serve)
    thread.start()
    with client_context.wrap_socket(right, server_hostname="10.0.0.21") as tls:
        assert tls.recv(2) == b"ok"
    thread.join(timeout=10)
    assert dict(item[0] for item in peer["cert"]["subject"])["commonName"] == "node-2"  # type: ignore[index]
