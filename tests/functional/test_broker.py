"""The cloud's Redis is no open door: it wants the password ``services up`` generated (kept in files only root
can read, never on a command line), and it speaks TLS on a second port for hosts on other machines, which a
Celery client reaches over ``rediss://`` with the generated CA."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from common.queue import make_celery
from common.settings import load


def client(**options: object) -> redis.Redis:
    """A client that reports a refusal at once (redis-py retries a failed connection by default)."""
    return redis.Redis(socket_timeout=2, retry=Retry(NoBackoff(), 0), **options)  # type: ignore[arg-type]


def test_the_broker_refuses_a_client_without_its_password(cloud):
    settings = load(cloud.server.env)
    password_file = settings.effective_broker_password_file
    assert password_file.stat().st_mode & 0o777 == 0o600
    assert (settings.state_path / "redis" / "redis.conf").stat().st_mode & 0o777 == 0o600
    password = password_file.read_text().strip()
    pid = (settings.run_dir / "redis.pid").read_text().split()[0]
    assert password not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")

    port = int(cloud.server.env["STRATUS_BROKER_URL"].rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(redis.exceptions.AuthenticationError):
        client(port=port).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        client(port=port, password="guess").ping()
    assert client(port=port, password=password).ping()


def test_the_broker_speaks_tls_to_remote_hosts_and_only_tls_on_that_port(cloud):
    settings = load(cloud.server.env)
    tls_port = int(cloud.server.env["STRATUS_BROKER_TLS_PORT"])
    password = settings.effective_broker_password_file.read_text().strip()
    ca = str(settings.effective_broker_ca_file)
    tls = {"port": tls_port, "ssl": True, "ssl_ca_certs": ca, "ssl_cert_reqs": "required"}

    assert client(password=password, **tls).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        client(**tls).ping()
    with pytest.raises(redis.exceptions.ConnectionError):  # plain text on the TLS port
        client(port=tls_port, password=password).ping()

    # A host on another machine: rediss:// URL, the CA file, the password; its Celery reaches the workers.
    remote = settings.replace(broker_url=f"rediss://127.0.0.1:{tls_port}/0")
    node = f"compute-worker@{settings.effective_host}"
    with make_celery(remote) as app:
        replies = app.control.ping(destination=[node], timeout=5.0)
    assert [node] == [name for reply in replies for name in reply]


def test_workers_obey_no_remote_control_command_but_ping(cloud):
    """Broadcast commands carry no signature: a holder of the broker password (any host) must not be able to
    stop, rewire or read a worker with them. Only commands that harm nothing if obeyed are sent here; the unit
    test of common.queue checks that ``shutdown`` and the like are gone from the registry the workers use."""
    settings = load(cloud.server.env)
    node = f"compute-worker@{settings.effective_host}"
    with make_celery(settings) as app:
        for command in ("conf", "stats", "registered", "active_queues"):
            replies = app.control.broadcast(command, destination=[node], reply=True, timeout=5.0)
            assert replies and "error" in replies[0][node], (command, replies)
        assert app.control.ping(destination=[node], timeout=5.0)
