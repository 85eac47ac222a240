"""The image service's store: new data goes to the configured store (``image_store``), and every location is read
and deleted by the store whose prefix it carries, so images written before the setting changed keep working."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

from image.store.base import ImageStore, StagedWrite


class MultiStore(ImageStore):
    def __init__(self, writer: ImageStore, by_prefix: Mapping[str, ImageStore]) -> None:
        assert writer in by_prefix.values(), "the store that writes must read its own locations"
        self.writer = writer
        self._by_prefix = dict(by_prefix)

    def store_for(self, location: str) -> ImageStore:
        for prefix, store in self._by_prefix.items():
            if location.startswith(prefix):
                return store
        raise ValueError(f"no image store understands the location {location[:16]!r}")

    def begin(self, image_id: str) -> StagedWrite:
        return self.writer.begin(image_id)

    def open(self, location: str) -> BinaryIO:
        return self.store_for(location).open(location)

    def local_path(self, location: str) -> Path | None:
        return self.store_for(location).local_path(location)

    def local_file(self, location: str) -> AbstractContextManager[Path]:
        return self.store_for(location).local_file(location)

    def size(self, location: str) -> int:
        return self.store_for(location).size(location)

    def ceph_snapshot(self, location: str) -> str | None:
        return self.store_for(location).ceph_snapshot(location)

    def in_use(self, location: str) -> bool:
        return self.store_for(location).in_use(location)

    def delete(self, location: str) -> None:
        self.store_for(location).delete(location)

    def sweep_staging(self, older_than_seconds: float) -> int:
        """The configured store only: the others make no new data (both keep their local staging in one
        directory, which the writer sweeps)."""
        return self.writer.sweep_staging(older_than_seconds)

    def close(self) -> None:
        for store in self._by_prefix.values():
            store.close()
