"""Where backups are kept: a directory by default (``backup_store_dir``), behind ``base.BackupStore``."""

from __future__ import annotations

from common.settings import Settings
from volume.backup_store.base import BackupStore


def from_settings(settings: Settings) -> BackupStore:
    from volume.backup_store.directory import DirectoryStore

    return DirectoryStore(settings.effective_backup_store_dir)
