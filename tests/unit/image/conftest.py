"""Sample disk images for the inspector tests.

Each sample is made by ``qemu-img`` (trusted here: we made the files) once per session, on first use; tests that
patch bytes work on their own copy. The LUKS sample costs seconds of key derivation that ``iter-time`` does not
shorten, so it is started in the background when the session begins and its tests come last.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

# name -> (qemu-img driver, size, extra options). File names are long on purpose: hostile VMDK tests rewrite the
# extent's file name in place and need room for the replacement.
RECIPES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "qcow2-v3": ("qcow2", "1G", ("-o", "compat=1.1")),
    "qcow2-v2": ("qcow2", "1G", ("-o", "compat=0.10")),
    "qcow2-2m-clusters": ("qcow2", "1G", ("-o", "cluster_size=2M")),
    "vmdk-monolithic-sparse": ("vmdk", "1G", ()),
    "vmdk-stream-optimized": ("vmdk", "1G", ("-o", "subformat=streamOptimized")),
    "vmdk-monolithic-flat": ("vmdk", "10M", ("-o", "subformat=monolithicFlat")),
    "vhd-dynamic": ("vpc", "1G", ("-o", "subformat=dynamic")),
    "vhd-fixed": ("vpc", "10M", ("-o", "subformat=fixed")),
    "vhdx": ("vhdx", "1G", ()),
    "vdi": ("vdi", "1G", ()),
    "qed": ("qed", "1G", ()),
    "luks": ("luks", "10M", ("--object", "secret,id=sec0,data=abc", "-o", "key-secret=sec0")),
    "raw": ("raw", "64M", ()),
}


def qemu_img(*args: str | Path) -> str:
    return subprocess.run(["qemu-img", *map(str, args)], check=True, capture_output=True, text=True).stdout


def qemu_virtual_size(path: Path, driver: str) -> int:
    """What QEMU itself says; only ever asked about files these tests made."""
    return json.loads(qemu_img("info", "--output=json", "-f", driver, path))["virtual-size"]


BACKGROUND = ("luks",)
CPU_CLOCK_HICCUP = "Unable to get accurate CPU usage"


class Samples:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[str, Path] = {}
        self._building: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str) -> None:
        """Begin making a sample in the background; :meth:`path` waits for it."""
        self._building[name] = subprocess.Popen(
            self._command(name), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )

    def path(self, name: str) -> Path:
        """The shared, read-only sample; made on first use."""
        if name in self._building:
            process = self._building.pop(name)
            _, errors = process.communicate()
            if process.returncode == 0:
                self._made[name] = self._target(name)
            elif CPU_CLOCK_HICCUP not in errors:
                raise AssertionError(errors)
        if name not in self._made:
            self._make(name)
            self._made[name] = self._target(name)
        return self._made[name]

    def _make(self, name: str, attempts: int = 5) -> None:
        """LUKS creation times its key derivation with the thread's CPU clock, which on some virtual machines
        reads the same twice and makes qemu-img give up; another attempt succeeds."""
        for attempt in range(attempts):
            result = subprocess.run(self._command(name), capture_output=True, text=True, check=False)
            if result.returncode == 0:
                return
            if CPU_CLOCK_HICCUP not in result.stderr or attempt == attempts - 1:
                raise AssertionError(f"{' '.join(self._command(name))}: {result.stderr}")

    def close(self) -> None:
        for process in self._building.values():
            process.kill()
            process.communicate()  # reaps it and closes its pipe

    def _target(self, name: str) -> Path:
        return self.root / f"sample-{name}-with-room-to-rename.img"

    def _command(self, name: str) -> list[str]:
        driver, size, options = RECIPES[name]
        return ["qemu-img", "create", "-q", "-f", driver, *options, str(self._target(name)), size]

    def copy(self, name: str, directory: Path) -> Path:
        """A private copy to patch; keeps the sample's file name, which the VMDK descriptor refers to."""
        target = directory / self.path(name).name
        shutil.copyfile(self.path(name), target)
        return target


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Samples]:
    if shutil.which("qemu-img") is None:
        pytest.fail("qemu-img is needed to build sample images (Debian package qemu-utils)")
    made = Samples(tmp_path_factory.mktemp("images"))
    for name in BACKGROUND:
        made.start(name)
    yield made
    made.close()
