"""What the launcher runs for one and for several hosts on a machine, and how it finds agents it no longer runs."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from common.settings import Settings
from manage import services


def agents(settings: Settings) -> dict[str, services.Service]:
    return {s.name: s for s in services.worker_services(settings) if "agent" in s.name}


def test_one_host_runs_one_agent_of_each_kind_named_after_the_machine(tmp_path: Path) -> None:
    settings = Settings(state_dir=str(tmp_path), host="box")
    found = agents(settings)
    assert set(found) == {"compute-agent", "network-agent"}
    assert found["compute-agent"].node == "compute-agent@box"
    assert dict(found["compute-agent"].env) == {
        "STRATUS_HOST": "box",
        "STRATUS_BROKER_USER": "host-box",
        "STRATUS_BROKER_PASSWORD_FILE": str(tmp_path / "queue-keys" / "hosts" / "box.broker-password"),
    }
    assert "compute.box" in found["compute-agent"].argv


def test_control_copies_run_each_control_worker_that_many_times_on_the_same_queues_with_a_clock_each(
    tmp_path: Path,
) -> None:
    settings = Settings(state_dir=str(tmp_path), host="box", control_copies=2)
    control = {s.name: s for s in services.worker_services(settings) if "agent" not in s.name}
    assert set(control) == {
        f"{name}{copy}" for name in ("compute", "network", "image", "volume") for copy in ("-worker", "-worker-2")
    }
    first, second = control["compute-worker"], control["compute-worker-2"]
    assert (first.node, second.node) == ("compute-worker@box", "compute-worker-2@box")
    queues = lambda service: service.argv[service.argv.index("-Q") + 1]  # noqa: E731
    assert queues(first) == queues(second) == "liveness,events,compute,reports"  # by priority
    assert "--beat" in first.argv and "--beat" in second.argv  # one dead copy stops no periodic job
    assert first.argv[first.argv.index("--schedule") + 1] != second.argv[second.argv.index("--schedule") + 1]


def test_several_hosts_get_agents_names_queues_and_directories_of_their_own(tmp_path: Path) -> None:
    settings = Settings(state_dir=str(tmp_path), host="box", hosts=2)
    found = agents(settings)
    assert set(found) == {"compute-agent-box-1", "compute-agent-box-2", "network-agent-box-1", "network-agent-box-2"}
    second = found["compute-agent-box-2"]
    assert second.node == "compute-agent@box-2"
    assert second.argv[second.argv.index("-Q") + 1] == "compute.box-2"
    assert dict(second.env) == {
        "STRATUS_HOST": "box-2",
        "STRATUS_BROKER_USER": "host-box-2",
        "STRATUS_BROKER_PASSWORD_FILE": str(tmp_path / "queue-keys" / "hosts" / "box-2.broker-password"),
        "STRATUS_INSTANCES_PATH": str(tmp_path / "hosts" / "box-2" / "instances"),
        "STRATUS_NETWORK_NAMESPACE": "stratus-box-2",
        "STRATUS_NETWORK_UNDERLAY_IP": "198.18.0.12",
        "STRATUS_NETWORK_UNDERLAY_PREFIX": "24",
    }
    assert found["network-agent-box-1"].argv[found["network-agent-box-1"].argv.index("-Q") + 1] == "network.box-1"


def test_fake_hosts_of_each_machine_host_share_its_agent(tmp_path: Path) -> None:
    settings = Settings(state_dir=str(tmp_path), host="box", hosts=2, compute_driver="fake", compute_fake_hosts=2)
    queues = agents(settings)["compute-agent-box-1"].argv
    assert queues[queues.index("-Q") + 1] == "compute.box-1-1,compute.box-1-2"


def test_pid_files_of_agents_no_longer_wanted_are_found_with_their_marker(tmp_path: Path) -> None:
    settings = Settings(state_dir=str(tmp_path), host="box")
    settings.run_dir.mkdir(parents=True)
    (settings.run_dir / "compute-agent-box-2.pid").write_text("4242\ncompute-agent@box-2\n")
    (settings.run_dir / "compute-agent.pid").write_text("4243\ncompute-agent@box\n")
    (settings.run_dir / "redis.pid").write_text("4244\nredis-server\n")
    (settings.run_dir / "ancient.pid").write_text("4245\n")  # no marker: never touched
    leftovers = services.leftover_services(settings, services.worker_services(settings))
    assert [(s.name, s.marker) for s in leftovers] == [("compute-agent-box-2", "compute-agent@box-2")]
    assert services.read_pid(settings.run_dir / "compute-agent-box-2.pid") == 4242


def test_host_agents_are_not_handed_the_launchers_database_url(tmp_path: Path, monkeypatch) -> None:
    """A host holds no database credentials (DESIGN §1), even when `services up` runs with them in its
    environment (the functional tests start PostgreSQL clouds that way); control-side workers keep them."""
    monkeypatch.setenv("STRATUS_DATABASE_URL", "postgresql://stratus:db-secret@db/stratus")
    settings = Settings(state_dir=str(tmp_path), host="box", hosts=2)
    workers = {s.name: s for s in services.worker_services(settings)}

    for name in ("compute-agent-box-1", "network-agent-box-2"):
        env = services.process_environment(workers[name], settings)
        assert "STRATUS_DATABASE_URL" not in env and env["STRATUS_HOST"] == name.rpartition("agent-")[2]
    assert "db-secret" in services.process_environment(workers["compute-worker"], settings)["STRATUS_DATABASE_URL"]


def test_the_console_proxy_runs_as_a_service_of_its_own_with_the_databases_settings(tmp_path: Path) -> None:
    settings = Settings(state_dir=str(tmp_path), host="box")
    proxy = services.console_proxy_service(settings)
    assert proxy.available and proxy.argv[-2:] == ("-m", "console.server")
    others = [services.api_service(settings), *services.worker_services(settings)]
    assert all(proxy.marker not in " ".join(other.argv) for other in others)  # its pid file cannot name another
    assert proxy.withheld == ()  # control side: it reads the database, unlike a host agent


def _listener(marker: str, *bound: str) -> services.Service:
    """A stand-in service whose command line names ``--bind`` addresses as the API's does (it only sleeps)."""
    options = [arg for address in bound for arg in ("--bind", address)]
    return services.Service("api", (sys.executable, "-c", "import time; time.sleep(60)", *options, marker), marker)


def test_a_running_api_bound_elsewhere_is_stopped_to_start_again_on_the_addresses_it_must_listen_on(
    tmp_path: Path,
) -> None:
    """`make up`, then `make up HOSTS=3`: the API kept listening on loopback only and every call of the host
    machines (which dial the control node's underlay address) was refused."""
    settings = Settings(state_dir=str(tmp_path), host="box")
    settings.run_dir.mkdir(parents=True)
    settings.log_dir.mkdir(parents=True)
    marker = f"stand-in-api-{tmp_path.name}"
    loopback = _listener(marker, "127.0.0.1:8000")
    pid = services.spawn(loopback, settings)
    try:
        unchanged = services.stop_rebound(settings, [loopback])
        assert unchanged == [] and services.running_pid(loopback, settings) == pid

        rebound = services.stop_rebound(settings, [_listener(marker, "127.0.0.1:8000", "198.18.0.1:8000")])

        assert rebound == ["api"]
        assert services.running_pid(loopback, settings) is None and not services.is_alive(pid, marker)
    finally:
        if services.process_exists(pid):
            os.kill(pid, signal.SIGKILL)
