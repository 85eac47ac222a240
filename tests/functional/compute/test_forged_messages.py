"""Against the running cloud, as a process that has the broker's password (a compromised host has): an unsigned
task and a host's report about another host's server are refused by the real workers and logged, and the
server they aimed at is untouched; the cloud's own messages keep running (every other functional test)."""

from __future__ import annotations

from pathlib import Path

from celery import Celery

from common import signing
from common.queue import make_celery
from common.settings import load
from compute import client as compute_client
from tests.functional.compute.conftest import create_server, show, wait_for_status
from tests.harness import wait_until


def wait_for_log(path: Path, text: str, timeout: float = 20) -> str:
    def matching() -> list[str]:
        return [line for line in path.read_text(errors="replace").splitlines() if text in line]

    return wait_until(matching, timeout, message=f"{path.name} never logged {text!r}")[-1]


def intruder(cloud, tmp_path: Path, name: str) -> Celery:
    """A host named ``name`` with a valid key of its own (as if the operator had enrolled it)."""
    settings = load(cloud.server.env)
    master = signing.read_master_key(settings.effective_queue_keys_dir / "master.key")
    signing.write_host_keys(tmp_path / "queue-keys" / "hosts" / f"{name}.keys", master, [name])
    return make_celery(settings.replace(queue_keys_dir=str(tmp_path / "queue-keys")), sender=name)


def test_forged_and_out_of_scope_reports_are_refused_logged_and_change_nothing(cloud, server_image, unique, tmp_path):
    admin = cloud.admin_token()
    server = create_server(cloud, admin, server_image, unique)
    wait_for_status(cloud, admin, server["id"], "ACTIVE")
    host = show(cloud, admin, server["id"])["OS-EXT-SRV-ATTR:host"]
    log = cloud.server.log_dir / "compute-worker.log"
    settings = load(cloud.server.env)

    unsigned = Celery("forger", broker=settings.effective_broker_url)
    sent = unsigned.send_task(compute_client.DESTROYED, args=[server["id"], host], queue="events")
    line = wait_for_log(log, f"refused task {compute_client.DESTROYED}[{sent.id}]")
    assert "the message carries no signature" in line

    with intruder(cloud, tmp_path, "intruder-host") as app:
        # Claims to speak for the server's host: refused before any handler runs.
        sent = app.send_task(compute_client.DESTROYED, args=[server["id"], host])
        line = wait_for_log(log, f"refused task {compute_client.DESTROYED}[{sent.id}]")
        assert f"host 'intruder-host' reported about host(s) ['{host}']" in line
        # Names itself honestly: heard, and ignored because the server is not on it.
        app.send_task(compute_client.ACTION_DONE, args=[server["id"], "intruder-host", "stop", "req-forged", 4])
        app.send_task(compute_client.DESTROYED, args=[server["id"], "intruder-host"])
        # Control-side work is not a host's to send.
        sent = app.send_task(compute_client.BUILD, args=[server["id"]], queue="compute")
        line = wait_for_log(log, f"refused task {compute_client.BUILD}[{sent.id}]")
        assert f"may not send {compute_client.BUILD}" in line
    wait_for_log(log, f"host intruder-host reported the destruction of instance {server['id']}")

    after = show(cloud, admin, server["id"])
    assert (after["status"], after["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", host)
    assert cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", admin).status_code == 204
