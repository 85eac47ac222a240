"""A private Stratus API for functional tests: its own state directory, database, keys and port.

It runs the real thing (``stratus-manage`` for the schema, keys and bootstrap; gunicorn serving
``api.wsgi``) as subprocesses, exactly as ``make up`` does, and never touches the cloud ``make up`` runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from manage.clouds import write_clouds_yaml
from tests.harness import free_port

VENV_BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "admin-secret"
DEMO_PASSWORD = "demo-secret"


@dataclass
class ApiServer:
    state_dir: Path
    env: dict[str, str]
    port: int
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.state_dir / "api.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/identity/v3"

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [str(VENV_BIN / "stratus-manage"), *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"stratus-manage {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def start(self) -> None:
        command = [str(VENV_BIN / "gunicorn"), "-k", "gthread", "--workers", "2", "--threads", "4"]
        command += ["--bind", f"127.0.0.1:{self.port}", "--no-control-socket", "api.wsgi:application"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/identity/v3", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the API did not answer in 30 s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def write_clouds_yaml(self) -> Path:
        path = self.state_dir / "clouds.yaml"
        accounts = {"stratus-admin": ("admin", ADMIN_PASSWORD), "stratus": ("demo", DEMO_PASSWORD)}
        write_clouds_yaml(path, self.auth_url, "RegionOne", accounts)
        return path


@contextmanager
def api_server(state_dir: Path, database_url: str = "", **settings: str) -> Iterator[ApiServer]:
    """A bootstrapped API (admin and demo tenants) serving on a free loopback port until the block ends."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRATUS_", "OS_"))}
    env |= {
        "STRATUS_STATE_DIR": str(state_dir),
        "STRATUS_API_PORT": str(port),
        "STRATUS_DATABASE_URL": database_url,
        # A low cost keeps the suite fast; the default (12) is checked by a unit test and the benchmark.
        "STRATUS_PASSWORD_HASH_ROUNDS": "4",
    }
    env |= {f"STRATUS_{k.upper()}": v for k, v in settings.items()}
    server = ApiServer(state_dir, env, port)
    server.manage("db-sync")
    server.manage("fernet-setup")
    server.manage("bootstrap", "--admin-password", ADMIN_PASSWORD, "--demo-password", DEMO_PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.stop()
