"""Image stores, chosen by the ``image_store`` setting."""

from __future__ import annotations

from pathlib import Path

from common.exceptions import ConfigError
from common.settings import Settings
from image.store.base import ImageStore


def image_store_dir(settings: Settings) -> Path:
    return Path(settings.image_store_dir) if settings.image_store_dir else settings.state_path / "images"


def from_settings(settings: Settings) -> ImageStore:
    if settings.image_store == "filesystem":
        from image.store.filesystem import FilesystemStore

        return FilesystemStore(image_store_dir(settings))
    raise ConfigError(setting="image_store", reason=f"unknown store {settings.image_store!r} (known: filesystem)")
