"""A private Stratus cloud and its servers, for the test suites and the benchmarks.

Everything here is private to its caller: its own loopback ports (picked free), its own directory, its own
passwords, and a ``stop`` function or context manager that ends exactly what it started, so a test run or a
benchmark never touches the cloud ``make up`` runs on port 8000 nor another run's. The cloud itself is the real
launcher (``stratus-manage services up``) with test-sized defaults: the fake virt driver and dataplane, a low
bcrypt cost, short report intervals.

It lives in the product, not in ``tests/``, because the benchmarks need the same clouds the tests use and must not
import the test suite. Nothing of the cloud imports it.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from common.settings import with_password

VENV_BIN = Path(sys.executable).parent
Stop = Callable[[], None]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (another process may still take it: bind soon)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 30.0, status: int = 200) -> None:
    """Poll ``url`` until it answers ``status``; raise TimeoutError naming the last answer or error."""
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == status:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer {status} within {timeout:.0f}s (last: {last})")
        time.sleep(0.1)


def _wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server on port {port} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------------------------
# Redis


def start_redis(tmpdir: Path, extra_config: tuple[str, ...] = ()) -> tuple[str, Stop]:
    """A throw-away Redis (no persistence) on a free loopback port, with a password as the cloud's has (and
    ``extra_config`` lines, such as ACL users); returns its URL (password included) and a stop function."""
    tmpdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = tmpdir / "redis.log"
    password = secrets.token_urlsafe(16)
    config = tmpdir / "redis.conf"
    # In a file: the command line is visible to everyone.
    config.write_text("\n".join([f'requirepass "{password}"', *extra_config]) + "\n")
    config.chmod(0o600)
    redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
    argv = [redis_server, str(config), "--port", str(port), "--bind", "127.0.0.1"]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(tmpdir), "--daemonize", "no"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _wait_for_port(port, 10, process, log_path)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    return f"redis://:{password}@127.0.0.1:{port}/0", stop


# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian layout), or None."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return candidates[-1].parent if candidates else None


def _postgres_base(tmpdir: Path) -> tuple[Path, list[str]]:
    """Where the cluster lives and the prefix that runs commands as its owner.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user and lives in a
    fresh directory under the system temp dir: pytest's own temp dirs are mode 700 and closed to that user.
    """
    if os.geteuid() != 0:
        base = tmpdir / "postgres"
        base.mkdir(parents=True, exist_ok=True)
        return base, []
    owner = pwd.getpwnam("postgres")
    base = Path(tempfile.mkdtemp(prefix="stratus-pg-"))
    os.chown(base, owner.pw_uid, owner.pw_gid)
    return base, ["runuser", "-u", "postgres", "--"]


def start_postgres(tmpdir: Path) -> tuple[str, Stop] | None:
    """A throw-away PostgreSQL with a ``stratus`` database on a free loopback port, trust auth, fsync off.

    Returns its SQLAlchemy URL and a stop function, or None when PostgreSQL is not installed.
    """
    bindir = postgres_bindir()
    if bindir is None:
        return None
    base, as_owner = _postgres_base(tmpdir)
    port = free_port()
    data, log = base / "data", base / "server.log"

    def run(*argv: str | Path) -> None:
        command = [*as_owner, *(str(a) for a in argv)]
        result = subprocess.run(command, cwd=base, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")

    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c full_page_writes=off"
    run(bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
    run(bindir / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start")

    def stop() -> None:
        try:
            run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(base, ignore_errors=True)

    try:
        run(bindir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "stratus")
    except BaseException:
        stop()
        raise
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/stratus", stop


# ---------------------------------------------------------------------------------------------------------------
# A whole cloud


@dataclass
class Cloud:
    """A cloud started by ``stratus-manage services up``; ``manage`` runs more commands against it."""

    state_dir: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['STRATUS_API_PORT']}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/identity/v3"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "log"

    @property
    def broker_url(self) -> str:
        """The cloud's Redis URL with the password `services up` generated (Redis refuses a client without it)."""
        return with_password(self.env["STRATUS_BROKER_URL"], self.state_dir / "broker-password")

    def restart(self) -> None:
        """Every service down and up again, keeping the data: what a host reboot does to the cloud."""
        self.manage("services", "down")
        self.manage("services", "up")

    def restart_api(self) -> None:
        """The API's processes stopped and started again, the rest of the cloud left running."""
        self.manage("services", "restart", "api")

    def bootstrap(self, admin_password: str, demo_password: str) -> None:
        env = self.env | {"STRATUS_ADMIN_PASSWORD": admin_password, "STRATUS_DEMO_PASSWORD": demo_password}
        command = [str(VENV_BIN / "stratus-manage"), "bootstrap"]
        subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)

    def manage(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        command = [str(VENV_BIN / "stratus-manage"), *args]
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"stratus-manage {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result


def cloud_environment(state_dir: Path, env: dict[str, str]) -> dict[str, str]:
    """Our environment without any STRATUS_/OS_ variable of the developer's, plus test-sized defaults and ``env``.

    Unless ``env`` says otherwise: a free API port, a broker on a free port (so the launcher starts a private
    Redis), two API workers (so caches in different processes are exercised), and a low bcrypt cost so
    bootstrap and logins are fast.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STRATUS_", "OS_"))}
    defaults = {
        "STRATUS_API_PORT": str(free_port()),
        "STRATUS_CONSOLE_PROXY_PORT": str(free_port()),
        "STRATUS_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
        "STRATUS_BROKER_TLS_PORT": str(free_port()),
        "STRATUS_API_WORKERS": "2",
        "STRATUS_API_THREADS": "4",
        "STRATUS_PASSWORD_HASH_ROUNDS": "4",
        "STRATUS_SERVICE_PASSWORD": "service-secret",
        # Three simulated hosts in one agent process; end-to-end tests ask for libvirt instead.
        "STRATUS_COMPUTE_DRIVER": "fake",
        "STRATUS_COMPUTE_FAKE_HOSTS": "3",
        "STRATUS_COMPUTE_REPORT_INTERVAL": "2",
        # The network agent keeps its wiring in memory; end-to-end tests ask for the kernel's.
        "STRATUS_NETWORK_DATAPLANE": "fake",
        "STRATUS_NETWORK_RESYNC_INTERVAL": "5",
    }
    return clean | defaults | env | {"STRATUS_STATE_DIR": str(state_dir)}


@contextmanager
def running_cloud(state_dir: Path, env: dict[str, str] | None = None) -> Iterator[Cloud]:
    """``services up`` on entry (which returns once every service answers), ``services down`` on exit."""
    cloud = Cloud(state_dir, cloud_environment(state_dir, env or {}))
    try:
        cloud.manage("services", "up")
        yield cloud
    finally:  # host machines too (a cloud with host_machines): their guests and namespaces go with the cloud
        cloud.manage("services", "down", "--machines", check=False)
