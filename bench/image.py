"""How fast the image API moves image data on loopback, next to what this machine itself reaches, and at what memory.

Why: a cloud's images are gigabytes, and ``PUT``/``GET /image/v2/images/{id}/file`` must move them at close to what
the machine can, in constant memory: several uploads at once must not exhaust the API server. The goal (from the
issue): at least 70% of the throughput of a loopback ``curl`` to a server that does nothing with the bytes, and server
memory flat (under 100 MB growth) whatever the image size.

By default the benchmark starts its own private cloud (``manage.private_cloud.running_cloud``) in a temporary
directory, so its figures are reproducible and no user's cloud is touched; ``--url`` targets a running API instead,
and then the server's memory and CPU are only measured when ``--server-pid`` names its gunicorn master. The
private cloud runs the fake compute driver (image data never reaches a hypervisor here); ``--server-env`` adds or
overrides settings, e.g. ``STRATUS_IMAGE_CHUNK_SIZE``, to compare alternatives.

What runs, in rounds (``--repeat``; every figure printed is the median over the rounds, so baselines and our figures
are measured side by side under the same load on a shared machine):

* ours: a ``--size-mib`` image (default 1 GiB of random-looking data, in the page cache) is uploaded to a new image
  (raw/bare) and downloaded again, once with ``requests`` (streaming the file object; ``stream=True`` and
  ``iter_content`` of 1 MiB, discarded) and once with ``curl`` (``-T file``; ``-o /dev/null``), whose client cost is
  lower. The same for a small image (``--small-mib``, default 64 MiB), to show that memory does not grow with size.
  Each upload is checked: the image must become active with the file's size and md5.
* baselines: ``cat file > /dev/null`` (page-cache read; the second of two runs); a download of the same file from
  BusyBox ``httpd`` (C, one forked process per connection; ``python3 -m http.server`` would be too slow to be a
  fair ceiling); an upload to a sink, a separate Python process that reads the body with ``recv_into`` into one
  1 MiB buffer and answers 204 (no standard static server accepts uploads; the sink's cost is a few memory copies
  per MB). Both baselines are measured with both clients. For information, curl also uploads to the same sink made
  to write the bytes to a file and fsync it ("sink+disk"): the least any server that keeps an upload must do.
* references: what hashing alone costs (md5 and sha512 of ``--size-mib`` in this process; every upload computes
  both, in series with receiving and writing), what writing the file and fsyncing it costs (every upload does
  that before the image becomes active), and both in series in one loop, as the server does, without HTTP. An upload
  cannot be faster than either alone, nor than both in series while it does them one after the other in one thread.

Server memory is the resident set (RSS) of gunicorn's master and workers together, read from ``/proc`` before each
transfer and every 50 ms during it; the growth is the peak minus the level measured after a warm-up, before the first
round, so memory kept between transfers counts too. The kernel's per-process high-water mark (``VmHWM``, reset
before each transfer) backs the sampled peak up when it can be read. The page cache that file reads and writes go
through is the kernel's, not the server's, and is not counted.

Goals print PASS, MISS or N/A (ratios of the other client, and to sink+disk, print as "info": the issue's baseline
is curl to a sink that keeps nothing) and the exit status is 0 either way; it is 1 only when the API failed: it did not
start, refused the benchmark's own login, or answered an image request with an error or wrong data.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import multiprocessing
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/image.py`: `bench` and `manage` live at the root

from bench.identity import (  # noqa: E402
    ApiFailure,
    Credentials,
    Goal,
    Target,
    client_cpu_seconds,
    json_safe,
    last_traceback,
    login,
    process_children,
    server_cpu_seconds,
)

MiB = 1 << 20
MB = 1e6  # throughput and memory are printed in MB (10^6 bytes); image sizes in MiB
DEFAULT_SIZE_MIB = 1024
DEFAULT_SMALL_MIB = 64
WARMUP_MIB = 1
DEFAULT_REPEAT = 3
SAMPLE_SECONDS = 0.05
READ_CHUNK = MiB  # what the requests client reads at a time when downloading (iter_content)
REQUEST_TIMEOUT = 30.0  # seconds, for the small JSON requests
TRANSFER_TIMEOUT = 300.0  # seconds, for one transfer of image data (curl --max-time; requests' read timeout)
GOAL_RATIO = 0.70
GOAL_GROWTH_MB = 100.0
DEFAULT_DOMAIN = "Default"
# The private cloud's settings beyond the harness's: image data never reaches a hypervisor here, so the compute
# agent runs the fake driver (no libvirt needed, nothing it does competes for the CPUs). --server-env overrides.
PRIVATE_CLOUD_ENV = {"STRATUS_COMPUTE_DRIVER": "fake"}
CLIENTS = ("requests", "curl")

Transfer = Callable[[], "Moved"]


# --- the data ------------------------------------------------------------------------------------------------


def make_data_file(path: Path, size_mib: int) -> str:
    """``size_mib`` MiB of incompressible, never-repeating data (one random MiB, a counter mixed into each copy).

    Fast to produce (no random generator per byte, no hashing beyond the md5 returned, which uploads are checked
    against), and nothing a store or a transport could shortcut: no zeros, no two equal MiB.
    """
    block = bytearray(os.urandom(MiB))
    md5 = hashlib.md5(usedforsecurity=False)
    with path.open("wb") as handle:
        for index in range(size_mib):
            block[:8] = index.to_bytes(8, "little")
            block[-8:] = (index * 0x9E3779B97F4A7C15 % (1 << 64)).to_bytes(8, "little")
            md5.update(block)
            handle.write(block)
    return md5.hexdigest()


# --- server memory -------------------------------------------------------------------------------------------

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _rss(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


def _hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"no VmHWM for {pid}")


def _reset_hwm(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # 5: reset the peak RSS to the current RSS (Linux >= 4.0)


def server_pids(master: int) -> list[int]:
    return [master, *process_children(master)]


def server_rss(pids: list[int]) -> int:
    """Resident bytes of these processes together; a process that ended counts nothing."""
    total = 0
    for pid in pids:
        try:
            total += _rss(pid)
        except (OSError, ValueError, IndexError):
            continue
    return total


class MemorySampler:
    """The server's RSS before, and its peak during, one transfer: sampled every 50 ms, backed by VmHWM."""

    def __init__(self, master: int | None) -> None:
        self.pids = server_pids(master) if master is not None else []
        self.before = self.peak = server_rss(self.pids) if self.pids else 0
        self.hwm_peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._hwm_ok = bool(self.pids)
        for pid in self.pids:
            try:
                _reset_hwm(pid)
            except OSError:
                self._hwm_ok = False  # not ours (--server-pid of another user) or no clear_refs: samples only

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.peak = max(self.peak, server_rss(self.pids))

    def __enter__(self) -> MemorySampler:
        if self.pids:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self.pids:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, server_rss(self.pids))
        if self._hwm_ok:
            try:
                self.hwm_peak = sum(_hwm(pid) for pid in self.pids)  # per-process peaks: at least the peak sum
            except (OSError, ValueError):
                self.hwm_peak = None


# --- one transfer --------------------------------------------------------------------------------------------


@dataclass
class Moved:
    """What a client reports about one transfer."""

    status: int  # HTTP status; for cat, 200 when it succeeded
    nbytes: int
    seconds: float
    detail: str = ""  # why it failed
    content_md5: str | None = None  # the download's Content-MD5 header


@dataclass
class Measurement:
    round: int
    size_mib: int
    direction: str  # upload | download; the baselines' read (cat), and the references' hash, write, hash+write
    client: str  # requests | curl; cat, hashlib, os
    target: str  # stratus | sink | sink+disk | static; page cache, in-process, disk
    nbytes: int
    seconds: float
    client_cpu_s: float = math.nan
    server_cpu_s: float = math.nan
    rss_before_mb: float = math.nan
    rss_peak_mb: float = math.nan
    hwm_peak_mb: float = math.nan

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / MB / self.seconds if self.seconds > 0 else math.nan


def children_cpu_seconds() -> float:
    """CPU time of this process's waited-for children (curl, cat)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(transfer: Transfer, master: int | None, in_process: bool) -> tuple[Moved, dict[str, float]]:
    """Run one transfer, with the CPU it cost the client and the server, and the server's memory around it."""
    cpu = client_cpu_seconds if in_process else children_cpu_seconds
    client_before, server_before = cpu(), server_cpu_seconds(master)
    with MemorySampler(master) as memory:
        moved = transfer()
    figures = {
        "client_cpu_s": cpu() - client_before,
        "server_cpu_s": server_cpu_seconds(master) - server_before,
    }
    if master is not None:
        figures["rss_before_mb"] = memory.before / MB
        figures["rss_peak_mb"] = memory.peak / MB
        figures["hwm_peak_mb"] = memory.hwm_peak / MB if memory.hwm_peak is not None else math.nan
    return moved, figures


# --- clients -------------------------------------------------------------------------------------------------


def requests_upload(session: requests.Session, url: str, headers: dict[str, str], path: Path) -> Moved:
    size = path.stat().st_size
    headers = headers | {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    with path.open("rb") as body:
        started = time.perf_counter()
        response = session.put(url, data=body, headers=headers, timeout=(REQUEST_TIMEOUT, TRANSFER_TIMEOUT))
        seconds = time.perf_counter() - started
    return Moved(response.status_code, size, seconds, response.text[:500] if response.status_code >= 300 else "")


def requests_download(session: requests.Session, url: str, headers: dict[str, str]) -> Moved:
    started = time.perf_counter()
    with session.get(url, headers=headers, stream=True, timeout=(REQUEST_TIMEOUT, TRANSFER_TIMEOUT)) as response:
        nbytes = sum(len(chunk) for chunk in response.iter_content(READ_CHUNK))
        seconds = time.perf_counter() - started
        detail = "" if response.status_code == 200 else response.text[:500]
    return Moved(response.status_code, nbytes, seconds, detail, response.headers.get("Content-MD5"))


def _curl(args: list[str], counted: str) -> Moved:
    """curl with its own timing (``time_total``: the transfer, without starting the process)."""
    written = f"%{{http_code}} %{{{counted}}} %{{time_total}}"
    command = ["curl", "-sS", "--max-time", str(int(TRANSFER_TIMEOUT)), "-w", written]
    result = subprocess.run(command + args, capture_output=True, text=True, timeout=TRANSFER_TIMEOUT + 30, check=False)
    try:
        status, nbytes, seconds = result.stdout.split()[-3:]
        return Moved(int(status), int(float(nbytes)), float(seconds), result.stderr.strip())
    except ValueError:
        return Moved(0, 0, math.nan, f"curl exited {result.returncode}: {result.stderr.strip()}")


def _curl_headers(headers: dict[str, str]) -> list[str]:
    return [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]


def curl_upload(url: str, headers: dict[str, str], path: Path) -> Moved:
    # `Expect:` turns off curl's "Expect: 100-continue" (for the sink and for us alike), which would only add a
    # round trip, or a one-second wait where a server does not answer it.
    headers = headers | {"Content-Type": "application/octet-stream", "Expect": ""}
    return _curl([*_curl_headers(headers), "-T", str(path), "-o", "/dev/null", url], "size_upload")


def curl_download(url: str, headers: dict[str, str]) -> Moved:
    return _curl([*_curl_headers(headers), "-o", "/dev/null", url], "size_download")


def transfer(
    client: str, direction: str, session: requests.Session, url: str, headers: dict[str, str], path: Path
) -> Transfer:
    """One upload of ``path`` to ``url``, or one download from it, with ``client``, ready to run."""
    if direction == "upload":
        if client == "curl":
            return functools.partial(curl_upload, url, headers, path)
        return functools.partial(requests_upload, session, url, headers, path)
    if client == "curl":
        return functools.partial(curl_download, url, headers)
    return functools.partial(requests_download, session, url, headers)


def cat_read(path: Path) -> Moved:
    """``cat file > /dev/null``, run twice: the second run is the page-cache read rate."""
    for _ in range(2):
        started = time.perf_counter()
        result = subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, timeout=TRANSFER_TIMEOUT, check=False)
        seconds = time.perf_counter() - started
    return Moved(200 if result.returncode == 0 else 0, path.stat().st_size, seconds, f"cat exited {result.returncode}")


# --- baseline servers ----------------------------------------------------------------------------------------


def _receive(connection: socket.socket, view: memoryview, wanted: int, fd: int | None) -> int:
    received = 0
    while received < wanted:
        n = connection.recv_into(view, min(len(view), wanted - received))
        if n == 0:
            break
        if fd is not None:
            os.write(fd, view[:n])  # a regular file takes it all at once
        received += n
    return received


def sink_serve(listener: socket.socket, store: Path) -> None:
    """Accept connections one after the other; read each request's body into one 1 MiB buffer and answer 204.

    ``PUT /sink`` discards the bytes; ``PUT /store`` also writes them to a new file under ``store``, fsyncs and
    removes it: the least any server that keeps an upload durably must do. Only what the benchmark's own clients
    send: one request per connection, with a Content-Length body.
    """
    view = memoryview(bytearray(MiB))
    while True:
        connection, _ = listener.accept()
        with connection:
            data = b""
            while b"\r\n\r\n" not in data and (more := connection.recv(65536)):
                data += more
            head, _, body = data.partition(b"\r\n\r\n")
            request_line, *lines = head.split(b"\r\n")
            fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines)}
            if fields.get(b"expect", b"").lower() == b"100-continue":
                connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            wanted = int(fields.get(b"content-length", b"0"))
            path = store / f"sink-{os.getpid()}-{time.monotonic_ns()}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600) if b" /store" in request_line else None
            try:
                if fd is not None:
                    os.write(fd, body)
                received = len(body) + _receive(connection, view, wanted - len(body), fd)
                if fd is not None:
                    os.fsync(fd)
            finally:
                if fd is not None:
                    os.close(fd)
                    path.unlink()
            status = b"204 No Content" if received == wanted else b"400 Bad Request"
            connection.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@contextmanager
def upload_sink(store: Path) -> Iterator[str]:
    """The sink in a process of its own (not this one's GIL), listening before it starts; yields its URL.

    ``<url>/sink`` discards, ``<url>/store`` writes to ``store`` and fsyncs (see :func:`sink_serve`).
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    process = multiprocessing.get_context("fork").Process(target=sink_serve, args=(listener, store), daemon=True)
    process.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        process.terminate()
        process.join(timeout=10)
        listener.close()


def busybox_httpd() -> str | None:
    busybox = shutil.which("busybox")
    if busybox is None:
        return None
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, timeout=10, check=False).stdout
    return busybox if "httpd" in applets.split() else None


@contextmanager
def static_server(directory: Path) -> Iterator[str | None]:
    """BusyBox httpd serving ``directory`` on a free loopback port; yields its URL, or None without BusyBox httpd."""
    from manage.private_cloud import free_port, wait_for_http

    busybox = busybox_httpd()
    if busybox is None:
        yield None
        return
    (directory / "ready").write_text("ok\n")
    port = free_port()
    argv = [busybox, "httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", str(directory)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ready", timeout=10)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the image API -------------------------------------------------------------------------------------------


class ImageApi:
    """The few image API calls the benchmark makes, as one user; every image it creates is deleted by ``close``."""

    def __init__(self, root_url: str, token: str) -> None:
        self.base = f"{root_url}/image/v2"
        self.headers = {"X-Auth-Token": token}
        self.session = requests.Session()
        self.created: list[str] = []

    def _check(self, response: requests.Response, wanted: int, what: str) -> requests.Response:
        if response.status_code != wanted:
            raise ApiFailure(f"{what}: HTTP {response.status_code} {response.text[:500]}")
        return response

    def create(self) -> str:
        body = {"name": f"bench-{uuid.uuid4().hex[:8]}", "disk_format": "raw", "container_format": "bare"}
        response = self.session.post(f"{self.base}/images", json=body, headers=self.headers, timeout=REQUEST_TIMEOUT)
        image_id = self._check(response, 201, "creating an image").json()["id"]
        self.created.append(image_id)
        return image_id

    def show(self, image_id: str) -> dict[str, Any]:
        response = self.session.get(f"{self.base}/images/{image_id}", headers=self.headers, timeout=REQUEST_TIMEOUT)
        return self._check(response, 200, f"showing image {image_id}").json()

    def delete(self, image_id: str) -> None:
        response = self.session.delete(f"{self.base}/images/{image_id}", headers=self.headers, timeout=REQUEST_TIMEOUT)
        if response.status_code not in (204, 404):
            raise ApiFailure(f"deleting image {image_id}: HTTP {response.status_code} {response.text[:500]}")
        self.created.remove(image_id)

    def file_url(self, image_id: str) -> str:
        return f"{self.base}/images/{image_id}/file"

    def close(self) -> None:
        for image_id in list(self.created):
            try:
                self.delete(image_id)
            except (ApiFailure, requests.RequestException) as exc:
                print(f"could not delete image {image_id}: {exc}", file=sys.stderr)
        self.session.close()


# --- the API under test --------------------------------------------------------------------------------------


def root_of(auth_url: str) -> str:
    return auth_url.removesuffix("/identity/v3")


@contextmanager
def private_api(env: dict[str, str]) -> Iterator[Target]:
    """A fresh API in a temporary directory (the harness's test-sized settings, plus ``env``); demo uploads."""
    from manage.private_cloud import running_cloud

    admin = Credentials("admin", "bench-admin-password", "admin")
    demo = Credentials("demo", "bench-demo-password", "demo")
    with tempfile.TemporaryDirectory(prefix="stratus-bench-image-cloud-") as tmp, ExitStack() as stack:
        try:
            cloud = stack.enter_context(running_cloud(Path(tmp), env))
            cloud.bootstrap(admin.password, demo.password)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            raise ApiFailure(str(exc)) from exc
        pid = int((cloud.state_dir / "run" / "api.pid").read_text().split()[0])
        yield Target(cloud.auth_url, subject=demo, validator=admin, log_path=cloud.log_dir / "api.log", server_pid=pid)


@contextmanager
def running_api(args: argparse.Namespace) -> Iterator[Target]:
    """The API at ``--url``; its server is measured only when ``--server-pid`` names gunicorn's master."""
    root = root_of(args.url.rstrip("/"))
    creds = Credentials(args.user, args.password, args.project, args.domain)
    yield Target(f"{root}/identity/v3", subject=creds, validator=creds, server_pid=args.server_pid)


# --- the rounds ----------------------------------------------------------------------------------------------


@dataclass
class Bench:
    target: Target
    api: ImageApi
    files: dict[int, tuple[Path, str]]  # size in MiB -> (file, md5)
    clients: tuple[str, ...]
    sink_url: str | None
    static_url: str | None  # the static files are named after their size: <static_url>/<size>.raw
    results: list[Measurement] = field(default_factory=list)

    @property
    def master(self) -> int | None:
        return self.target.server_pid

    def record(self, rnd: int, size_mib: int, direction: str, client: str, target: str, run: Transfer) -> Moved:
        ours = target == "stratus"
        try:
            moved, figures = measure(run, self.master if ours else None, in_process=client not in ("curl", "cat"))
        except requests.RequestException as exc:
            moved, figures = Moved(0, 0, math.nan, f"{type(exc).__name__}: {exc}"), {}
        if not 200 <= moved.status < 300 or moved.nbytes != size_mib * MiB:
            what = f"{direction} of {size_mib} MiB with {client} to {target}"
            failure = f"{what}: status {moved.status}, {moved.nbytes} bytes: {moved.detail}"
            if ours:
                raise ApiFailure(failure)
            print(f"  baseline failed, left out: {failure}", file=sys.stderr)
            return moved
        measurement = Measurement(rnd, size_mib, direction, client, target, moved.nbytes, moved.seconds, **figures)
        self.results.append(measurement)
        return moved

    def upload(self, rnd: int, size_mib: int, client: str) -> str:
        path, md5 = self.files[size_mib]
        image_id = self.api.create()
        run = transfer(client, "upload", self.api.session, self.api.file_url(image_id), self.api.headers, path)
        self.record(rnd, size_mib, "upload", client, "stratus", run)
        image = self.api.show(image_id)
        if image.get("status") != "active" or image.get("size") != size_mib * MiB or image.get("checksum") != md5:
            got = {k: image.get(k) for k in ("status", "size", "checksum")}
            wanted = f"size {size_mib * MiB}, md5 {md5}"
            raise ApiFailure(f"image {image_id} after a {client} upload: {got}, expected {wanted}")
        return image_id

    def download(self, rnd: int, size_mib: int, client: str, image_id: str) -> None:
        path, md5 = self.files[size_mib]
        run = transfer(client, "download", self.api.session, self.api.file_url(image_id), self.api.headers, path)
        moved = self.record(rnd, size_mib, "download", client, "stratus", run)
        if moved.content_md5 is not None and moved.content_md5 != md5:
            raise ApiFailure(f"download of image {image_id}: Content-MD5 {moved.content_md5}, expected {md5}")

    def ours(self, rnd: int, size_mib: int) -> None:
        images = [self.upload(rnd, size_mib, client) for client in self.clients]
        for client in self.clients:
            self.download(rnd, size_mib, client, images[0])
        for image_id in images:
            self.api.delete(image_id)

    def costs(self, rnd: int, size_mib: int, scratch: Path) -> None:
        """What an upload must do besides HTTP: hash the data, write and fsync it; each alone, then both in series."""
        source = self.files[size_mib][0]
        self.record(rnd, size_mib, "hash", "hashlib", "in-process", functools.partial(hashing, size_mib))
        self.record(rnd, size_mib, "write", "os", "disk", functools.partial(write_and_fsync, source, scratch))
        run = functools.partial(write_and_fsync, source, scratch, hashed=True)
        self.record(rnd, size_mib, "hash+write", "os", "disk", run)

    def baselines(self, rnd: int, size_mib: int) -> None:
        path = self.files[size_mib][0]
        self.record(rnd, size_mib, "read", "cat", "page cache", functools.partial(cat_read, path))
        with requests.Session() as session:
            for client in self.clients:
                if self.sink_url:
                    run = transfer(client, "upload", session, f"{self.sink_url}/sink", {}, path)
                    self.record(rnd, size_mib, "upload", client, "sink", run)
                    if client == self.clients[-1]:  # one client is enough to show what storing costs
                        run = transfer(client, "upload", session, f"{self.sink_url}/store", {}, path)
                        self.record(rnd, size_mib, "upload", client, "sink+disk", run)
                if self.static_url:
                    run = transfer(client, "download", session, f"{self.static_url}/{path.name}", {}, path)
                    self.record(rnd, size_mib, "download", client, "static", run)

    def warm_up(self, size_mib: int) -> None:
        """One small round trip with each client, so first-request costs (imports, pools) are not measured."""
        images = [self.upload(0, size_mib, client) for client in self.clients]
        for client in self.clients:
            self.download(0, size_mib, client, images[0])
        for image_id in images:
            self.api.delete(image_id)
        self.results = [m for m in self.results if m.round != 0]


def hashing(size_mib: int) -> Moved:
    """md5 and sha512 of ``size_mib`` MiB (one random MiB over and over) in this process, as every upload does."""
    block = os.urandom(MiB)
    md5, sha512 = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    started = time.perf_counter()
    for _ in range(size_mib):
        md5.update(block)
        sha512.update(block)
    return Moved(200, size_mib * MiB, time.perf_counter() - started)


def write_and_fsync(source: Path, directory: Path, hashed: bool = False) -> Moved:
    """Copy ``source`` (from the page cache) 1 MiB at a time to a new file in ``directory``, fsync it, remove it.

    ``hashed``: also md5 and sha512 each MiB before writing it, in the same thread, as an upload does; that is the
    server's loop without HTTP. Page-cache writes vary a lot on a virtual machine (the first writes into memory the
    guest never touched are much slower than later ones into recycled pages), hence once per round like the rest.
    """
    target = directory / "fsync-probe"
    md5, sha512 = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    started = time.perf_counter()
    try:
        with source.open("rb") as src, target.open("wb") as dst:
            while chunk := src.read(MiB):
                if hashed:
                    md5.update(chunk)
                    sha512.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        return Moved(200, source.stat().st_size, time.perf_counter() - started)
    finally:
        target.unlink(missing_ok=True)


# --- the report ----------------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


@dataclass
class Row:
    size_mib: int
    direction: str
    client: str
    target: str
    runs: int
    mb_per_s: float
    mb_per_s_min: float
    mb_per_s_max: float
    seconds: float
    client_cpu_s: float
    server_cpu_s: float
    rss_growth_mb: float  # median over the runs of (sampled peak - RSS after the warm-up)
    rss_growth_max_mb: float  # the largest over the runs, sampled or VmHWM, whichever is higher
    rss_growth_in_transfer_mb: float  # median of (sampled peak - RSS just before the transfer)


def summarise(results: list[Measurement], initial_rss_mb: float) -> list[Row]:
    keys = list(dict.fromkeys((m.size_mib, m.direction, m.client, m.target) for m in results))
    rows = []
    for key in keys:
        ms = [m for m in results if (m.size_mib, m.direction, m.client, m.target) == key]
        rates = [m.mb_per_s for m in ms]
        growth = [m.rss_peak_mb - initial_rss_mb for m in ms]
        worst = [max(m.rss_peak_mb, m.hwm_peak_mb if not math.isnan(m.hwm_peak_mb) else -math.inf) for m in ms]
        rows.append(
            Row(
                *key,
                runs=len(ms),
                mb_per_s=median(rates),
                mb_per_s_min=min(rates),
                mb_per_s_max=max(rates),
                seconds=median([m.seconds for m in ms]),
                client_cpu_s=median([m.client_cpu_s for m in ms]),
                server_cpu_s=median([m.server_cpu_s for m in ms]),
                rss_growth_mb=median(growth),
                rss_growth_max_mb=max(w - initial_rss_mb for w in worst) if ms else math.nan,
                rss_growth_in_transfer_mb=median([m.rss_peak_mb - m.rss_before_mb for m in ms]),
            )
        )
    return rows


def row_at(rows: list[Row], size_mib: int, direction: str, client: str, target: str) -> Row | None:
    return next(
        (r for r in rows if (r.size_mib, r.direction, r.client, r.target) == (size_mib, direction, client, target)),
        None,
    )


def _f(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def print_rows(title: str, rows: list[Row], memory: bool) -> None:
    print(f"\n{title}")
    header = f"{'size':>8} {'direction':<10} {'client':<8} {'to/from':<10} {'MB/s':>7} {'(min-max)':>11} {'seconds':>8}"
    header += f" {'CPU s: client':>13} {'server':>6}"
    if memory:
        header += f" {'server RSS growth MB: median':>28} {'max':>5} {'in transfer':>11}"
    print(header)
    for r in rows:
        line = (
            f"{r.size_mib:>4} MiB {r.direction:<10} {r.client:<8} {r.target:<10} {r.mb_per_s:>7.0f}"
            f" {f'({r.mb_per_s_min:.0f}-{r.mb_per_s_max:.0f})':>11} {r.seconds:>8.2f}"
            f" {_f(r.client_cpu_s, 2):>13} {_f(r.server_cpu_s, 2):>6}"
        )
        if memory:
            line += f" {_f(r.rss_growth_mb):>28} {_f(r.rss_growth_max_mb):>5} {_f(r.rss_growth_in_transfer_mb):>11}"
        print(line)


def ratio_goal(rows: list[Row], size_mib: int, direction: str, client: str, baseline: str, applicable: bool) -> Goal:
    versus = {"sink": "to the sink", "sink+disk": "to the sink+disk", "static": "from BusyBox httpd"}[baseline]
    name = f"{direction} {size_mib} MiB, {client}: ours / {client} {versus}"
    wanted = f">= {GOAL_RATIO:.0%}"
    ours = row_at(rows, size_mib, direction, client, "stratus")
    base = row_at(rows, size_mib, direction, client, baseline)
    if ours is None or base is None:
        return Goal(name, "not measured", wanted, False, False)
    ratio = ours.mb_per_s / base.mb_per_s
    measured = f"{ours.mb_per_s:.0f} / {base.mb_per_s:.0f} MB/s = {ratio:.0%}"
    return Goal(name, measured, wanted, ratio >= GOAL_RATIO, applicable)


def memory_goal(rows: list[Row], master: int | None) -> Goal:
    name = "server RSS growth, every size and transfer"
    wanted = f"< {GOAL_GROWTH_MB:.0f} MB"
    ours = [r for r in rows if r.target == "stratus"]
    if master is None or not ours:
        return Goal(name, "not measured (no server pid)", wanted, False, False)
    worst = max(ours, key=lambda r: r.rss_growth_max_mb)
    by_size = ", ".join(
        f"{size} MiB: {max(r.rss_growth_max_mb for r in ours if r.size_mib == size):.1f} MB"
        for size in sorted({r.size_mib for r in ours})
    )
    measured = f"largest {worst.rss_growth_max_mb:.1f} MB ({worst.direction} {worst.client}); {by_size}"
    return Goal(name, measured, wanted, worst.rss_growth_max_mb < GOAL_GROWTH_MB)


def goals(rows: list[Row], size_mib: int, clients: tuple[str, ...], master: int | None) -> list[Goal]:
    """The verdicts from curl (the issue's baseline is a loopback curl); requests' ratios are shown for information."""
    verdict_client = "curl" if "curl" in clients else "requests"
    found = []
    for client in clients:
        applicable = client == verdict_client
        found.append(ratio_goal(rows, size_mib, "upload", client, "sink", applicable))
        found.append(ratio_goal(rows, size_mib, "download", client, "static", applicable))
    # Not the goal, which compares with a sink that keeps nothing: how close to storing durably we are.
    found.append(ratio_goal(rows, size_mib, "upload", clients[-1], "sink+disk", False))
    found.append(memory_goal(rows, master))
    return found


def references(rows: list[Row], size_mib: int) -> dict[str, float]:
    """Medians of the reference measurements."""
    found = {}
    for name, key in {
        "hashing_mb_s": ("hash", "hashlib", "in-process"),
        "write_fsync_mb_s": ("write", "os", "disk"),
        "serial_mb_s": ("hash+write", "os", "disk"),
    }.items():
        row = row_at(rows, size_mib, *key)
        found[name] = row.mb_per_s if row else math.nan
    return found


def print_report(rows: list[Row], references: dict[str, float], found: list[Goal], initial_rss_mb: float) -> None:
    ours = [r for r in rows if r.target == "stratus"]
    base = [r for r in rows if r.target != "stratus"]
    memory = not math.isnan(initial_rss_mb)
    print_rows("Ours (medians over the rounds; MB = 10^6 bytes)", ours, memory)
    if memory:
        print(f"server RSS after the warm-up (gunicorn master + workers): {initial_rss_mb:.1f} MB")
    print_rows("Baselines on this machine", base, False)
    r = references
    print("\nReferences (the hash and write rows above; an upload does both, in series, in one thread):")
    for label, key in (
        ("hashing alone (md5 + sha512 in this process)", "hashing_mb_s"),
        ("write + fsync alone (a copy of the file, same fs)", "write_fsync_mb_s"),
        ("hash, write, fsync in series (the upload loop, no HTTP)", "serial_mb_s"),
    ):
        print(f"  {label + ':':<57} {_f(r[key], 0):>6} MB/s")
    print("Goals:")
    for g in found:
        tag = g.verdict if g.applicable else "info"
        print(f"  {tag:<4}  {g.name}: {g.measured} (goal {g.wanted})")


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(json_safe(document), indent=2) + "\n")


# --- entry point ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=DEFAULT_SIZE_MIB, help="size of the large image, in MiB")
    parser.add_argument("--small-mib", type=int, default=DEFAULT_SMALL_MIB, help="size of the small image (0: none)")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="rounds; figures are medians over them")
    parser.add_argument("--no-curl", action="store_true", help="measure with requests only")
    parser.add_argument("--json", type=Path, help="also write every figure to this file as JSON")
    parser.add_argument("--url", help="benchmark the API at this URL instead of a private one")
    parser.add_argument("--user", help="with --url: the user to authenticate as")
    parser.add_argument("--password", help="with --url: that user's password")
    parser.add_argument("--project", help="with --url: the project to scope tokens to")
    parser.add_argument("--domain", default=DEFAULT_DOMAIN, help="with --url: the user's and project's domain")
    parser.add_argument("--server-pid", type=int, help="with --url: gunicorn master's pid, to measure its memory")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the private cloud, e.g. STRATUS_IMAGE_CHUNK_SIZE=4194304 (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.url and not (args.user and args.password and args.project):
        parser.error("--url needs --user, --password and --project")
    if args.server_pid and not args.url:
        parser.error("--server-pid goes with --url (the private cloud's server is always measured)")
    if args.server_env and args.url:
        parser.error("--server-env sets up the private cloud; it cannot go with --url")
    if not 1 <= args.size_mib <= 64 * 1024 or not 0 <= args.small_mib <= args.size_mib:
        parser.error("--size-mib must be in [1, 65536] and --small-mib in [0, --size-mib]")
    if not 1 <= args.repeat <= 20:
        parser.error("--repeat must be in [1, 20]")
    if any("=" not in setting for setting in args.server_env):
        parser.error("--server-env takes NAME=VALUE")
    return args


@dataclass
class Outcome:
    root: str
    master: int | None
    results: list[Measurement]
    initial_rss_mb: float
    static_url: str | None


def run(args: argparse.Namespace, clients: tuple[str, ...], sizes: list[int], env: dict[str, str]) -> Outcome:
    """Everything, in a temporary directory that is gone afterwards (with the private cloud and its images)."""
    with tempfile.TemporaryDirectory(prefix="stratus-bench-image-") as tmp, ExitStack() as stack:
        target = stack.enter_context(running_api(args) if args.url else private_api(env))
        root = root_of(target.auth_url)
        try:
            api = ImageApi(root, login(target.auth_url, target.subject))
            stack.callback(api.close)
            data = Path(tmp) / "static"  # the data files; also what BusyBox httpd serves
            data.mkdir()
            files = {}
            for size in sorted({*sizes, WARMUP_MIB}):
                path = data / f"{size}.raw"
                files[size] = (path, make_data_file(path, size))
            sink_url = stack.enter_context(upload_sink(Path(tmp)))
            static_url = stack.enter_context(static_server(data))
            print(f"upload baselines: a Python recv_into sink at {sink_url} (/sink discards, /store writes, fsyncs)")
            print(f"download baseline: {'BusyBox httpd at ' + static_url if static_url else 'none (no BusyBox httpd)'}")
            bench = Bench(target, api, files, clients, sink_url, static_url)
            print(f"benchmarking {root}/image/v2 with {', '.join(clients)}; sizes {sizes} MiB, {args.repeat} rounds")
            bench.warm_up(WARMUP_MIB)
            initial_rss_mb = server_rss(server_pids(target.server_pid)) / MB if target.server_pid else math.nan
            for rnd in range(1, args.repeat + 1):
                bench.costs(rnd, args.size_mib, Path(tmp))
                for size in sizes:
                    bench.baselines(rnd, size)
                    bench.ours(rnd, size)
                done = [m for m in bench.results if m.round == rnd and m.target == "stratus"]
                figures = ", ".join(f"{m.size_mib}M {m.direction} {m.client} {m.mb_per_s:.0f}" for m in done)
                print(f"  round {rnd} (MB/s): {figures}", flush=True)
        except (ApiFailure, requests.RequestException) as exc:
            log = target.log_path
            shown = f"\n\nserver log ({log}) from its last traceback:\n{last_traceback(log)}" if log else ""
            raise ApiFailure(f"{exc}{shown}") from exc
    return Outcome(root, target.server_pid, bench.results, initial_rss_mb, static_url)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load_before:.1f} before the run (other work skews every figure)")
    clients: tuple[str, ...] = ("requests",) if args.no_curl or not shutil.which("curl") else CLIENTS
    if "curl" not in clients and not args.no_curl:
        print("curl is not installed: requests figures only")
    sizes = sorted({args.size_mib, *([args.small_mib] if args.small_mib else [])}, reverse=True)
    env = {} if args.url else PRIVATE_CLOUD_ENV | dict(setting.split("=", 1) for setting in args.server_env)
    try:
        outcome = run(args, clients, sizes, env)
    except ApiFailure as exc:
        print(f"the API failed: {exc}", file=sys.stderr)
        return 1
    rows = summarise(outcome.results, outcome.initial_rss_mb)
    found = goals(rows, args.size_mib, clients, outcome.master)
    refs = references(rows, args.size_mib)
    print_report(rows, refs, found, outcome.initial_rss_mb)
    if args.json:
        config = {
            "api": outcome.root,
            "private_api": not args.url,
            "server_env": env,
            "sizes_mib": sizes,
            "repeat": args.repeat,
            "clients": list(clients),
            "upload_baseline": "python recv_into sink (sink+disk: also writes and fsyncs)",
            "download_baseline": "busybox httpd" if outcome.static_url else None,
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "sample_seconds": SAMPLE_SECONDS,
        }
        document = {
            "config": config,
            "references": refs,
            "initial_server_rss_mb": outcome.initial_rss_mb,
            "rows": [asdict(r) for r in rows],
            "measurements": [asdict(m) | {"mb_per_s": m.mb_per_s} for m in outcome.results],
            "goals": [asdict(g) | {"verdict": g.verdict} for g in found],
        }
        write_json(args.json, document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
