"""What the volume worker's tasks share: the database, the settings, the image store (to read images and store
uploads) and the backends. One per ``stratus-volume`` process (``volume.tasks``), made on its first task, so
importing the worker opens and creates nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from common.db import Database
from common.settings import Settings
from image.store import from_settings as image_store_from_settings
from image.store.base import ImageStore
from volume.backends import backend_for
from volume.backends.base import VolumeBackend


@dataclass
class VolumeWorker:
    db: Database
    settings: Settings
    _backends: dict[str, VolumeBackend] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> VolumeWorker:
        return cls(Database(settings.effective_database_url), settings)

    @cached_property
    def image_store(self) -> ImageStore:
        return image_store_from_settings(self.settings)

    def backend(self, name: str) -> VolumeBackend:
        found = self._backends.get(name)
        if found is None:
            found = self._backends[name] = backend_for(self.settings, name)
        return found
