"""Several API processes behind one address: HAProxy (Debian's ``haproxy``) run as a process of the cloud.

The highly available shape of the API (``make up HA=1``, issue #17). HAProxy alone listens on the cloud's API
address (``api_host:api_port``, and the control node's underlay address with host machines); behind it run
``copies`` API processes, each the same gunicorn ``manage.services.api_service`` starts, on a loopback address of
its own (127.0.0.2, 127.0.0.3, ...: nodes simulated on one machine) and ``api_backend_port``. On real machines the
backends are the nodes' own addresses (README, "Highly available control plane").

What HAProxy does, and why:

- **Health checks** on ``GET /identity/v3`` (the version document: unauthenticated, no database), every 2 s; a
  refused connection in live traffic marks the server down at once (``observe layer4``), so a killed process stops
  receiving requests before its checks fail.
- **Retries for connection failures** (``retry-on conn-failure``) with ``option redispatch 1``: a request that
  could not be sent to one process goes to another. A request already sent goes again only when it is a GET or
  HEAD whose process closed the connection without a byte of answer (it died: ``empty-response``); any other
  method is never sent twice (``disable-l7-retry``): a POST that a dying process may have committed is answered
  502, never run twice.
- **Timeouts are inactivity timeouts**: an image upload of any size runs as long as bytes flow (the API reads the
  body straight from its socket, ``api.request_body``); 5 minutes of silence either way ends it. Idle client
  connections close after 60 s, before gunicorn's 75 s on the other side.
- **X-Forwarded-For**: HAProxy appends the client's address; the API processes trust it from HAProxy's source
  address alone (``api_trusted_proxies``, ``api.proxies``), so sign-in limits per address still count clients.
- **A stats socket** (``<state_dir>/run/haproxy.sock``, mode 600): ``show stat`` for the per-process counters,
  ``disable server api/api-2`` to drain a node before maintenance.

Every value in the configuration is typed (addresses are ``ipaddress`` objects, ports ints, names checked) and
paths are refused unless plain: nothing a user or an operator wrote reaches the file as HAProxy syntax.

Only the API is behind HAProxy. The console proxy (websockets) and the metadata service need nothing of it: the
metadata proxies call ``<public_url>/metadata`` through HAProxy like any client (their signed X-Forwarded-For
reaches the API as they sent it), and the console proxy is a process of its own.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from common.exceptions import ConfigError
from common.settings import Settings
from manage import host_machine
from manage import services as launcher  # attributes read at call time: manage.services may import this module

if TYPE_CHECKING:
    from manage.services import Service

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

FIRST_LOCAL_BACKEND = ipaddress.IPv4Address("127.0.0.2")
LOCAL_PROXY_SOURCE = ipaddress.IPv4Address("127.0.1.1")
"""The address HAProxy connects to the local API processes from (the load balancer's "node"): the only one they
trust X-Forwarded-For from, so a client on 127.0.0.1 that talks to a process directly is not believed."""
MAX_COPIES = 200
HEALTH_PATH = "/identity/v3"
HAPROXY_NAME = "haproxy"
_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._/+@-]*")


@dataclass(frozen=True)
class Backend:
    """One API process behind HAProxy: its server name in the configuration, and where it listens."""

    name: str
    address: Address
    port: int

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ConfigError(setting="api backend", reason=f"{self.name!r} is not a plain lower-case name")
        if not isinstance(self.address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            raise ConfigError(setting="api backend", reason=f"{self.address!r} is not an IP address")
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ConfigError(setting="api backend", reason=f"port {self.port!r} is not a TCP port")

    @property
    def endpoint(self) -> str:
        """``address:port`` in HAProxy's syntax (an IPv6 address forced by prefix; its port is after the last
        colon)."""
        return _endpoint(self.address, self.port)

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"http://{host}:{self.port}"


def _endpoint(address: Address, port: int) -> str:
    return f"ipv6@{address}:{port}" if address.version == 6 else f"{address}:{port}"


def _address(value: str, setting: str) -> Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(setting=setting, reason=f"{value!r} is not an IP address (HAProxy binds addresses)") from None


def _plain_path(path: Path) -> str:
    text = str(path)
    if not _PLAIN_PATH.fullmatch(text):
        raise ConfigError(setting="state_dir", reason=f"{text!r}: HAProxy's files need a plain absolute path")
    return text


def local_backends(settings: Settings, copies: int) -> list[Backend]:
    """``copies`` API processes on this machine: ``api-1`` on 127.0.0.2, ``api-2`` on 127.0.0.3, ..., each on
    ``api_backend_port`` (Linux answers all of 127.0.0.0/8 on the loopback device)."""
    if not 1 <= copies <= MAX_COPIES:
        raise ConfigError(setting="api copies", reason=f"{copies} is not between 1 and {MAX_COPIES}")
    return [Backend(f"api-{n + 1}", FIRST_LOCAL_BACKEND + n, settings.api_backend_port) for n in range(copies)]


def frontend_addresses(settings: Settings) -> list[Address]:
    """Where HAProxy listens: the API's address, and with host machines the control node's underlay address too
    (as the one API process would, ``manage.services.api_service``)."""
    addresses = [_address(settings.api_host, "api_host")]
    if host_machine.enabled(settings) and not addresses[0].is_unspecified:
        control = _address(host_machine.control_address(settings), "network_simulated_underlay")
        addresses += [control] if control not in addresses else []
    return addresses


# ---------------------------------------------------------------------------------------------------------------
# The configuration


def config_dir(settings: Settings) -> Path:
    return settings.state_path / "haproxy"


def config_path(settings: Settings) -> Path:
    return config_dir(settings) / "haproxy.cfg"


def stats_socket(settings: Settings) -> Path:
    return settings.run_dir / "haproxy.sock"


def render_config(
    frontends: list[Address], port: int, backends: list[Backend], source: Address | None, stats: Path
) -> str:
    """HAProxy's configuration: one HTTP frontend on ``frontends``:``port``, one backend of ``backends``, connected
    to from ``source`` when given (the address the API processes trust X-Forwarded-For from)."""
    if not backends:
        raise ConfigError(setting="api copies", reason="HAProxy needs at least one API process behind it")
    if len({b.name for b in backends}) != len(backends):
        raise ConfigError(setting="api backend", reason="two API processes have the same name")
    if not 0 < port < 65536:
        raise ConfigError(setting="api_port", reason=f"{port} is not a TCP port")
    binds = "".join(f"    bind {_endpoint(address, port)}\n" for address in frontends)
    servers = "".join(f"    server {b.name} {b.endpoint}\n" for b in backends)
    source_line = f"    source {source}\n" if source is not None else ""
    return f"""\
# Written by stratus-manage (manage/api_proxy.py) at every start of HAProxy: edits here are lost.
global
    log stdout format raw daemon
    maxconn 4096
    stats socket {_plain_path(stats)} mode 600 level admin
    hard-stop-after 30s

defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    # A request that could not be sent goes to another process. One that was sent goes again only when it is a
    # GET or HEAD the process closed on without a byte of answer (it died): a POST, PUT or DELETE is never repeated.
    retries 3
    retry-on conn-failure empty-response
    option redispatch 1
    timeout connect 3s
    # Inactivity, not duration: an upload of any size runs while bytes flow.
    timeout client 5m
    timeout server 5m
    timeout http-request 30s
    timeout http-keep-alive 60s
    timeout queue 30s
    timeout check 2s

frontend api
{binds}    option forwardfor
    default_backend api

backend api
    balance leastconn
    http-request disable-l7-retry if !METH_GET
    option httpchk
    http-check send meth GET uri {HEALTH_PATH} ver HTTP/1.1 hdr Host stratus-api
    http-check expect status 200
{source_line}    default-server check inter 2s fastinter 500ms downinter 1s fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down
{servers}"""  # noqa: E501


def write_config(settings: Settings, backends: list[Backend], source: Address | None = LOCAL_PROXY_SOURCE) -> Path:
    """Render the configuration for ``backends`` into ``<state_dir>/haproxy/haproxy.cfg`` (mode 600: it names the
    admin socket) and return its path."""
    text = render_config(frontend_addresses(settings), settings.api_port, backends, source, stats_socket(settings))
    directory = config_dir(settings)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = config_path(settings)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.chmod(0o600)
    temporary.replace(path)
    return path


def haproxy_binary() -> str:
    return shutil.which("haproxy") or "/usr/sbin/haproxy"


# ---------------------------------------------------------------------------------------------------------------
# Services (manage.services' model)


def api_services(settings: Settings, copies: int, source: Address | None = LOCAL_PROXY_SOURCE) -> list[Service]:
    """The ``copies`` API processes behind HAProxy, as services ``api-1`` ... ``api-N``: the one API's gunicorn
    (``manage.services.api_service``) bound to its own address only, trusting X-Forwarded-For from ``source``.
    They keep the cloud's ``api_host``/``api_port`` settings, so the catalog and links name HAProxy's address."""
    return [_api_copy(settings, backend, source) for backend in local_backends(settings, copies)]


def _api_copy(settings: Settings, backend: Backend, source: Address | None) -> Service:
    one = launcher.api_service(settings).argv
    argv: list[str] = []
    skip = False
    for word in one:  # every --bind of the one API goes: this process listens on its own address only
        if skip:
            skip = False
        elif word == "--bind":
            skip = True
        else:
            argv.append(word)
    marker = (
        f"{backend.address}:{backend.port}" if backend.address.version == 4 else f"[{backend.address}]:{backend.port}"
    )
    argv[-1:-1] = ["--bind", marker]
    trusted = [*settings.api_trusted_proxies.split(), *([str(source)] if source is not None else [])]
    env = (("STRATUS_API_TRUSTED_PROXIES", " ".join(dict.fromkeys(trusted))),)
    return launcher.Service(backend.name, tuple(argv), marker=marker, env=env, ready_url=f"{backend.url}{HEALTH_PATH}")


def haproxy_service(
    settings: Settings, backends: list[Backend], source: Address | None = LOCAL_PROXY_SOURCE
) -> Service:
    """HAProxy in front of ``backends``, as the service ``haproxy``: its configuration is written right before it
    starts (``Service.prepare``), and it is ready once the API answers through it."""
    path = config_path(settings)
    argv = (haproxy_binary(), "-db", "-f", _plain_path(path))

    def prepare(current: Settings) -> None:
        write_config(current, backends, source)

    front = frontend_addresses(settings)[0]
    host = "127.0.0.1" if front.is_unspecified else (f"[{front}]" if front.version == 6 else str(front))
    return launcher.Service(
        HAPROXY_NAME,
        argv,
        marker=str(path),
        prepare=prepare,
        ready_url=f"http://{host}:{settings.api_port}{HEALTH_PATH}",
    )


def api_shape(settings: Settings, copies: int) -> list[Service]:
    """What runs as the API: with one copy the one process of ``make up`` (``manage.services.api_service``), with
    more ``copies`` processes behind HAProxy on the same address (:func:`ha_api_services`)."""
    return [launcher.api_service(settings)] if copies <= 1 else ha_api_services(settings, copies)


def ha_api_services(settings: Settings, copies: int) -> list[Service]:
    """Everything the API is in the highly available shape: ``copies`` API processes and HAProxy in front of them
    (what ``make up HA=1`` starts in place of ``manage.services.api_service``)."""
    backends = local_backends(settings, copies)
    return [*api_services(settings, copies), haproxy_service(settings, backends)]


# ---------------------------------------------------------------------------------------------------------------
# The stats socket


def show_stat(settings: Settings, timeout: float = 5.0) -> list[dict[str, str]]:
    """HAProxy's ``show stat`` as rows (``pxname``, ``svname``, ``status``, ``stot``, ``hrsp_5xx``...)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(stats_socket(settings)))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    lines = data.decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    return [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]


def server_stats(settings: Settings) -> dict[str, dict[str, str]]:
    """The rows of the API processes (``backend api``), by server name."""
    return {row["svname"]: row for row in show_stat(settings) if row["pxname"] == "api" and row["svname"] not in
            ("FRONTEND", "BACKEND")}  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# ``python -m manage.api_proxy up --copies N``: the API of a running cloud put behind HAProxy


@click.group()
def main() -> None:
    """The API of this state directory's cloud as several processes behind HAProxy."""


@main.command("up")
@click.option("--copies", default=3, show_default=True, help="API processes behind HAProxy.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for them to answer.")
def up(copies: int, timeout: float) -> None:
    """Stop the one API process (``services up`` started it) and start COPIES of it behind HAProxy on its address.
    ``services down`` stops them (their pid files are in the run directory); ``services up`` goes back to one."""
    settings = launcher.effective_settings()
    try:
        wanted = ha_api_services(settings, copies)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    one = launcher.api_service(settings)
    if launcher.running_pid(one, settings):
        launcher.stop_services(settings, [one], launcher.STOP_TIMEOUT)
    proxy = wanted[-1]
    if not launcher.running_pid(proxy, settings):  # HAProxy takes the API's port: nothing else may hold it
        deadline = time.monotonic() + 10
        while launcher.port_answers(launcher.api_connect_host(settings), settings.api_port):
            if time.monotonic() > deadline:
                raise click.ClickException(f"port {settings.api_port} is in use by a process this cloud did not start")
            time.sleep(0.1)
    pids = launcher.start_services(settings, wanted)
    launcher.wait_until_ready(settings, wanted, pids, timeout)
    click.echo(f"the API is {copies} processes behind HAProxy on {settings.effective_public_url}")


def parse_endpoint(text: str) -> tuple[Address, int]:
    """``address:port`` (``[v6]:port`` for IPv6) as typed values; ValueError names what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{text!r} is not address:port")
    address = ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
    if not 0 < int(port) < 65536:
        raise ValueError(f"{port} is not a TCP port")
    return address, int(port)


def _endpoint_option(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[tuple[Address, int]]:
    try:
        return [parse_endpoint(value) for value in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command("config")
@click.option(
    "--listen",
    "listens",
    multiple=True,
    required=True,
    callback=_endpoint_option,
    help="address:port HAProxy listens on (the API's public address); repeat for more.",
)
@click.option(
    "--backend",
    "backends",
    multiple=True,
    required=True,
    callback=_endpoint_option,
    help="address:port of an API node; repeat for each (api-1, api-2, ... in this order).",
)
@click.option("--source", default=None, help="Address HAProxy connects to the API nodes from (its own).")
@click.option("--stats-socket", type=click.Path(path_type=Path), default=Path("/run/haproxy/admin.sock"),
              show_default=True, help="HAProxy's admin socket.")  # fmt: skip
def config(
    listens: list[tuple[Address, int]], backends: list[tuple[Address, int]], source: str | None, stats_socket: Path
) -> None:
    """Print HAProxy's configuration for API nodes on other machines (for /etc/haproxy/haproxy.cfg): what the
    cloud renders for its own processes, with these addresses. Every API node lists HAProxy's address (--source)
    in its api_trusted_proxies."""
    if len({port for _, port in listens}) != 1:
        raise click.BadParameter("every --listen must have the same port", param_hint="--listen")
    try:
        nodes = [Backend(f"api-{n + 1}", address, port) for n, (address, port) in enumerate(backends)]
        origin = _address(source, "--source") if source else None
        text = render_config([a for a, _ in listens], listens[0][1], nodes, origin, stats_socket)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(text, nl=False)


if __name__ == "__main__":
    sys.exit(main())
