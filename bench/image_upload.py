"""How close an image upload comes to what the disk and the digests cost, and at what memory.

Why: an upload must store its bytes durably and compute Glance's two digests (``checksum``, md5, and
``os_hash_value``, sha512); nothing else it does is essential. The goal (from the issue): an upload reaches at least
70% of the throughput of the same bytes written to the image store's directory with one ``fsync`` at the end and
both digests computed in parallel with the write and with each other, with flat memory, at 1 GiB and 10 GiB.

What runs, in rounds (``--repeat``; figures are medians, the reference and the upload side by side under the same
load on a shared machine):

* the data: one ``--piece-mib`` buffer of random bytes, stamped with a counter at the start of every MiB before it
  is handed out again, so no two MiB of an image are equal and nothing is generated per byte. Generating alone is
  timed once, for information: both measurements below include it, and it is a small part of either.
* reference: a child process in a session of its own (as the API server is: under load, the kernel's autogroup
  scheduling gives each session an equal share of the CPUs) writes the pieces with ``os.write`` to a new file in
  the private cloud's image store directory while two threads update md5 and sha512 over the same piece (hashlib
  and the write release the GIL), then ``fsync``\\ s it; the file is removed after.
* upload: ``PUT /image/v2/images/{id}/file`` of the same pieces through the private cloud's API
  (``manage.private_cloud.running_cloud``, gunicorn as deployed) with ``http.client`` and ``sendall`` of each piece
  (no client library copying or re-chunking the body), timed from the first byte sent to the 204. The image must
  then be active with the reference's size, md5 and sha512; it is deleted after.

Server memory: the resident set of each gunicorn process (master and workers), sampled every 50 ms during the upload
and backed by the kernel's high-water mark (``VmHWM``, reset before each upload). The figure is the largest
worker's peak, and its growth over that worker's RSS before the upload; flat memory means the growth does not
depend on the size (goal: under 100 MB at every size). The page cache the write goes through is the kernel's.

``make bench`` runs the 1 GiB size; ``--sizes 1024,10240`` (the default without ``--quick``) adds 10 GiB, which
needs about 21 GiB free where the temporary directory lives (the image and the reference file exist one at a time,
but a 10 GiB staged upload and its committed file are the same file). Exit status 1 only when the API failed.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/image_upload.py`: `bench` and `manage` live at the root

from bench.identity import ApiFailure, Goal, json_safe, last_traceback, login, server_cpu_seconds  # noqa: E402
from bench.image import PRIVATE_CLOUD_ENV, ImageApi, _hwm, _reset_hwm, _rss, private_api, root_of  # noqa: E402

MiB = 1 << 20
MB = 1e6
DEFAULT_SIZES_MIB = (1024, 10240)
QUICK_SIZES_MIB = (1024,)
DEFAULT_PIECE_MIB = 8
DEFAULT_REPEAT = 3
GOAL_RATIO = 0.70
GOAL_GROWTH_MB = 100.0
SAMPLE_SECONDS = 0.05
TIMEOUT_PER_GIB = 120.0  # seconds an upload may take per GiB before the benchmark gives up on it
SPARE_BYTES = 1 << 30  # left free on the disk beyond what the largest size needs


# --- the data ------------------------------------------------------------------------------------------------


class Pieces:
    """The bytes of an image, one reused buffer at a time: random once, a counter stamped into each MiB per use."""

    def __init__(self, piece_mib: int) -> None:
        self.buffer = bytearray(os.urandom(piece_mib * MiB))
        self.view = memoryview(self.buffer)

    def __call__(self, size: int) -> Iterator[memoryview]:
        """Pieces adding up to ``size`` bytes. The buffer is rewritten for the next piece: a consumer is done with
        one before asking for the next."""
        piece = len(self.buffer)
        sent = 0
        while sent < size:
            for offset in range(0, piece, MiB):
                self.buffer[offset : offset + 8] = (sent + offset).to_bytes(8, "little")
            length = min(piece, size - sent)
            yield self.view[:length]
            sent += length


def generation_seconds(pieces: Pieces, size: int) -> float:
    started = time.perf_counter()
    for _ in pieces(size):
        pass
    return time.perf_counter() - started


# --- the reference -------------------------------------------------------------------------------------------


@dataclass
class Written:
    seconds: float
    md5: str
    sha512: str


def _write_all(fd: int, piece: memoryview) -> None:
    while piece:
        piece = piece[os.write(fd, piece) :]


def reference(pieces: Pieces, size: int, directory: Path) -> Written:
    """``write_reference`` in a child process of its own session, as the API server runs in its own: with the
    kernel's autogroup scheduling (the default), each session gets an equal share of the CPUs under load, so the
    reference must not share this process's (the upload's client) nor be charged the benchmark's own threads."""
    parent, child = multiprocessing.get_context("fork").Pipe(duplex=False)

    def run() -> None:
        os.setsid()
        child.send(write_reference(pieces, size, directory))

    process = multiprocessing.get_context("fork").Process(target=run, daemon=True)
    process.start()
    try:
        if not parent.poll(TIMEOUT_PER_GIB * (size / (1 << 30) + 1)):
            raise ApiFailure("the reference write did not finish")
        return parent.recv()
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
            process.join()


def write_reference(pieces: Pieces, size: int, directory: Path) -> Written:
    """Write ``size`` bytes to a new file in ``directory`` with md5 and sha512 in parallel, fsync, remove it."""
    path = directory / f"bench-reference-{uuid.uuid4().hex}"
    md5, sha512 = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with ThreadPoolExecutor(3, thread_name_prefix="reference") as pool:
            started = time.perf_counter()
            for piece in pieces(size):
                jobs = [
                    pool.submit(md5.update, piece),
                    pool.submit(sha512.update, piece),
                    pool.submit(_write_all, fd, piece),
                ]
                for job in jobs:
                    job.result()
            os.fsync(fd)
            seconds = time.perf_counter() - started
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return Written(seconds, md5.hexdigest(), sha512.hexdigest())


# --- server memory -------------------------------------------------------------------------------------------


def gunicorn_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


class WorkerMemory:
    """Each gunicorn process's RSS before, and its peak during, one upload (samples and VmHWM)."""

    def __init__(self, master: int) -> None:
        self.pids = gunicorn_pids(master)
        self.before = {pid: _rss(pid) for pid in self.pids}
        self.peak = dict(self.before)
        for pid in self.pids:
            _reset_hwm(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._take()

    def _take(self) -> None:
        for pid in self.pids:
            try:
                self.peak[pid] = max(self.peak[pid], _rss(pid))
            except (OSError, ValueError, IndexError):
                continue

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._take()
        for pid in self.pids:
            try:
                self.peak[pid] = max(self.peak[pid], _hwm(pid))
            except (OSError, ValueError):
                continue

    def busiest(self) -> tuple[float, float]:
        """The largest process's peak RSS and its growth during the upload, in MB."""
        pid = max(self.pids, key=lambda p: self.peak[p] - self.before[p])
        return max(self.peak.values()) / MB, (self.peak[pid] - self.before[pid]) / MB


# --- the upload ----------------------------------------------------------------------------------------------


@dataclass
class Uploaded:
    seconds: float
    server_cpu_s: float
    max_rss_mb: float
    growth_mb: float


def upload(api: ImageApi, master: int, pieces: Pieces, size: int, expected: Written) -> Uploaded:
    """One ``PUT /file`` of ``size`` bytes with ``sendall`` per piece; checks the image and deletes it."""
    image_id = api.create()
    url = urlsplit(api.file_url(image_id))
    connection = http.client.HTTPConnection(
        url.hostname or "127.0.0.1", url.port, timeout=TIMEOUT_PER_GIB * (size / (1 << 30) + 1)
    )
    try:
        cpu_before = server_cpu_seconds(master)
        with WorkerMemory(master) as memory:
            started = time.perf_counter()
            connection.putrequest("PUT", url.path)
            for name, value in api.headers.items():
                connection.putheader(name, value)
            connection.putheader("Content-Type", "application/octet-stream")
            connection.putheader("Content-Length", str(size))
            connection.endheaders()
            for piece in pieces(size):
                connection.send(piece)
            response = connection.getresponse()
            answer = response.read()
            seconds = time.perf_counter() - started
        server_cpu = server_cpu_seconds(master) - cpu_before
    finally:
        connection.close()
    if response.status != 204:
        raise ApiFailure(f"uploading {size} bytes: HTTP {response.status} {answer[:500]!r}")
    image = api.show(image_id)
    got = {k: image.get(k) for k in ("status", "size", "checksum", "os_hash_algo", "os_hash_value")}
    wanted = {"status": "active", "size": size, "checksum": expected.md5, "os_hash_algo": "sha512"}
    wanted["os_hash_value"] = expected.sha512
    if got != wanted:
        raise ApiFailure(f"image {image_id} after the upload: {got}, expected {wanted}")
    api.delete(image_id)
    return Uploaded(seconds, server_cpu, *memory.busiest())


# --- the rounds and the report -------------------------------------------------------------------------------


@dataclass
class SizeResult:
    size_mib: int
    generation_s: float
    reference_s: list[float] = field(default_factory=list)
    upload_s: list[float] = field(default_factory=list)
    server_cpu_s: list[float] = field(default_factory=list)
    max_rss_mb: list[float] = field(default_factory=list)
    growth_mb: list[float] = field(default_factory=list)

    def rate(self, seconds: list[float]) -> float:
        return self.size_mib * MiB / MB / statistics.median(seconds)

    @property
    def ratio(self) -> float:
        return statistics.median(self.reference_s) / statistics.median(self.upload_s)


def measure_size(api: ImageApi, master: int, pieces: Pieces, size_mib: int, store_dir: Path, repeat: int) -> SizeResult:
    size = size_mib * MiB
    result = SizeResult(size_mib, generation_seconds(pieces, size))
    for rnd in range(1, repeat + 1):
        os.sync()  # the previous round's writeback must not be charged to this one
        written = reference(pieces, size, store_dir)
        os.sync()
        uploaded = upload(api, master, pieces, size, written)
        result.reference_s.append(written.seconds)
        result.upload_s.append(uploaded.seconds)
        result.server_cpu_s.append(uploaded.server_cpu_s)
        result.max_rss_mb.append(uploaded.max_rss_mb)
        result.growth_mb.append(uploaded.growth_mb)
        print(
            f"  {size_mib} MiB round {rnd}: reference {size / MB / written.seconds:.0f} MB/s,"
            f" upload {size / MB / uploaded.seconds:.0f} MB/s ({uploaded.server_cpu_s:.1f} s server CPU),"
            f" worker RSS peak {uploaded.max_rss_mb:.0f} MB (+{uploaded.growth_mb:.1f})",
            flush=True,
        )
    return result


def goals(results: list[SizeResult]) -> list[Goal]:
    found = []
    for r in results:
        measured = f"{r.rate(r.upload_s):.0f} / {r.rate(r.reference_s):.0f} MB/s = {r.ratio:.0%}"
        found.append(
            Goal(f"upload {r.size_mib} MiB / reference", measured, f">= {GOAL_RATIO:.0%}", r.ratio >= GOAL_RATIO)
        )
    worst = max(max(r.growth_mb) for r in results)
    by_size = ", ".join(f"{r.size_mib} MiB: +{max(r.growth_mb):.1f} MB" for r in results)
    found.append(
        Goal("API worker RSS growth during an upload", by_size, f"< {GOAL_GROWTH_MB:.0f} MB", worst < GOAL_GROWTH_MB)
    )
    return found


def report(results: list[SizeResult], found: list[Goal], piece_mib: int) -> None:
    print(
        f"\nMedians (MB = 10^6 bytes; pieces of {piece_mib} MiB; reference: write + fsync, md5 and sha512 in parallel)"
    )
    print(f"{'size':>9} {'reference s':>11} {'MB/s':>6} {'upload s':>9} {'MB/s':>6} {'ratio':>6} {'server CPU s':>12}"
          f" {'worker max RSS MB':>17} {'growth MB':>9} {'generating s':>12}")  # fmt: skip
    for r in results:
        print(
            f"{r.size_mib:>5} MiB {statistics.median(r.reference_s):>11.2f} {r.rate(r.reference_s):>6.0f}"
            f" {statistics.median(r.upload_s):>9.2f} {r.rate(r.upload_s):>6.0f} {r.ratio:>6.0%}"
            f" {statistics.median(r.server_cpu_s):>12.1f} {max(r.max_rss_mb):>17.0f} {max(r.growth_mb):>9.1f}"
            f" {r.generation_s:>12.3f}"
        )
    print("Goals:")
    for g in found:
        print(f"  {g.verdict:<4}  {g.name}: {g.measured} (goal {g.wanted})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", help="image sizes in MiB, comma-separated (default 1024,10240)")
    parser.add_argument("--quick", action="store_true", help="1 GiB only (what make bench runs)")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="rounds; figures are medians over them")
    parser.add_argument("--piece-mib", type=int, default=DEFAULT_PIECE_MIB, help="bytes the client sends at a time")
    parser.add_argument("--json", type=Path, help="also write every figure to this file as JSON")
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="NAME=VALUE", help="a setting for the private cloud"
    )
    args = parser.parse_args(argv)
    if args.sizes and args.quick:
        parser.error("--sizes and --quick exclude each other")
    try:
        args.sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    except ValueError:
        parser.error("--sizes takes MiB counts separated by commas")
    args.sizes = args.sizes or list(QUICK_SIZES_MIB if args.quick else DEFAULT_SIZES_MIB)
    if not all(1 <= s <= 64 * 1024 for s in args.sizes):
        parser.error("every size must be in [1, 65536] MiB")
    if not 1 <= args.repeat <= 20 or not 1 <= args.piece_mib <= 64:
        parser.error("--repeat must be in [1, 20] and --piece-mib in [1, 64]")
    if any("=" not in s for s in args.server_env):
        parser.error("--server-env takes NAME=VALUE")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the run (other work skews every figure)"
    )
    needed = max(args.sizes) * MiB + SPARE_BYTES
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < needed:
        print(
            f"{free / 2**30:.1f} GiB free in {tempfile.gettempdir()}, {needed / 2**30:.1f} GiB needed", file=sys.stderr
        )
        return 1
    env = PRIVATE_CLOUD_ENV | dict(s.split("=", 1) for s in args.server_env)
    pieces = Pieces(args.piece_mib)
    results = []
    with ExitStack() as stack:
        target = stack.enter_context(private_api(env))
        try:
            api = ImageApi(root_of(target.auth_url), login(target.auth_url, target.subject))
            stack.callback(api.close)
            assert target.server_pid is not None and target.log_path is not None
            # The private cloud's image_store_dir: its default under the state directory, or --server-env's.
            store_dir = Path(env.get("STRATUS_IMAGE_STORE_DIR") or target.log_path.parent.parent / "images")
            print(
                f"uploading to {api.base}; reference file in {store_dir}; sizes {args.sizes} MiB, {args.repeat} rounds"
            )
            for size_mib in args.sizes:
                results.append(measure_size(api, target.server_pid, pieces, size_mib, store_dir, args.repeat))
        except (ApiFailure, OSError, http.client.HTTPException) as exc:
            log = target.log_path
            print(
                f"the API failed: {exc}\n\nserver log ({log}):\n{last_traceback(log) if log else ''}", file=sys.stderr
            )
            return 1
    found = goals(results)
    report(results, found, args.piece_mib)
    if args.json:
        document: dict[str, Any] = {
            "config": {"sizes_mib": args.sizes, "repeat": args.repeat, "piece_mib": args.piece_mib, "server_env": env},
            "results": [asdict(r) | {"ratio": r.ratio} for r in results],
            "goals": [asdict(g) | {"verdict": g.verdict} for g in found],
        }
        args.json.write_text(json.dumps(json_safe(document), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
