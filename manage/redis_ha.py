"""The broker's Redis with Sentinel on one machine: a primary, its replicas and three Sentinels (issue #17).

The highly available shape of the broker, from Redis's own parts (Debian's ``redis-server`` and
``redis-sentinel``): data nodes that replicate from the primary (``replicaof``, ``masterauth``), and Sentinels
that watch it and, when a quorum of them has not heard from it for ``broker_down_after`` seconds, elect one of
them to promote a replica and point the others at it. Clients never name a node: kombu, Celery and redis-py ask
the Sentinels which node is the primary (``common.queue``; ``sentinel://`` URLs), and ask again after a
connection error, so the services follow a failover without a restart.

Every node, primary or replica, has the same password and the same ACL users (``manage.broker_acl``): a replica
becomes the primary, and Redis does not replicate users. The Sentinels have them too, with rights to ask where the
primary is and nothing more, so a host agent asks them as its own user; the control side signs in to them with the
broker's password, as the Sentinels do to each other and to the data nodes.

Replication is asynchronous: a write the primary acknowledged in the last instant before it died, not yet sent to
a replica, is lost with it (a task message, a result, a console token). Nothing here hides that; the control
side's sweeper sends a build waiting for placement again and ends any other task left in flight
(``compute.states.STUCK_RULES``), and the functional test kills the primary in a burst of builds to prove it.
Why not ``min-replicas-to-write``: it bounds what a primary cut off from its replicas goes on accepting (a
partitioned old primary's writes, lost when it rejoins as a replica), but its refusal, ``NOREPLICAS``, is a reply
error, not a connection error, and Celery takes it for an unrecoverable one: the scheduler exited at its first
refused acknowledgement when the test cut the replicas off. On one machine a primary is not partitioned from
its replicas, so it is off; across machines the Sentinels' quorum still keeps a minority side from promoting.
``WAIT`` would make a write durable on a replica before it is acknowledged; neither kombu nor Celery sends it.

Config files are rendered from checked values (IP literals, port numbers, a master name of ``[A-Za-z0-9._-]``,
passwords of our own making) and kept mode 600 under ``<state_dir>/redis-ha/<node>/``. Sentinel rewrites its own
file as it learns (the other Sentinels, the replicas, the current primary after a failover): it is written once
and left to Sentinel after; the data nodes' files are rendered at every start, with the primary the Sentinels
name (or, all of them down, the one their files last recorded), so a node restarted after a failover comes back
as a replica, never as a second primary. TLS between the nodes is not done yet: every node binds loopback only.
"""

from __future__ import annotations

import ipaddress
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click
import redis

from common import signing
from common.settings import MASTER_NAME, Settings, sentinel_addresses
from manage import broker, broker_acl, host_machine
from manage.services import Service, failure_message, port_answers, process_exists, running_pid, spawn

DEFAULT_SENTINELS = "127.0.0.1:26379 127.0.0.1:26380 127.0.0.1:26381"
"""``broker_sentinels`` of ``make up HA=1`` (:func:`environment`): Redis Sentinel's own port and the next two."""
BASE_DIR = "redis-ha"
"""The nodes' directories live under ``<state_dir>/redis-ha``."""
FAILOVER_TIMEOUT_FACTOR = 4
"""Sentinel's ``failover-timeout`` as a multiple of ``down-after-milliseconds`` (at least 10 s): a failover that
did not finish by then is tried again by another Sentinel after twice that time."""


@dataclass(frozen=True)
class Node:
    """One process of the shape: a data node (``redis-node-<n>``) or a Sentinel (``redis-sentinel-<n>``)."""

    name: str
    address: str
    port: int

    @property
    def marker(self) -> str:
        """Redis puts its listening address in its process title, so the pid file's check finds it there."""
        return f"{self.address}:{self.port}"


@dataclass(frozen=True)
class Layout:
    """Every value the config files are made of, each checked by :func:`layout`."""

    data: tuple[Node, ...]
    """The data nodes, the first primary first."""
    sentinels: tuple[Node, ...]
    master_name: str
    quorum: int
    down_after_ms: int
    failover_timeout_ms: int


def environment() -> dict[str, str]:
    """The settings that turn ``make up`` into the Sentinel shape on this machine, as environment variables: the
    primary on ``broker_url``'s port, replicas on ``broker_replica_ports`` (6381, 6382), three Sentinels."""
    return {"STRATUS_BROKER_SENTINELS": DEFAULT_SENTINELS}


def _loopback(address: str, setting: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise click.ClickException(f"{setting}: {address!r} is not an IP address") from None
    if not ip.is_loopback:
        raise click.ClickException(f"{setting}: {address} is not a loopback address (this starts them on one machine)")
    return str(ip)


def layout(settings: Settings) -> Layout:
    """The shape ``broker_sentinels``, ``broker_url`` and ``broker_replica_ports`` describe, checked: loopback
    addresses, ports that are numbers and all different, a majority of Sentinels as the quorum."""
    first = Node("redis-node-1", *_primary_address(settings))
    replicas = []
    for index, raw in enumerate(settings.broker_replica_ports.split(), start=2):
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise click.ClickException(f"broker_replica_ports: {raw!r} is not a port")
        replicas.append(Node(f"redis-node-{index}", first.address, int(raw)))
    sentinels = tuple(
        Node(f"redis-sentinel-{index}", _loopback(address, "broker_sentinels"), port)
        for index, (address, port) in enumerate(sentinel_addresses(settings.broker_sentinels), start=1)
    )
    nodes = (first, *replicas, *sentinels)
    if len({(node.address, node.port) for node in nodes}) != len(nodes):
        raise click.ClickException("broker_url, broker_replica_ports and broker_sentinels must name distinct ports")
    if not replicas or len(sentinels) < 3:
        raise click.ClickException("the Sentinel shape needs at least one replica and three Sentinels")
    if not MASTER_NAME.fullmatch(settings.broker_master_name):
        raise click.ClickException(f"broker_master_name: {settings.broker_master_name!r} is not a name")
    down_after_ms = int(settings.broker_down_after * 1000)
    if down_after_ms < 100:
        raise click.ClickException("broker_down_after must be at least 0.1 s")
    return Layout(
        data=(first, *replicas),
        sentinels=sentinels,
        master_name=settings.broker_master_name,
        quorum=len(sentinels) // 2 + 1,
        down_after_ms=down_after_ms,
        failover_timeout_ms=max(10_000, FAILOVER_TIMEOUT_FACTOR * down_after_ms),
    )


def _primary_address_unchecked(settings: Settings) -> str:
    host = urlsplit(settings.broker_url).hostname or "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return "0.0.0.0"  # a name, not an address: not loopback, so not ours to start


def _primary_address(settings: Settings) -> tuple[str, int]:
    parts = urlsplit(settings.broker_url)
    return _loopback(parts.hostname or "127.0.0.1", "broker_url"), parts.port or 6379


def node_dir(settings: Settings, node: Node) -> Path:
    return settings.state_path / BASE_DIR / node.name


def _config_path(settings: Settings, node: Node) -> Path:
    return node_dir(settings, node) / ("sentinel.conf" if node in layout(settings).sentinels else "redis.conf")


def on_this_machine(settings: Settings) -> bool:
    """Whether the shape is this machine's to run: the primary and every Sentinel on loopback. Otherwise they run
    on machines of their own (the README's "Highly available control plane") and the launcher only uses them."""
    addresses = [
        _primary_address_unchecked(settings),
        *(host for host, _ in sentinel_addresses(settings.broker_sentinels)),
    ]
    return all(ipaddress.ip_address(address).is_loopback for address in addresses)


def services(settings: Settings) -> list[Service]:
    """The data nodes and the Sentinels as the launcher's services (pid files, logs, ``down``); none when they
    run on other machines."""
    if not on_this_machine(settings):
        return []
    shape = layout(settings)
    found = []
    for node in (*shape.data, *shape.sentinels):
        sentinel = node in shape.sentinels
        binary = shutil.which("redis-sentinel" if sentinel else "redis-server")
        binary = binary or ("/usr/bin/redis-sentinel" if sentinel else "/usr/bin/redis-server")
        argv = (binary, str(_config_path(settings, node)))
        found.append(Service(node.name, argv, marker=node.marker))
    return found


# ---------------------------------------------------------------------------------------------------------------
# Config files


def _quoted(value: str) -> str:
    """A value of ours as one config token; anything but the characters our passwords and paths use is refused,
    never escaped (no user string reaches these files)."""
    if not value or any(not (c.isalnum() or c in "-_./") for c in value):
        raise click.ClickException(f"refusing to write {value!r} into a Redis config file")
    return f'"{value}"'


def _process_lines(settings: Settings, node: Node) -> list[str]:
    """What every node of the shape, data or Sentinel, starts with: where it listens and keeps its files, in the
    foreground, logging to its output (the launcher's log file)."""
    return [
        f"bind {node.address}",
        f"port {node.port}",
        f"dir {_quoted(str(node_dir(settings, node)))}",
        "daemonize no",
        'logfile ""',
    ]


def data_config(settings: Settings, node: Node, primary: Node, password: str, master: bytes) -> str:
    """A data node's redis.conf: the broker's password (also to its primary), every host's user, and
    ``replicaof`` unless it is the primary."""
    lines = [
        *_process_lines(settings, node),
        "appendonly yes",
        'save ""',
        f"requirepass {_quoted(password)}",
        f"masterauth {_quoted(password)}",
        "min-replicas-to-write 0",  # see the module: kombu takes NOREPLICAS for a fatal error
        "repl-diskless-sync-delay 0",  # a replica (re)joining syncs at once, not 5 s later in case others come
        *broker_acl.config_lines(settings, master),
    ]
    if node != primary:
        lines.append(f"replicaof {primary.address} {primary.port}")
    return "\n".join(lines) + "\n"


def sentinel_config(settings: Settings, node: Node, primary: Node, password: str, master: bytes) -> str:
    """A Sentinel's first sentinel.conf (Sentinel rewrites it from then on): what to watch, how to sign in to
    the data nodes and to the other Sentinels, its own password, and the hosts' users that may only ask."""
    shape = layout(settings)
    name = shape.master_name
    lines = [
        *_process_lines(settings, node),
        "sentinel resolve-hostnames no",
        "sentinel deny-scripts-reconfig yes",
        f"sentinel monitor {name} {primary.address} {primary.port} {shape.quorum}",
        f"sentinel auth-pass {name} {_quoted(password)}",
        f"sentinel down-after-milliseconds {name} {shape.down_after_ms}",
        f"sentinel failover-timeout {name} {shape.failover_timeout_ms}",
        f"sentinel parallel-syncs {name} 1",
        f"requirepass {_quoted(password)}",
        f"sentinel sentinel-pass {_quoted(password)}",
        *broker_acl.sentinel_config_lines(settings, master),
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Who is the primary


def _ask_sentinels(shape: Layout, password: str) -> tuple[str, int] | None:
    for node in shape.sentinels:
        if not port_answers(node.address, node.port):  # redis-py would try again for seconds
            continue
        try:
            with redis.Redis(node.address, node.port, password=password, socket_timeout=1) as client:
                found = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", shape.master_name)
        except redis.RedisError:
            continue
        if found:
            return found[0].decode(), int(found[1])
    return None


def _recorded(settings: Settings, shape: Layout) -> tuple[str, int] | None:
    """The primary a Sentinel's own file last recorded (``sentinel monitor <name> <address> <port> <quorum>``)."""
    for node in shape.sentinels:
        path = _config_path(settings, node)
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:3] == ["sentinel", "monitor", shape.master_name] and len(words) == 6 and words[4].isdigit():
                return words[3], int(words[4])
    return None


def current_primary(settings: Settings) -> Node:
    """The data node that is the primary now: as the Sentinels say, else as their files recorded, else the
    first (a new shape)."""
    shape = layout(settings)
    address = _ask_sentinels(shape, broker.ensure_password(settings)) or _recorded(settings, shape)
    for node in shape.data:
        if address == (node.address, node.port):
            return node
    if address is not None:
        raise click.ClickException(f"the Sentinels name {address[0]}:{address[1]} the primary, not one of ours")
    return shape.data[0]


# ---------------------------------------------------------------------------------------------------------------
# Bring-up


def ensure(settings: Settings, timeout: float) -> list[Service]:
    """Start every data node and Sentinel of the shape that is not running, and return once the Sentinels agree
    on the primary, see every replica and each other (a failover needs that). Returns the services (so ``down``
    stops them). What ``services up`` calls instead of starting the one Redis when ``broker_sentinels`` is set;
    with Sentinels on other machines it starts nothing (they are the operator's, as an external Redis is)."""
    if not on_this_machine(settings):
        click.echo(f"broker Sentinels {settings.broker_sentinels} are on other machines; using them")
        return []
    if host_machine.enabled(settings):
        raise click.ClickException(
            "host machines reach the broker over TLS on the control address, and the Sentinel shape has no TLS "
            "listener yet: run it without host_machines (or broker_sentinels)"
        )
    shape = layout(settings)
    (settings.state_path / BASE_DIR).mkdir(mode=0o700, exist_ok=True)
    password = broker.ensure_password(settings)
    master = signing.ensure_master_key(settings.effective_queue_keys_dir / "master.key")
    primary = current_primary(settings)
    by_name = {service.name: service for service in services(settings)}
    for node in (*shape.data, *shape.sentinels):  # the data nodes first: a Sentinel checks its primary at once
        service = by_name[node.name]
        if running_pid(service, settings):
            continue
        if port_answers(node.address, node.port):  # the one Redis of `make up`, or anyone's: never replicate it
            raise click.ClickException(
                f"{node.address}:{node.port}, where {node.name} should listen, is taken by another process "
                "(the one Redis of this state directory? `services down` first)"
            )
        node_dir(settings, node).mkdir(mode=0o700, exist_ok=True)
        path = _config_path(settings, node)
        if node in shape.data:
            broker.write_private(path, data_config(settings, node, primary, password, master).encode())
        elif not path.exists():
            broker.write_private(path, sentinel_config(settings, node, primary, password, master).encode())
        pid = spawn(service, settings)
        click.echo(f"started {node.name} (pid {pid}) on {node.address}:{node.port}")
        _wait_listening(settings, service, node, pid, timeout)
    wait_until_watched(settings, timeout)
    return list(by_name.values())


def _wait_listening(settings: Settings, service: Service, node: Node, pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not port_answers(node.address, node.port):
        if not process_exists(pid) or time.monotonic() > deadline:
            raise click.ClickException(failure_message(service, settings, "did not start listening"))
        time.sleep(0.05)


def wait_until_watched(settings: Settings, timeout: float) -> Node:
    """Wait until every Sentinel names the same primary, knows the other Sentinels and sees every replica
    connected; returns the primary. Before that a failover could not happen (no quorum, no replica to promote)."""
    shape = layout(settings)
    password = broker.ensure_password(settings)
    deadline = time.monotonic() + timeout
    last = "no Sentinel asked yet"
    while True:
        try:
            primary = _watched(shape, password)
            if primary is not None:
                return primary
            last = "the Sentinels do not agree yet"
        except redis.RedisError as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise click.ClickException(f"the Sentinels did not settle within {timeout:.0f}s: {last}")
        time.sleep(0.2)


def _watched(shape: Layout, password: str) -> Node | None:
    primaries = set()
    for node in shape.sentinels:
        with redis.Redis(node.address, node.port, password=password, socket_timeout=1, decode_responses=True) as client:
            state = client.execute_command("SENTINEL", "MASTER", shape.master_name)
            state = dict(zip(state[::2], state[1::2], strict=True)) if isinstance(state, list) else state
            if int(state["num-other-sentinels"]) < len(shape.sentinels) - 1 or "down" in state["flags"]:
                return None
            replicas = client.execute_command("SENTINEL", "REPLICAS", shape.master_name)
            replicas = [dict(zip(r[::2], r[1::2], strict=True)) if isinstance(r, list) else r for r in replicas]
            linked = [r for r in replicas if r.get("master-link-status") == "ok" and "down" not in r["flags"]]
            if len(linked) < len(shape.data) - 1:
                return None
            primaries.add((state["ip"], int(state["port"])))
    if len(primaries) != 1:
        return None
    (address,) = primaries
    return next((node for node in shape.data if (node.address, node.port) == address), None)
