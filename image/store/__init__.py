"""Image stores, chosen by the ``image_store`` setting: ``filesystem`` or ``rbd`` (Ceph) for new data, both for
reading what is already stored (``image.store.multi``)."""

from __future__ import annotations

from pathlib import Path

from common.exceptions import ConfigError
from common.settings import Settings
from image.store import filesystem, rbd
from image.store.base import ImageStore
from image.store.multi import MultiStore

STORES = ("filesystem", "rbd")


def image_store_dir(settings: Settings) -> Path:
    return Path(settings.image_store_dir) if settings.image_store_dir else settings.state_path / "images"


def from_settings(settings: Settings) -> ImageStore:
    """No I/O beyond the store directory: the Ceph store connects on first use, so a cloud without Ceph never
    reaches for it unless an image lives there."""
    if settings.image_store not in STORES:
        known = ", ".join(STORES)
        raise ConfigError(setting="image_store", reason=f"unknown store {settings.image_store!r} (known: {known})")
    files = filesystem.FilesystemStore(image_store_dir(settings))
    try:
        ceph = rbd.RbdStore(
            settings.image_rbd_pool,
            settings.effective_ceph_conf,
            settings.ceph_user,
            settings.effective_ceph_keyring,
            staging=files.staging,
        )
    except ValueError as exc:
        raise ConfigError(setting="image_rbd_pool", reason=str(exc)) from None
    writer = ceph if settings.image_store == "rbd" else files
    return MultiStore(writer, {filesystem.PREFIX: files, rbd.PREFIX: ceph})
