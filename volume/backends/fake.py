"""A backend that keeps no blocks: each volume and snapshot is a tiny JSON file naming its size (and, for a
volume made from something, what it was made from), so fast functional tests run the whole service, across
processes, without qemu-img. Same contract and errors as the real backends; ``delay`` slows every call down
(races, timeouts), ``capacity_gb`` is what it reports and refuses beyond.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from volume.backends.base import (
    BackendError,
    Capacity,
    Connection,
    ImageSource,
    NotEnoughSpace,
    VolumeBackend,
)

GiB = 1 << 30
_LOCATION = re.compile(r"^fake:(volume|snapshot)-[0-9a-f-]{36}$")
_ID = re.compile(r"^[0-9a-f-]{36}$")


class FakeBackend(VolumeBackend):
    name = "fake"

    def __init__(self, root: Path, *, delay: float = 0.0, capacity_gb: int = 1000) -> None:
        self.root = root
        self.delay = delay
        self.capacity_gb = capacity_gb

    # -- files --------------------------------------------------------------------------------------------------

    def _path(self, location: str) -> Path:
        if not _LOCATION.match(location):
            raise BackendError(reason="not a location of the fake backend")
        return self.root / f"{location.removeprefix('fake:')}.json"

    def _read(self, location: str) -> dict[str, Any]:
        try:
            return dict(json.loads(self._path(location).read_text()))
        except FileNotFoundError:
            raise BackendError(reason="the volume's data is gone") from None

    def _write(self, location: str, record: dict[str, Any]) -> str:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(location)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(record))
        os.replace(temporary, path)
        return location

    def _pause(self) -> None:
        if self.delay:
            time.sleep(self.delay)

    @staticmethod
    def _volume(volume_id: str) -> str:
        if not _ID.match(volume_id):
            raise BackendError(reason="volume ids are UUIDs")
        return f"fake:volume-{volume_id}"

    def _make(self, volume_id: str, size_gb: int, **origin: Any) -> str:
        self._pause()
        location = self._volume(volume_id)
        if self.exists(location):
            return location
        used = sum(json.loads(p.read_text())["size_gb"] for p in self.root.glob("volume-*.json"))
        if used + size_gb > self.capacity_gb:
            raise NotEnoughSpace(backend=self.name, free_gb=self.capacity_gb - used, size_gb=size_gb)
        return self._write(location, {"size_gb": size_gb, **origin})

    # -- the contract -------------------------------------------------------------------------------------------

    def create(self, volume_id: str, size_gb: int) -> str:
        return self._make(volume_id, size_gb)

    def create_from_image(self, volume_id: str, size_gb: int, image: ImageSource) -> str:
        if image.virtual_size > size_gb * GiB:
            raise BackendError(reason=f"The image needs {-(-image.virtual_size // GiB)} GiB; the volume has {size_gb}.")
        return self._make(volume_id, size_gb, image_id=image.image_id)

    def create_from_snapshot(self, volume_id: str, size_gb: int, snapshot_location: str) -> str:
        snapshot = self._read(snapshot_location)
        return self._make(volume_id, max(size_gb, snapshot["size_gb"]), snapshot=snapshot_location)

    def create_from_volume(self, volume_id: str, size_gb: int, source_location: str) -> str:
        source = self._read(source_location)
        return self._make(volume_id, max(size_gb, source["size_gb"]), volume=source_location)

    def extend(self, location: str, size_gb: int) -> None:
        self._pause()
        record = self._read(location)
        if size_gb < record["size_gb"]:
            raise BackendError(reason=f"Volumes only grow: it has {record['size_gb']} GiB, {size_gb} were asked.")
        self._write(location, {**record, "size_gb": size_gb})

    def delete(self, location: str) -> None:
        self._pause()
        path = self._path(location)
        if not path.exists():
            return
        volume = location.removeprefix("fake:")
        for snapshot in self.root.glob("snapshot-*.json"):
            if json.loads(snapshot.read_text()).get("volume") == volume:
                raise BackendError(reason="The volume has snapshots; delete them first.")
        path.unlink(missing_ok=True)

    def create_snapshot(self, location: str, snapshot_id: str) -> str:
        self._pause()
        if not _ID.match(snapshot_id):
            raise BackendError(reason="snapshot ids are UUIDs")
        target = f"fake:snapshot-{snapshot_id}"
        if self.exists(target):
            return target
        record = self._read(location)
        return self._write(target, {"size_gb": record["size_gb"], "volume": location.removeprefix("fake:")})

    def delete_snapshot(self, snapshot_location: str) -> None:
        self._pause()
        self._path(snapshot_location).unlink(missing_ok=True)

    def connection(self, location: str) -> Connection:
        return Connection("fake", {"name": location.removeprefix("fake:")})

    def export(self, location: str, target: Path, disk_format: str) -> None:
        self._pause()
        record = self._read(location)
        if disk_format != "raw":
            raise BackendError(reason=f"The fake backend exports raw data only, not {disk_format}.")
        with open(target, "wb") as handle:
            handle.truncate(record["size_gb"] * GiB)

    def size_gb(self, location: str) -> int:
        return int(self._read(location)["size_gb"])

    def exists(self, location: str) -> bool:
        return self._path(location).exists()

    def capacity(self) -> Capacity:
        used = sum(json.loads(p.read_text())["size_gb"] for p in self.root.glob("volume-*.json"))
        return Capacity(total_gb=self.capacity_gb, free_gb=max(0, self.capacity_gb - used))
