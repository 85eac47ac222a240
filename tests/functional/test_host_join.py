"""A compute host on another machine, from ``stratus-manage host join`` to a host that loads its settings, holds its
own message key and reaches the control node's broker over TLS as its own Redis user (``manage.host_join``).

The control node's broker is started as ``stratus-redis.service`` starts it (the config file the control node
writes, ``services up``'s command line), listening on the machine's own address as a control node listens on
its underlay; the host's side is set up in a directory of its own, as on another machine."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from common import signing
from common.queue import broker_tls
from common.settings import CONTROL_ONLY, HostSettings, load, load_host
from manage import broker, host_join, hypervisor_tls
from manage.private_cloud import free_port
from manage.services import redis_service

HOST = "node-7"
ADDRESS = "198.51.100.7"


def machine_address() -> str | None:
    """An address of this machine other machines could dial (the one of its default route), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


@pytest.fixture
def control(tmp_path):
    """A control node's state directory: broker on its address with TLS, the API by address, a database URL with
    credentials (which no host may ever see) and a service password."""
    address = machine_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    state = tmp_path / "control"
    state.mkdir()
    port, tls_port = free_port(), free_port()
    (state / "stratus.toml").write_text(
        f'broker_url = "redis://127.0.0.1:{port}/0"\n'
        f"broker_tls_port = {tls_port}\n"
        f'broker_bind = "127.0.0.1 {address}"\n'
        f'public_url = "http://{address}:8000"\n'
        'database_url = "postgresql://stratus:db-secret@127.0.0.1/stratus"\n'
        'service_password = "service-secret"\n'
        "compute_host_down_after = 21.0\n"
    )
    return load(environ={"STRATUS_STATE_DIR": str(state)}), address


def start_broker(settings) -> subprocess.Popen[bytes]:
    """The control node's Redis as its unit runs it: the config file written at its start, services up's argv."""
    (settings.state_path / "redis").mkdir(mode=0o700, exist_ok=True)
    broker.write_config(settings)
    service = redis_service(settings)
    process = subprocess.Popen(service.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", settings.broker_tls_port), timeout=1).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)


def joined_host(control_settings, tmp_path: Path) -> tuple[HostSettings, Path]:
    bundle, _ = host_join.join(control_settings, HOST, ADDRESS, tmp_path / "bundle.tar")
    paths = host_join.HostPaths(
        state_dir=tmp_path / "host",
        pki_dir=tmp_path / "host-pki",
        libvirtd_conf=tmp_path / "host-etc" / "libvirtd.conf",
        systemd_dir=tmp_path / "host-systemd",
        env_file=tmp_path / "host-etc" / "stratus.env",
    )
    installed = host_join.setup(bundle, paths)
    assert installed.config_file == tmp_path / "host" / "stratus.toml"
    return load_host(environ={"STRATUS_STATE_DIR": str(tmp_path / "host")}), bundle


def test_a_joined_host_loads_its_own_settings_and_never_the_database(control, tmp_path):
    control_settings, address = control
    settings, bundle = joined_host(control_settings, tmp_path)
    assert bundle.stat().st_mode & 0o777 == 0o600
    assert settings.effective_host == HOST
    assert settings.network_underlay_ip == ADDRESS
    assert settings.broker_user == f"host-{HOST}"
    assert settings.broker_url == f"rediss://{address}:{control_settings.broker_tls_port}/0"
    assert settings.effective_public_url == f"http://{address}:8000"
    assert settings.service_password == "service-secret" and settings.compute_host_down_after == 21.0
    assert settings.libvirt_pki_dir == str(tmp_path / "host-pki")
    assert not hasattr(settings, "database_url")
    written = (tmp_path / "host" / "stratus.toml").read_text()
    assert not set(CONTROL_ONLY) & {line.split(" = ")[0] for line in written.splitlines()}
    assert "db-secret" not in written and "db-secret" not in bundle.read_bytes().decode(errors="replace")
    # Even the control side's loader finds no database there: it would fall back to a file of its own.
    assert load(environ={"STRATUS_STATE_DIR": str(tmp_path / "host")}).database_url == ""
    assert (tmp_path / "host-etc" / "stratus.env").read_text() == (
        f"STRATUS_STATE_DIR={tmp_path / 'host'}\nSTRATUS_HOST={HOST}\n"
    )


def test_a_joined_hosts_key_file_is_its_own_key_and_signs_what_the_control_side_accepts(control, tmp_path):
    control_settings, _ = control
    settings, _ = joined_host(control_settings, tmp_path)
    keys_file = settings.effective_queue_keys_dir / "hosts" / f"{HOST}.keys"
    assert keys_file.stat().st_mode & 0o777 == 0o600
    master = signing.read_master_key(control_settings.effective_queue_keys_dir / "master.key")
    keys = signing.read_host_keys(keys_file)
    assert keys == {HOST: signing.host_key(master, HOST)}

    host_auth = signing.MessageAuth(signing.HostKeyring(HOST, keys), settings.queue_message_max_age)
    control_auth = signing.MessageAuth(signing.ControlKeyring(master), control_settings.queue_message_max_age)
    headers = host_auth.sign("compute.report", "task-1", [HOST], {}, to="")
    assert control_auth.verify("compute.report", "task-1", [HOST], {}, headers) == HOST
    work = control_auth.sign("compute.spawn", "task-2", ["server"], {}, to=HOST)
    assert host_auth.verify("compute.spawn", "task-2", ["server"], {}, work) == signing.CONTROL


def test_a_joined_hosts_libvirt_files_and_settings_are_installed(control, tmp_path):
    control_settings, _ = control
    joined_host(control_settings, tmp_path)
    pki = tmp_path / "host-pki"
    issued = hypervisor_tls.host_dir(control_settings, HOST)
    for name in hypervisor_tls.FILES:
        assert (pki / name).read_bytes() == (issued / name).read_bytes()
        assert (pki / name).stat().st_mode & 0o777 == (0o600 if name.endswith("key.pem") else 0o644)
    conf = (tmp_path / "host-etc" / "libvirtd.conf").read_text()
    assert f'listen_addr = "{ADDRESS}"' in conf and f'key_file = "{pki}/serverkey.pem"' in conf
    dropin = (tmp_path / "host-systemd" / "libvirtd-tls.socket.d" / "stratus.conf").read_text()
    assert f"ListenStream={ADDRESS}:16514" in dropin
    assert (tmp_path / "host-systemd" / "stratus-compute.service").exists()


def test_a_joined_host_reaches_the_control_broker_over_tls_as_its_own_user_and_nothing_more(control, tmp_path):
    control_settings, _ = control
    settings, _ = joined_host(control_settings, tmp_path)
    process = start_broker(control_settings)
    try:
        options = broker_tls(settings) or {}
        assert options, "a host on another machine dials rediss://"
        with redis.Redis.from_url(
            settings.effective_broker_url, socket_timeout=5, retry=Retry(NoBackoff(), 0), **options
        ) as client:
            assert client.ping()
            assert client.llen(f"compute.{HOST}") == 0
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.llen("compute.another-host")
        plain = dataclasses.replace(settings, broker_ca_file=str(tmp_path / "no-such-ca.pem"))
        with pytest.raises((redis.exceptions.ConnectionError, OSError)):
            redis.Redis.from_url(
                plain.effective_broker_url, socket_timeout=5, retry=Retry(NoBackoff(), 0), **(broker_tls(plain) or {})
            ).ping()
    finally:
        process.terminate()
        process.wait(timeout=10)
