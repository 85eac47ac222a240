"""``stratus-manage services up|down|status``: the whole cloud on one machine, as plain background processes.

Development and CI machines here have no init system, so this launcher is the supervisor: each process it starts
gets a log at ``<state_dir>/log/<name>.log`` and a pid file at ``<state_dir>/run/<name>.pid``. ``down`` stops
exactly what those pid files name, and only after checking the pid still belongs to that service, so a Redis, a
worker or a server this state directory did not start is never touched. ``up`` is idempotent: a service whose pid
file names a live process is left alone, and it returns only once every service answers (the API over HTTP,
every worker to a Celery ping), so callers may use the cloud at once.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import ipaddress
import itertools
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import click
import redis

from common import signing
from common.exceptions import ConfigError
from common.hostnames import agent_names, machine_hosts, network_served_hosts, served_hosts
from common.queue import LIVENESS_QUEUE, REPORTS_QUEUE, broker_tls, host_queue, make_celery
from common.settings import CONTROL_ONLY, Settings, load
from manage import broker, broker_acl, host_machine, roster

STOP_TIMEOUT = 15.0
LOG_TAIL_LINES = 20
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
# Children create the database, keys, Redis files and logs: none of them is anyone else's business.
CHILD_UMASK = 0o077


@dataclass(frozen=True)
class WorkerSpec:
    """A Celery worker: the module with a module-level ``app``, its control queues, and for a host agent the
    service whose per-host queue (``<service>.<host>``) it consumes."""

    name: str
    module: str
    queues: tuple[str, ...] = ()
    agent_of: str | None = None
    beat: bool = False  # runs the app's periodic safety nets (Celery beat embedded in this worker)


WORKERS = (
    WorkerSpec(
        "compute-worker",
        "compute.control.worker",
        queues=(LIVENESS_QUEUE, "events", "compute", REPORTS_QUEUE),  # by priority: compute.control.worker
        beat=True,
    ),
    WorkerSpec("network-worker", "network.control.worker", queues=("network",), beat=True),
    WorkerSpec("image-worker", "image.worker", queues=("image",), beat=True),
    WorkerSpec("volume-worker", "volume.worker", queues=("volume",), beat=True),
    WorkerSpec("compute-agent", "compute.host.agent", agent_of="compute", beat=True),
    WorkerSpec("network-agent", "network.host.agent", agent_of="network", beat=True),
)

# Popen objects of the children we leave running; kept so their destructors do not warn about a live child.
_DETACHED: list[subprocess.Popen[bytes]] = []


@dataclass(frozen=True)
class Service:
    """One process the launcher can start, find again and stop.

    ``marker`` is a string that appears in the process's command line and in no other service's: a pid from a pid
    file only counts as this service when its command line still contains it (pids are reused after a reboot).
    """

    name: str
    argv: tuple[str, ...]
    marker: str
    module: str | None = None
    node: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    """Settings of this process that differ from the machine's (a host agent's host name and directories)."""
    withheld: tuple[str, ...] = ()
    """Variables of the launcher's environment this process must not inherit (a host agent: the database's)."""
    machine: str | None = None
    """The host machine (``manage.host_machine``) whose cgroups the process joins: an agent of that host dies with
    it when it is powered off (fenced, or its namespace torn down), as a real machine's agents do."""
    prepare: Callable[[Settings], None] | None = None
    """Work to do right before each start: HAProxy's configuration is written from the settings then."""
    ready_url: str | None = None
    """An HTTP URL that answers 200 once the process serves (an API process behind HAProxy, HAProxy itself)."""

    def pid_file(self, settings: Settings) -> Path:
        return settings.run_dir / f"{self.name}.pid"

    def log_file(self, settings: Settings) -> Path:
        return settings.log_dir / f"{self.name}.log"

    @property
    def available(self) -> bool:
        """False for a worker whose module does not exist (yet): it is skipped, not failed."""
        if self.module is None:
            return True
        try:
            return importlib.util.find_spec(self.module) is not None
        except ImportError:
            return False


# ---------------------------------------------------------------------------------------------------------------
# What runs


def broker_address(settings: Settings) -> tuple[str, int]:
    parts = urlsplit(settings.broker_url)
    return parts.hostname or "127.0.0.1", parts.port or 6379


def redis_service(settings: Settings) -> Service:
    """A private Redis for this state directory, persisted with an append-only file in ``<state>/redis``; its
    password and TLS listener are in its config file (``manage.broker``)."""
    _, port = broker_address(settings)
    argv = (
        shutil.which("redis-server") or "/usr/bin/redis-server",
        str(settings.state_path / "redis" / "redis.conf"),
        "--port", str(port),
        "--bind", *settings.broker_bind.split(),
        "--dir", str(settings.state_path / "redis"),
        "--daemonize", "no",
        "--appendonly", "yes",
        "--save", "",
        "--logfile", "",
    )  # fmt: skip
    return Service("redis", argv, marker="redis-server")


def effective_settings() -> Settings:
    """The settings, and with host machines what the control side must add for them (Redis and the catalog's API
    address on the underlay), put in this process's environment so that every service it starts agrees."""
    settings = load()
    if not host_machine.enabled(settings):
        return settings
    os.environ.update(host_machine.control_environment(settings))
    return load()


def api_service(settings: Settings) -> Service:
    argv = (
        sys.executable, "-m", "gunicorn",
        "-k", "gthread",
        "--workers", str(settings.api_workers),
        "--threads", str(settings.api_threads),
        "--bind", f"{settings.api_host}:{settings.api_port}",
        "--graceful-timeout", "10",
        # An idle kept-alive connection is closed after 75 s, not gunicorn's 2 s: clients poll every 2 s
        # (openstacksdk's wait_for_status, the CLI's --wait), and a request sent on a connection at the instant the
        # server closes it fails with "Remote end closed connection without response". Idle connections wait in
        # the workers' poller, holding no thread.
        "--keep-alive", "75",
        "--no-control-socket",  # else every gunicorn on the machine shares ~/.gunicorn/gunicorn.ctl
        # The application is made once, before the workers fork: each worker shares its modules and app
        # (``settle_garbage_collector`` froze them, so they stay shared pages) instead of importing them again, which
        # cost a second or two of CPU and tens of MB per worker. Nothing made then holds a connection: database
        # engines connect on first use, the Ceph store reconnects in a process that did not connect.
        "--preload",
        "api.wsgi:application",
    )  # fmt: skip
    if host_machine.enabled(settings):  # the hosts reach it on the underlay, as they would the control node
        argv = (*argv[:-1], "--bind", f"{host_machine.control_address(settings)}:{settings.api_port}", argv[-1])
    return Service("api", argv, marker="api.wsgi:application")


def api_shape(settings: Settings) -> list[Service]:
    """The API as ``api_copies`` says: the one process of :func:`api_service`, or several behind HAProxy."""
    from manage import api_proxy  # it builds on this module's services

    if settings.api_copies < 1:
        raise click.ClickException(f"api_copies is {settings.api_copies}: it must be at least 1")
    return api_proxy.api_shape(settings, settings.api_copies)


def console_proxy_service(settings: Settings) -> Service:
    """The console proxy (``console.server``): websockets to guests' consoles, next to the API."""
    argv = (sys.executable, "-m", "console.server")
    return Service("console-proxy", argv, marker="console.server", module="console.server")


def host_environment(settings: Settings, host: str) -> tuple[tuple[str, str], ...]:
    """What a host agent of ``host`` is told besides the machine's settings: its name, its Redis user, and with
    several hosts on the machine, directories of its own (as a separate machine would have)."""
    env = [("STRATUS_HOST", host)]
    # Its own Redis user, which reaches its own queues alone (manage.broker_acl), never the default's password.
    env += [
        ("STRATUS_BROKER_USER", broker_acl.host_user(host)),
        ("STRATUS_BROKER_PASSWORD_FILE", str(broker_acl.password_file(settings, host))),
    ]
    if settings.hosts > 1:
        base = Path(settings.instances_path) if settings.instances_path else settings.state_path / "hosts"
        env.append(("STRATUS_INSTANCES_PATH", str(base / host / "instances")))
        # Its own network namespace and underlay address: tenant traffic between hosts really crosses VXLAN.
        underlay = ipaddress.ip_network(settings.network_simulated_underlay)
        index = machine_hosts(settings).index(host) + 1
        env += [
            ("STRATUS_NETWORK_NAMESPACE", f"stratus-{host}"),
            ("STRATUS_NETWORK_UNDERLAY_IP", str(underlay.network_address + 10 + index)),
            ("STRATUS_NETWORK_UNDERLAY_PREFIX", str(underlay.prefixlen)),
        ]
    return tuple(env)


HOST_WITHHELD = tuple(f"STRATUS_{name.upper()}" for name in sorted(CONTROL_ONLY))
"""What a host agent is never handed, though the launcher may have it: it loads ``HostSettings``, which would drop
these anyway, but a secret a process does not need should not sit in its environment (``/proc/<pid>/environ``)."""


def _worker(
    settings: Settings,
    spec: WorkerSpec,
    name: str,
    node: str,
    queues: list[str],
    env: tuple = (),
    run_dir: Path | None = None,
) -> Service:
    argv = (
        sys.executable, "-m", "celery", "-A", f"{spec.module}:app", "worker",
        "-Q", ",".join(queues),
        "-n", node,
        "--pool", "prefork", "--concurrency", "1",
        "--loglevel", settings.log_level,
        "--without-gossip", "--without-mingle",
    )  # fmt: skip
    if spec.beat:
        argv += ("--beat", "--schedule", str((run_dir or settings.run_dir) / f"{name}-beat-schedule"))
    if spec.agent_of:  # no worker events (nobody listens): a host's Redis user may not publish them
        argv += ("--without-heartbeat",)
    withheld = HOST_WITHHELD if spec.agent_of else ()
    return Service(name, argv, marker=node, module=spec.module, node=node, env=env, withheld=withheld)


def control_copy_names(settings: Settings, name: str) -> list[str]:
    """The copies of one control worker (``control_copies``): ``name``, then ``name-2``, ``name-3``..."""
    if settings.control_copies < 1:
        raise click.ClickException(f"control_copies is {settings.control_copies}: it must be at least 1")
    return [name, *(f"{name}-{copy}" for copy in range(2, settings.control_copies + 1))]


def worker_services(settings: Settings) -> list[Service]:
    """The Celery workers; named ``<service>@<host>`` so two hosts on one broker never share a node name. Host
    agents run once per host of the machine (``hosts``); with one host their names carry no host suffix."""
    services = []
    for spec in WORKERS:
        if spec.agent_of is None:
            env = fencing_environment(settings) if spec.name == "compute-worker" else ()
            for name in control_copy_names(settings, spec.name):
                node = f"{name}@{settings.effective_host}"
                services.append(_worker(settings, spec, name, node, list(spec.queues), env))
            continue
        for host in machine_hosts(settings):
            host_settings = settings.replace(host=host)
            serving = served_hosts if spec.agent_of == "compute" else network_served_hosts
            agent_hosts = serving(host_settings)
            queues = [*spec.queues, *(host_queue(spec.agent_of, h) for h in agent_hosts)]
            name = spec.name if settings.hosts <= 1 else f"{spec.name}-{host}"
            if host_machine.enabled(settings):
                run_dir = host_machine.host_state_dir(settings, host) / "run"
                worker = _worker(settings, spec, name, f"{spec.name}@{host}", queues, run_dir=run_dir)
                services.append(machine_service(settings, worker, host))
            else:
                worker = _worker(settings, spec, name, f"{spec.name}@{host}", queues, host_environment(settings, host))
                services.append(worker)
    return services


def machine_service(settings: Settings, service: Service, host: str) -> Service:
    """``service`` (an agent of ``host``) run inside host machine ``host``: in all its namespaces and cgroups, with
    an environment of its own (its state directory and settings from its join bundle, nothing of the launcher's
    places: it reaches the control node only by its underlay address)."""
    machine = host_machine.of_host(settings, host)
    launcher = child_environment(settings)
    env = host_machine.agent_environment(settings, host, launcher)
    withheld = tuple(name for name in launcher if name.startswith("STRATUS_"))
    return dataclasses.replace(
        service, argv=tuple(machine.argv(service.argv)), env=tuple(env.items()), withheld=withheld, machine=host
    )


def fencing_environment(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The scheduler's fence command for host machines, unless the operator set one: ``services fence-machine``,
    which powers the host machine off (the scheduler appends the host's name and underlay address), so simulated
    hosts are fenced through the same hook as real ones."""
    if not host_machine.enabled(settings) or settings.fence_command.strip():
        return ()
    hosts_dir = settings.state_path / "hosts"
    command = shlex.join(
        [sys.executable, "-m", "manage.cli", "services", "fence-machine", "--hosts-dir", str(hosts_dir)]
    )
    return (("STRATUS_FENCE_COMMAND", command),)


def metadata_proxy_services(settings: Settings) -> list[Service]:
    """The metadata proxy of each host of the machine (``network.host.metadata``), beside its network agent and
    with its environment; none with the fake dataplane, which makes no DHCP namespace to listen in."""
    if settings.network_dataplane != "linux":
        return []
    services = []
    for host in machine_hosts(settings):
        name = "metadata-proxy" if settings.hosts <= 1 else f"metadata-proxy-{host}"
        marker = f"metadata-proxy@{host}"
        argv = (sys.executable, "-m", "network.host.metadata", marker)
        proxy = Service(name, argv, marker=marker, module="network.host.metadata", env=host_environment(settings, host),
                        withheld=HOST_WITHHELD)  # fmt: skip
        services.append(machine_service(settings, proxy, host) if host_machine.enabled(settings) else proxy)
    return services


def leftover_services(settings: Settings, known: list[Service]) -> list[Service]:
    """Services a pid file names that the settings no longer ask for (the machine ran more hosts before): found
    again by the marker their pid file keeps, so ``down`` and ``up`` can stop them."""
    names = {service.name for service in known} | {service.name for service in broker_services(settings)}
    found = []
    for pid_file in sorted(settings.run_dir.glob("*.pid")):
        name = pid_file.stem
        lines = pid_file.read_text().splitlines() if pid_file.exists() else []
        if name not in names and len(lines) >= 2:
            found.append(Service(name, (), marker=lines[1]))
    return found


def child_environment(settings: Settings) -> dict[str, str]:
    """The launcher's environment, pinned to this state directory so children agree with us whatever their cwd."""
    env = dict(os.environ, STRATUS_STATE_DIR=str(settings.state_path), PYTHONUNBUFFERED="1")
    if env.get("STRATUS_CONFIG"):
        env["STRATUS_CONFIG"] = str(Path(env["STRATUS_CONFIG"]).resolve())
    return env


def process_environment(service: Service, settings: Settings) -> dict[str, str]:
    """The environment ``service`` starts with: the launcher's, less what it must not hold, plus its own."""
    env = child_environment(settings)
    for name in service.withheld:
        env.pop(name, None)
    return env | dict(service.env)


# ---------------------------------------------------------------------------------------------------------------
# Processes and pid files


def read_pid(path: Path) -> int | None:
    """The pid on a pid file's first line (the second keeps the service's marker)."""
    try:
        return int(path.read_text().split("\n", 1)[0].strip())
    except (OSError, ValueError):
        return None


def is_alive(pid: int, marker: str) -> bool:
    """True when ``pid`` runs, is not a zombie, and its command line contains ``marker``.

    Zombies count as dead: without an init that reaps orphans, a stopped service can linger as one. The command
    line is read up to three times because Redis blanks it for an instant while it rewrites its process title.
    """
    for _ in range(3):
        if not process_exists(pid):
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        if marker in cmdline.replace(b"\0", b" ").decode(errors="replace"):
            return True
        time.sleep(0.05)
    return False


def running_pid(service: Service, settings: Settings) -> int | None:
    pid = read_pid(service.pid_file(settings))
    return pid if pid is not None and is_alive(pid, service.marker) else None


def spawn(service: Service, settings: Settings) -> int:
    """Start ``service`` detached (own session, so it outlives ``make`` and its terminal) and record its pid."""
    if service.prepare is not None:
        service.prepare(settings)
    log_path = service.log_file(settings)
    with log_path.open("ab") as log:
        stamp = datetime.now().isoformat(timespec="seconds")
        log.write(f"--- {stamp} stratus-manage services up: {' '.join(service.argv)}\n".encode())
        log.flush()
        machine = host_machine.of_host(settings, service.machine) if service.machine else None
        proc = subprocess.Popen(
            service.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=process_environment(service, settings),
            start_new_session=True,
            umask=CHILD_UMASK,
            preexec_fn=machine.join_cgroups if machine else None,
        )
    _DETACHED.append(proc)
    service.pid_file(settings).write_text(f"{proc.pid}\n{service.marker}\n")
    return proc.pid


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 64 * 1024))
            text = log.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def stop_all(pids: dict[str, int], timeout: float = STOP_TIMEOUT) -> list[str]:
    """SIGTERM each process, wait for all of them together, then SIGKILL the process group of the stragglers.

    The whole group is killed at the end because a service's children (gunicorn and Celery pool workers) share
    its session: a killed master must not leave them behind. Returns the names that needed SIGKILL.
    """
    for pid in pids.values():
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    waiting = dict(pids)
    while waiting and time.monotonic() < deadline:
        waiting = {name: pid for name, pid in waiting.items() if process_exists(pid)}
        if waiting:
            time.sleep(0.2)
    for pid in waiting.values():
        _signal(pid, signal.SIGKILL, group=True)
    return sorted(waiting)


def process_exists(pid: int) -> bool:
    """True while ``pid`` runs and is not a zombie. Used for children we just started, whose pid cannot be reused
    before we exit; their command line is not checked because Redis blanks it while it rewrites its title."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _signal(pid: int, signum: int, group: bool = False) -> None:
    try:
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------------------------------------------------------
# up


def broker_services(settings: Settings) -> list[Service]:
    """The Redis processes this state directory may run: the one Redis, and with ``broker_sentinels`` the data
    nodes and Sentinels of ``manage.redis_ha``."""
    from manage import redis_ha  # imported when used: it builds on this module's Service and process helpers

    return [redis_service(settings), *(redis_ha.services(settings) if settings.broker_sentinels else [])]


def ensure_broker(settings: Settings, timeout: float) -> Service | None:
    """Start the private Redis unless ours already runs or something else answers on the broker's port.

    Returns the Redis service when it is ours (so ``down`` will stop it), None when the broker is external.
    """
    host, port = broker_address(settings)
    redis = redis_service(settings)
    had_config = (settings.state_path / "redis" / "redis.conf").exists()
    if running_pid(redis, settings):
        outdated = "started before Redis had a password" if not had_config else _redis_outdated(settings)
        if outdated is None:
            return redis
        click.echo(f"restarting redis: {outdated}")
        stop_services(settings, [redis], STOP_TIMEOUT)
    if port_answers(host, port):
        click.echo(f"broker {host}:{port} already answers; using it")
        return None
    if host not in LOOPBACK_NAMES:
        raise click.ClickException(f"broker {host}:{port} does not answer and is not on this machine")
    (settings.state_path / "redis").mkdir(mode=0o700, exist_ok=True)
    broker.write_config(settings)
    pid = spawn(redis, settings)
    click.echo(f"started redis (pid {pid}) on 127.0.0.1:{port}")
    deadline = time.monotonic() + timeout
    while not port_answers("127.0.0.1", port):
        if not process_exists(pid) or time.monotonic() > deadline:
            raise click.ClickException(failure_message(redis, settings, "did not start listening"))
        time.sleep(0.1)
    return redis


def _redis_outdated(settings: Settings) -> str | None:
    """Why our running Redis must start again, if it must: it binds other addresses than ``broker_bind`` names now,
    or its certificate had to be made again to name them (both after ``make up HOSTS=N`` made host machines, which
    dial the control node's underlay address). Redis reads both only when it starts; its queues survive (append-only
    file) and the services reconnect."""
    tls = broker.tls_dir(settings) / "server.pem"
    before = tls.read_bytes() if tls.exists() else b""
    broker.write_config(settings)
    if settings.broker_tls_port and tls.read_bytes() != before:
        return "its TLS certificate did not name every address of broker_bind"
    options = broker_tls(settings) or {}
    try:
        with redis.Redis.from_url(settings.effective_broker_url, socket_timeout=5, decode_responses=True,
                                  **options) as db:  # fmt: skip
            bound = db.config_get("bind").get("bind", "")
    except redis.RedisError as exc:
        return f"it does not answer as expected ({exc})"
    if set(bound.split()) != set(settings.broker_bind.split()):
        return f"it listens on {bound}, not on {settings.broker_bind}"
    return None


def run_manage(settings: Settings, *commands: tuple[str, ...]) -> None:
    """Run other ``stratus-manage`` commands in children, so their database engines and imports stay out of ours;
    several at once when given several (they must not depend on each other), which shortens every bring-up."""
    exe = Path(sys.executable).with_name("stratus-manage")
    program = str(exe) if exe.exists() else shutil.which("stratus-manage") or "stratus-manage"
    env = child_environment(settings)
    children = [
        subprocess.Popen(
            [program, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, umask=CHILD_UMASK
        )
        for args in commands
    ]  # fmt: skip
    outputs = [child.communicate()[0].strip() for child in children]
    with (settings.log_dir / "manage.log").open("a") as log:
        for args, output in zip(commands, outputs, strict=True):
            log.write(f"--- {datetime.now().isoformat(timespec='seconds')} {' '.join(args)}\n{output}\n")
    for args, output, child in zip(commands, outputs, children, strict=True):
        if child.returncode != 0:
            raise click.ClickException(f"stratus-manage {' '.join(args)} failed:\n{output}")
        click.echo(f"{' '.join(args)}: {output.splitlines()[-1] if output else 'ok'}")


def start_services(settings: Settings, services: Iterable[Service]) -> dict[str, int]:
    """Start every service not already running; returns the pid of each one, started or found."""
    pids: dict[str, int] = {}
    for service in services:
        pid = running_pid(service, settings)
        if pid:
            click.echo(f"{service.name} already running (pid {pid})")
        else:
            if service.name == "api" and port_answers(api_connect_host(settings), settings.api_port):
                raise click.ClickException(
                    f"port {settings.api_port} is in use by a process this state directory did not start"
                )
            pid = spawn(service, settings)
            click.echo(f"started {service.name} (pid {pid}), log {service.log_file(settings)}")
        pids[service.name] = pid
    return pids


def binds(argv: Iterable[str]) -> set[str]:
    """The addresses a command line listens on: each value of its ``--bind`` options (gunicorn's)."""
    return {value for option, value in itertools.pairwise(argv) if option == "--bind"}


def stop_rebound(settings: Settings, services: Iterable[Service]) -> list[str]:
    """Stop each running service that listens on other addresses than it would start with, so it starts again on
    the right ones; returns their names. ``make up`` and then ``make up HOSTS=N`` (host machines) left the API on
    loopback, where the host machines, which dial the control node's underlay address, were refused every call
    (token, image download): a service reads its bind addresses only when it starts."""
    rebound = []
    for service in services:
        pid = running_pid(service, settings)
        if pid is None or not binds(service.argv):
            continue
        try:
            running = binds(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0"))
        except OSError:
            continue  # gone meanwhile: started again below
        if running != binds(service.argv):
            listens, wanted = " ".join(sorted(running)), " ".join(sorted(binds(service.argv)))
            click.echo(f"restarting {service.name}: it listens on {listens}, not on {wanted}")
            stop_services(settings, [service], STOP_TIMEOUT)
            rebound.append(service.name)
    return rebound


def api_connect_host(settings: Settings) -> str:
    return "127.0.0.1" if settings.api_host in ("0.0.0.0", "") else settings.api_host


def api_ready(settings: Settings) -> bool:
    url = f"http://{api_connect_host(settings)}:{settings.api_port}/identity/v3"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def url_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def failure_message(service: Service, settings: Settings, what: str) -> str:
    log = service.log_file(settings)
    return (
        f"{service.name} {what}; last lines of {log}:\n{log_tail(log)}\n"
        "(services already started keep running: `stratus-manage services down` stops them)"
    )


def wait_until_ready(settings: Settings, services: list[Service], pids: dict[str, int], timeout: float) -> None:
    """Poll until the API answers and every worker replies to a ping; fail fast when a process exits."""
    pending = {service.name: service for service in services}
    deadline = time.monotonic() + timeout
    with make_celery(settings) as celery:
        while pending:
            for name, service in list(pending.items()):
                if not process_exists(pids[name]):
                    raise click.ClickException(failure_message(service, settings, "exited during start-up"))
                if service.module == "network.host.metadata":
                    del pending[name]  # a metadata proxy has nothing to answer until guests ask: running is ready
            if "api" in pending and api_ready(settings):
                del pending["api"]
            for name in [n for n, s in pending.items() if s.ready_url and url_ready(s.ready_url)]:
                del pending[name]
            proxy = settings.console_proxy_host, settings.console_proxy_port
            if "console-proxy" in pending and port_answers(*proxy):
                del pending["console-proxy"]
            nodes = [s.node for s in pending.values() if s.node]
            if nodes:
                for reply in celery.control.ping(destination=nodes, timeout=1.0):
                    pending = {n: s for n, s in pending.items() if s.node not in reply}
            if pending and time.monotonic() > deadline:
                first = next(iter(pending.values()))
                raise click.ClickException(failure_message(first, settings, f"not ready after {timeout:.0f}s"))
            if pending and not nodes:
                time.sleep(0.3)


# ---------------------------------------------------------------------------------------------------------------
# Commands


@click.group("services")
def services() -> None:
    """Start, stop and inspect the Stratus processes of this state directory (logs and pids under it)."""


def managed_services(settings: Settings) -> list[Service]:
    """Every service this state directory's bring-up starts but Redis: the API, the console proxy, the workers
    and agents, the metadata proxies."""
    return [
        *api_shape(settings), console_proxy_service(settings), *worker_services(settings),
        *metadata_proxy_services(settings),
    ]  # fmt: skip


@services.command("up")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for every service to answer.")
def up(timeout: float) -> None:
    """Start Redis (if needed), migrate, set up keys, start the API and workers, and wait until all answer."""
    settings = effective_settings()
    settings.state_path.mkdir(mode=0o711, parents=True, exist_ok=True)
    # Others may pass through (QEMU runs as its own user and must reach instance disks below), never list it;
    # everything secret inside is private on its own (database, keys, passwords, logs).
    settings.state_path.chmod(0o711)
    for directory in (settings.log_dir, settings.run_dir):
        directory.mkdir(mode=0o700, exist_ok=True)
    master = ensure_queue_keys(settings)
    if host_machine.enabled(settings):  # Redis and the API bind there too
        host_machine.ensure_control_address(settings)
    if settings.broker_sentinels:  # the primary, its replicas and their Sentinels instead of the one Redis
        from manage import redis_ha  # imported when used (see broker_services)

        redis_ha.ensure(settings, timeout)
    else:
        ensure_broker(settings, timeout)
    # The users of this machine's hosts, also in a Redis already running (others' are dropped further down).
    broker_acl.apply(settings, master, broker_acl.known_hosts(settings))
    start_database_pair(settings)
    run_manage(settings, ("db-sync",), ("fernet-setup",))
    wanted = [*api_shape(settings), console_proxy_service(settings)]
    for worker in [*worker_services(settings), *metadata_proxy_services(settings)]:
        if worker.available:
            wanted.append(worker)
        else:
            click.echo(f"warning: skipping {worker.name}: module {worker.module} does not exist", err=True)
    leftovers = leftover_services(settings, wanted)
    if leftovers:  # the machine ran more hosts before: their agents go
        stop_services(settings, leftovers, STOP_TIMEOUT)
    hosts = roster.current_hosts(settings)
    retired = roster.previous_hosts(settings, [s.marker for s in leftovers]) - hosts
    if retired:  # and the hosts themselves, or they would take builds they never run
        run_manage(settings, ("retire-hosts", *sorted(retired)))
    roster.remember(settings, hosts)
    broker_acl.apply(settings, master)  # once their agents have stopped: users of hosts no longer run go
    if host_machine.enabled(settings):  # the hosts' own libvirtds, before the agents that connect to them
        host_machine.start_all(settings)
    stop_rebound(settings, wanted)
    pids = start_services(settings, wanted)
    wait_until_ready(settings, wanted, pids, timeout)
    click.echo(f"Stratus is up: {settings.effective_public_url}/identity/v3 (state in {settings.state_path})")


def _database_pair_dir(settings: Settings) -> Path | None:
    """Where the PostgreSQL pair of ``make up HA=1`` lives (``manage.postgres_ha``), when this cloud has one."""
    from manage import postgres_ha  # only clouds with a pair need its imports

    base = (settings.state_path / postgres_ha.PAIR_DIR).resolve()
    return base if postgres_ha.load_pair(base) is not None else None


def start_database_pair(settings: Settings) -> None:
    """The pair's members not running are started (the primary first), as the one Redis is: after a reboot."""
    from manage import postgres_ha

    if (base := _database_pair_dir(settings)) is not None:
        postgres_ha.ensure_pair(base)


def stop_database_pair(settings: Settings) -> None:
    from manage import postgres_ha

    if (base := _database_pair_dir(settings)) is not None:
        postgres_ha.stop_pair(base)


def ensure_queue_keys(settings: Settings) -> bytes:
    """The master key that signs task messages, and each host of this machine its own key file (``common.signing``)
    and broker password (``manage.broker_acl``); returns the master key."""
    keys_dir = settings.effective_queue_keys_dir
    master = signing.ensure_master_key(keys_dir / "master.key")
    for host in machine_hosts(settings):
        names = agent_names(settings.replace(host=host))
        signing.write_host_keys(keys_dir / "hosts" / f"{host}.keys", master, names)
        broker.write_private(broker_acl.password_file(settings, host), broker_acl.host_password(master, host).encode())
    return master


@services.command("host-keys")
@click.argument("host")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="File to write (mode 600).")
def host_keys(host: str, out: Path) -> None:
    """Write the message key file of HOST, for a host on another machine, and beside it HOST.broker-password, the
    password of its own Redis user host-HOST (made now in a running Redis, and at every start from now on).
    Copy both to <state_dir>/queue-keys/hosts/ there, with <state_dir>/broker-tls/ca.pem as broker_ca_file, and
    set broker_user = "host-HOST"."""
    settings = effective_settings()
    if host == signing.CONTROL:
        raise click.ClickException(f"{signing.CONTROL!r} names the control side; a host cannot be called that")
    try:
        broker_acl.check_host_name(host)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    master = signing.ensure_master_key(settings.effective_queue_keys_dir / "master.key")
    signing.write_host_keys(out, master, agent_names(settings.replace(host=host)))
    password = out.with_name(f"{host}.broker-password")
    broker.write_private(password, broker_acl.host_password(master, host).encode())
    broker_acl.register(settings, host)
    if settings.broker_sentinels or running_pid(redis_service(settings), settings):  # ours: the user works at once
        broker_acl.apply(settings, master, [host])
    click.echo(f"wrote the message keys of {host} to {out} and its broker password to {password}")


@services.command("fence-machine")
@click.option(
    "--hosts-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory of the host machines (default: <state_dir>/hosts).",
)
@click.argument("name")
@click.argument("address")
def fence_machine(hosts_dir: Path | None, name: str, address: str) -> None:
    """Power off host machine NAME (its agents, libvirtd and guests: every process in its cgroups) and exit 0 once
    none is left: the fencing of a simulated host, which the scheduler runs as its fence_command with the host's
    name and underlay ADDRESS (which must be the host's). `services up` starts it again."""
    try:
        host_machine.fence(hosts_dir or load().state_path / "hosts", name, address)
    except (host_machine.HostMachineError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"host machine {name} is powered off")


@services.command("down")
@click.option("--timeout", default=STOP_TIMEOUT, show_default=True, help="Seconds before SIGKILL.")
@click.option(
    "--machines",
    is_flag=True,
    help="Also power off this machine's host machines (host_machines): their libvirtds and guests stop, and their "
    "namespaces are removed. Without it they keep running, as the machine's own libvirtd does.",
)
def down(timeout: float, machines: bool) -> None:
    """Stop every process this state directory started: API and workers first, Redis last (it flushes its AOF)."""
    settings = effective_settings()
    services = managed_services(settings)
    stop_services(settings, [*services, *leftover_services(settings, services)], timeout)
    stop_services(settings, broker_services(settings), timeout)
    stop_database_pair(settings)
    if machines:
        host_machine.stop_all(settings, remove=True)
    click.echo("Stratus is down")


def stop_services(settings: Settings, services: list[Service], timeout: float) -> None:
    pids: dict[str, int] = {}
    for service in services:
        pid = running_pid(service, settings)
        if pid:
            pids[service.name] = pid
        service.pid_file(settings).unlink(missing_ok=True)
    for name in stop_all(pids, timeout):
        click.echo(f"warning: {name} ignored SIGTERM for {timeout:.0f}s; killed", err=True)
    for name, pid in pids.items():
        click.echo(f"stopped {name} (pid {pid})")


@services.command("restart")
@click.argument("names", nargs=-1, required=True)
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for every service to answer.")
@click.pass_context
def restart(ctx: click.Context, names: tuple[str, ...], timeout: float) -> None:
    """Stop the services NAMES (as ``services status`` names them; Redis is not among them) and start them again,
    the others left running: what a change of the API's settings or code needs, without a whole bring-up."""
    settings = effective_settings()
    known = {service.name: service for service in managed_services(settings)}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise click.BadParameter(f"unknown {', '.join(unknown)}; known: {', '.join(sorted(known))}", param_hint="NAMES")
    stop_services(settings, [known[name] for name in dict.fromkeys(names)], STOP_TIMEOUT)
    ctx.invoke(up, timeout=timeout)  # starts what is not running: the services just stopped


@services.command("status")
def status() -> None:
    """One line per service; exits 1 when any service that should run is stopped."""
    settings = effective_settings()
    rows = [status_row(redis_service(settings), settings, broker=True)]
    if settings.broker_sentinels:  # the data nodes and Sentinels instead of the one Redis
        rows = [status_row(service, settings) for service in broker_services(settings)[1:]]
    services = managed_services(settings)
    rows += [status_row(s, settings) for s in services]
    click.echo(f"{'NAME':<20}{'PID':<9}{'STATE':<10}LOG")
    for name, pid, state, log in rows:
        click.echo(f"{name:<20}{pid:<9}{state:<10}{log}")
    if any(state == "stopped" for _, _, state, _ in rows):
        sys.exit(1)


def status_row(service: Service, settings: Settings, broker: bool = False) -> tuple[str, str, str, str]:
    """(name, pid, state, log); state is running, stopped, external (a broker we did not start) or absent."""
    pid = running_pid(service, settings)
    log = str(service.log_file(settings))
    if pid:
        return service.name, str(pid), "running", log
    if broker and port_answers(*broker_address(settings)):
        return service.name, "-", "external", "-"
    if not service.available:
        return service.name, "-", "absent", "-"
    return service.name, "-", "stopped", log
