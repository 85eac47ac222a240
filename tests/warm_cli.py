"""The ``openstack`` CLI run from a warm interpreter: the same code as the command, without its import per call.

Every ``openstack`` command spends about 1.5 s importing the client and its plugins before it sends a request,
and the suite runs some hundreds of them: a quarter of its time went there. A *zygote* process imports the client
and every command plugin once, then forks a child per command; the child sets the command's environment, working
directory and standard streams and calls ``openstackclient.shell.main`` exactly as the console script does. What
the tests judge is unchanged: the real CLI's argument parsing, its requests, its output and its exit status.

The zygote is single-threaded (it only accepts and forks, so forking is safe) and serves concurrent callers, one
child per connection. It is started lazily, once per test process, and ends with it: it returns when its
standard input, the test process's control pipe, closes.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from manage.private_cloud import VENV_BIN

_HEADER = struct.Struct("!I")
_lock = threading.Lock()
_zygote: _Zygote | None = None


class _Zygote:
    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="stratus-warm-cli-"))
        self.socket_path = self.directory / "zygote.sock"
        self.process = subprocess.Popen(
            [str(VENV_BIN / "python"), "-m", "tests.warm_cli", str(self.socket_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline()
        if ready.strip() != b"ready":
            self.process.kill()
            raise RuntimeError(f"the warm openstack CLI did not start: {ready!r}")
        atexit.register(self.stop)

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def run(self, argv: Sequence[str], env: Mapping[str, str], cwd: str, timeout: float) -> tuple[int, str, str]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(str(self.socket_path))
            _send(connection, {"argv": list(argv), "env": dict(env), "cwd": cwd})
            child = _receive(connection)["pid"]
            try:
                answer = _receive(connection)
            except TimeoutError:
                os.kill(child, signal.SIGKILL)
                raise subprocess.TimeoutExpired(["openstack", *argv], timeout) from None
        return answer["returncode"], answer["stdout"], answer["stderr"]


def run(
    argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 300, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``openstack *argv`` with ``env`` as its whole environment (``os.environ`` if None). A failed command does
    not raise: the caller reads ``returncode``, ``stdout`` and ``stderr`` as from ``subprocess.run``; a command
    past ``timeout`` is killed and raises ``subprocess.TimeoutExpired``, as there."""
    global _zygote
    environment = dict(os.environ if env is None else env)
    directory = cwd or os.getcwd()
    with _lock:
        if _zygote is None or _zygote.process.poll() is not None:
            _zygote = _Zygote()
        zygote = _zygote
    returncode, stdout, stderr = zygote.run(argv, environment, directory, timeout)
    return subprocess.CompletedProcess(["openstack", *argv], returncode, stdout, stderr)


def run_cloud(clouds_yaml: Path, cloud: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``openstack --os-cloud CLOUD *args`` with ``clouds_yaml`` as its only configuration (no ``OS_*`` of ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(clouds_yaml)
    return run(["--os-cloud", cloud, *args], env, timeout)


def _send(connection: socket.socket, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    connection.sendall(_HEADER.pack(len(body)) + body)


def _receive(connection: socket.socket) -> dict[str, Any]:
    (size,) = _HEADER.unpack(_read_exactly(connection, _HEADER.size))
    return json.loads(_read_exactly(connection, size))


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        piece = connection.recv(size - len(data))
        if not piece:
            raise ConnectionError("the warm openstack CLI closed the connection")
        data += piece
    return bytes(data)


# ---------------------------------------------------------------------------------------------------------------
# The zygote (``python -m tests.warm_cli SOCKET``)


def _preload() -> None:
    """Import the client and every module its entry points name (commands, output formats, auth plugins), and
    fill cliff's table of installed distributions (a scan of every package, 0.35 s per command otherwise)."""
    import importlib
    import importlib.metadata

    import openstackclient.shell  # noqa: F401

    modules = {
        entry_point.value.partition(":")[0]
        for distribution in importlib.metadata.distributions()
        for entry_point in distribution.entry_points
        if entry_point.group.startswith(("openstack.", "cliff.", "keystoneauth1."))
    }
    for module in sorted(modules):
        with contextlib.suppress(Exception):  # a plugin that cannot import fails the same way in the child
            importlib.import_module(module)
    import cliff.command

    with contextlib.suppress(AttributeError):  # a private cache of cliff's: without it, only slower
        cliff.command._get_distributions_by_modules()


def _run_child(connection: socket.socket) -> None:
    """In the forked child: become the ``openstack`` process the request describes, answer, and exit."""
    request = _receive(connection)
    _send(connection, {"pid": os.getpid()})
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        returncode = _run_openstack(request["argv"], out, err)
        out.seek(0)
        err.seek(0)
        answer = {"returncode": returncode, "stdout": out.read(), "stderr": err.read()}
    _send(connection, {name: v if isinstance(v, int) else v.decode(errors="replace") for name, v in answer.items()})


def _run_openstack(argv: list[str], out: IO[bytes], err: IO[bytes]) -> int:
    """``openstack *argv`` with its standard streams on ``out`` and ``err`` and stdin empty; its exit status."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the child's streams live as long as it does
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    sys.argv = ["openstack", *argv]
    returncode: int = 1
    try:
        from openstackclient.shell import main

        returncode = main(argv) or 0
    except SystemExit as exit_:
        returncode = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # reported as the console script would: a traceback and status 1
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return returncode


def _serve(socket_path: str) -> None:
    sys.argv = [str(VENV_BIN / "openstack")]  # cliff names the program from it once, at import
    _preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        readable, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in readable:
            return  # the test process closed the control pipe (or ended)
        connection, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            try:
                _run_child(connection)
            finally:
                os._exit(0)
        connection.close()


if __name__ == "__main__":
    _serve(sys.argv[1])
