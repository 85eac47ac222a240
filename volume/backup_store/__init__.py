"""Where backups are kept (``backup_store``): a directory (``backup_store_dir``) by default, or a Ceph pool
(``backup_rbd_pool``), behind ``base.BackupStore``."""

from __future__ import annotations

from common.exceptions import ConfigError
from common.settings import Settings
from volume.backup_store.base import BackupStore


def from_settings(settings: Settings) -> BackupStore:
    if settings.backup_store == "rbd":
        from volume.backup_store.rbd import RbdStore

        return RbdStore(settings)
    if settings.backup_store != "directory":
        raise ConfigError(setting="backup_store", reason=f"unknown backup store {settings.backup_store!r}")
    from volume.backup_store.directory import DirectoryStore

    return DirectoryStore(settings.effective_backup_store_dir)
