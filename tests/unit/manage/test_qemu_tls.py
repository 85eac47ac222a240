"""QEMU's own TLS for live migration streams (``manage.hypervisor_tls``'s QEMU files and qemu.conf, their journey
through a host's bundle in ``manage.host_join``, and a host machine's own copy in ``manage.host_machine``)."""

from __future__ import annotations

import fnmatch
import grp
import io
import ipaddress
import tarfile
import tomllib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.exceptions import ConfigError
from common.settings import Settings, load, load_host
from manage import host_join, host_machine, hypervisor_tls
from manage.host_machine import HostMachine

CONTROL = "192.0.2.10"


@pytest.fixture
def settings(tmp_path):
    return load_host({"STRATUS_STATE_DIR": str(tmp_path / "state")})


def _cert(directory: Path, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((directory / name).read_bytes())


def _qemu_group() -> int:
    return grp.getgrnam(hypervisor_tls.QEMU_GROUP).gr_gid


# ---------------------------------------------------------------------------------------------------------------
# The certificates


def test_qemus_files_chain_to_the_hypervisor_ca_and_name_the_hosts_underlay_address(settings):
    directory = hypervisor_tls.issue_qemu(settings, "node-1", "10.0.0.21")
    assert sorted(p.name for p in directory.iterdir()) == sorted(hypervisor_tls.QEMU_FILES)
    assert directory.stat().st_mode & 0o777 == 0o700  # on the control node: root's alone
    ca = _cert(hypervisor_tls.tls_dir(settings), "ca.pem")
    assert _cert(directory, "ca-cert.pem") == ca
    for name, purpose in (("server-cert.pem", ExtendedKeyUsageOID.SERVER_AUTH),
                          ("client-cert.pem", ExtendedKeyUsageOID.CLIENT_AUTH)):  # fmt: skip
        cert = _cert(directory, name)
        cert.verify_directly_issued_by(ca)
        assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [purpose]
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.digital_signature and usage.key_encipherment  # QEMU's sanity check wants both, as libvirt's
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.21")]


def test_qemus_keys_are_its_own_and_libvirtd_admits_none_of_its_certificates(settings):
    """A guest that escaped into QEMU holds QEMU's key: it must not be a key any libvirtd of the cloud admits."""
    libvirt = hypervisor_tls.issue(settings, "node-1", "10.0.0.21")
    qemu = hypervisor_tls.issue_qemu(settings, "node-1", "10.0.0.21")
    assert (qemu / "server-key.pem").read_bytes() != (libvirt / "serverkey.pem").read_bytes()
    assert (qemu / "client-key.pem").read_bytes() != (libvirt / "clientkey.pem").read_bytes()
    (pattern,) = hypervisor_tls.allowed_dn_patterns()
    for name in ("server-cert.pem", "client-cert.pem"):
        subject = _cert(qemu, name).subject
        dn = ",".join(f"{attribute.rfc4514_attribute_name}={attribute.value}" for attribute in subject)
        assert dn == "O=Stratus,OU=Stratus QEMU migration streams,CN=node-1"
        assert not fnmatch.fnmatchcase(dn, pattern)


def test_issuing_qemus_files_again_keeps_them_and_a_new_address_renews_them(settings):
    first = hypervisor_tls.issue_qemu(settings, "node-1", "10.0.0.21")
    before = {name: (first / name).read_bytes() for name in hypervisor_tls.QEMU_FILES}
    again = hypervisor_tls.issue_qemu(settings, "node-1", "10.0.0.21")
    assert {name: (again / name).read_bytes() for name in hypervisor_tls.QEMU_FILES} == before
    moved = hypervisor_tls.issue_qemu(settings, "node-1", "10.0.0.99")
    assert (moved / "server-key.pem").read_bytes() != before["server-key.pem"]
    names = _cert(moved, "server-cert.pem").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.99")]
    assert hypervisor_tls.issue(settings, "node-1", "10.0.0.99")  # libvirt's files beside them are their own


def test_a_qemu_directory_with_libvirts_unit_is_issued_again(settings):
    """Files in QEMU's directory that are libvirt's (another unit) are not QEMU's: reissued, not kept."""
    libvirt = hypervisor_tls.issue(settings, "node-1", "10.0.0.21")
    qemu = hypervisor_tls.host_dir(settings, "node-1") / "qemu"
    qemu.mkdir()
    for theirs, ours in zip(hypervisor_tls.FILES, hypervisor_tls.QEMU_FILES, strict=True):
        (qemu / ours).write_bytes((libvirt / theirs).read_bytes())
    hypervisor_tls.issue_qemu(settings, "node-1", "10.0.0.21")
    unit = _cert(qemu, "client-cert.pem").subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert unit[0].value == hypervisor_tls.QEMU_UNIT


# ---------------------------------------------------------------------------------------------------------------
# qemu.conf and the installed files


def test_qemu_conf_points_the_migration_at_qemus_directory_and_verifies_the_client():
    text = hypervisor_tls.qemu_conf("/etc/pki/qemu/")
    values = dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line and not line.startswith("#"))
    assert values == {"migrate_tls_x509_cert_dir": '"/etc/pki/qemu"', "migrate_tls_x509_verify": "1"}


@pytest.mark.parametrize("path", ['/etc/pki/qemu"\nuser = "root', "relative/dir", "/etc/../../x", "/a b"])
def test_a_qemu_directory_that_could_break_out_of_its_quotes_is_refused(path):
    with pytest.raises(ConfigError):
        hypervisor_tls.qemu_conf(path)


def test_writing_qemu_conf_keeps_the_operators_settings_and_is_idempotent(tmp_path):
    conf = tmp_path / "qemu.conf"
    conf.write_text('user = "libvirt-qemu"\nmigrate_tls_x509_verify = 0\nmigrate_tls_x509_cert_dir = "/old"\n')
    hypervisor_tls.write_qemu_conf(conf, "/etc/pki/qemu")
    once = conf.read_text()
    assert 'user = "libvirt-qemu"' in once and "/old" not in once and "migrate_tls_x509_verify = 0" not in once
    hypervisor_tls.write_qemu_conf(conf, "/etc/pki/qemu")
    assert conf.read_text() == once


@pytest.mark.parametrize(
    ("conf", "expected"),
    [("", "default"), ('#group = "root"\n', "default"), ('group = "root"\n', None), ('group = "+107"\n', 107),
     ('group = "no-such-group-here"\n', None)],
)  # fmt: skip
def test_qemus_group_is_qemu_confs_or_debians(conf, expected):
    wanted = _qemu_group() if expected == "default" else expected
    assert hypervisor_tls.qemu_gid(conf) == wanted


def test_installed_keys_are_readable_by_qemus_group_only(settings, tmp_path):
    issued = hypervisor_tls.issue_qemu(settings, "node-1", "10.0.0.21")
    files = {name: (issued / name).read_bytes() for name in hypervisor_tls.QEMU_FILES}
    directory = hypervisor_tls.install_qemu(files, tmp_path / "qemu", _qemu_group())
    assert directory.stat().st_mode & 0o777 == 0o750 and directory.stat().st_gid == _qemu_group()
    for name in hypervisor_tls.QEMU_FILES:
        stat = (directory / name).stat()
        key = name.endswith("-key.pem")
        assert (stat.st_mode & 0o777, stat.st_uid) == ((0o640, 0) if key else (0o644, 0))
        assert not key or stat.st_gid == _qemu_group()
        assert (directory / name).read_bytes() == files[name]
    root_only = hypervisor_tls.install_qemu(files, tmp_path / "root-only", None)
    assert (root_only / "server-key.pem").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigError, match=r"client-key\.pem"):
        hypervisor_tls.install_qemu({k: v for k, v in files.items() if k != "client-key.pem"}, tmp_path / "x", None)


# ---------------------------------------------------------------------------------------------------------------
# The bundle


@pytest.fixture
def control(tmp_path, monkeypatch):
    state = tmp_path / "control"
    state.mkdir()
    (state / "stratus.toml").write_text(f'broker_bind = "127.0.0.1 {CONTROL}"\npublic_url = "http://{CONTROL}:8000"\n')
    monkeypatch.setenv("STRATUS_STATE_DIR", str(state))
    return load(environ={"STRATUS_STATE_DIR": str(state)})


def test_a_bundle_carries_qemus_files_and_setup_installs_them_with_qemu_conf_and_the_setting(control, tmp_path):
    bundle, _ = host_join.join(control, "node-1", "10.0.0.5", tmp_path / "b.tar")
    with tarfile.open(bundle) as tar:
        assert {f"qemu/{name}" for name in hypervisor_tls.QEMU_FILES} <= set(tar.getnames())
    etc = tmp_path / "etc" / "libvirt"
    etc.mkdir(parents=True)
    (etc / "qemu.conf").write_text('security_driver = "none"\n')
    paths = host_join.HostPaths(tmp_path / "host", tmp_path / "pki" / "libvirt", etc / "libvirtd.conf", None, None)
    host_join.setup(bundle, paths)
    qemu = tmp_path / "pki" / "qemu"  # beside libvirt's, as /etc/pki/qemu is
    issued = hypervisor_tls.host_dir(control, "node-1") / "qemu"
    for name in hypervisor_tls.QEMU_FILES:
        assert (qemu / name).read_bytes() == (issued / name).read_bytes()
    assert (qemu / "server-key.pem").stat().st_gid == _qemu_group()
    conf = (etc / "qemu.conf").read_text()
    assert 'security_driver = "none"' in conf and f'migrate_tls_x509_cert_dir = "{qemu}"' in conf
    written = tomllib.loads((tmp_path / "host" / "stratus.toml").read_text())
    assert written["qemu_tls_dir"] == str(qemu) and "live_migration_with_native_tls" not in written  # the default


def test_a_control_node_that_turned_native_tls_off_turns_it_off_on_its_hosts(control, tmp_path):
    off = control.replace(live_migration_with_native_tls=False)
    bundle, _ = host_join.join(off, "node-1", "10.0.0.5", tmp_path / "b.tar")
    host_join.setup(bundle, host_join.HostPaths(tmp_path / "host", tmp_path / "pki", None, None, None))
    written = tomllib.loads((tmp_path / "host" / "stratus.toml").read_text())
    assert written["live_migration_with_native_tls"] is False


def test_a_bundle_without_qemus_files_is_refused(control, tmp_path):
    bundle, _ = host_join.join(control, "node-1", "10.0.0.5", tmp_path / "b.tar")
    members = host_join.read_bundle(bundle)
    old = tmp_path / "old.tar"
    with tarfile.open(old, "w") as tar:
        for name, data in members.items():
            if not name.startswith("qemu/"):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ConfigError, match=r"missing qemu/ca-cert\.pem"):
        host_join.setup(old, host_join.HostPaths(tmp_path / "host", tmp_path / "pki", None, None, None))
    assert not (tmp_path / "qemu").exists()


# ---------------------------------------------------------------------------------------------------------------
# A host machine


def test_a_host_machines_qemu_conf_points_at_its_own_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(host_machine.shutil, "copytree", lambda _src, dst, symlinks: _fake_etc(Path(dst)))
    machine = HostMachine("hm-q", tmp_path / "machine", "10.231.12.11")
    host_machine._libvirt_config(machine, "none", None, qemu_tls=True)
    conf = (tmp_path / "machine" / "etc" / "libvirt" / "qemu.conf").read_text()
    assert f'migrate_tls_x509_cert_dir = "{tmp_path / "machine" / "pki-qemu"}"' in conf
    assert 'user = "libvirt-qemu"' in conf  # the machine's own settings stay


def _fake_etc(etc: Path) -> None:
    etc.mkdir(parents=True)
    (etc / "libvirtd.conf").write_text("")
    (etc / "qemu.conf").write_text('user = "libvirt-qemu"\n')


def test_a_host_machines_agent_takes_qemus_directory_from_its_bundle_not_the_launcher(tmp_path):
    settings = Settings(state_dir=str(tmp_path), host="h", hosts=2, host_machines=True)
    env = host_machine.agent_environment(settings, "h-1", {"STRATUS_QEMU_TLS_DIR": "/elsewhere"})
    assert "STRATUS_QEMU_TLS_DIR" not in env
