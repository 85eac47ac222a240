"""What the image worker's tasks share: the database, the image store, the settings. One per ``stratus-image``
process (``image.tasks``), made on its first task as before, so importing the worker opens and creates nothing."""

from __future__ import annotations

from dataclasses import dataclass

from common.db import Database
from common.settings import Settings
from image.store import from_settings
from image.store.base import ImageStore


@dataclass(frozen=True)
class ImageWorker:
    db: Database
    store: ImageStore
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageWorker:
        return cls(Database(settings.effective_database_url), from_settings(settings), settings)
