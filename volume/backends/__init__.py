"""Volume backends, chosen by the ``volume_backends`` setting and selected per volume by its type.

``backend_for`` builds one from the settings without any I/O (no connection, no directory made), so the control
side may ask it for a ``Connection`` in a request; only the volume worker calls the methods that touch data.
Each backend's module is imported on first use: the rbd backend's ``rados``/``rbd`` bindings are needed only
where it runs.
"""

from __future__ import annotations

from common.exceptions import ConfigError
from common.settings import Settings
from volume.backends.base import VolumeBackend
from volume.backends.blocks import BlockAccess

KNOWN = ("file", "rbd", "fake")


def backend_for(settings: Settings, name: str) -> VolumeBackend:
    """The backend called ``name`` (a volume's ``backend``), built cheaply from the settings."""
    if name == "file":
        from volume.backends.file import FileBackend

        return FileBackend(settings.effective_volume_dir)
    if name == "fake":
        from volume.backends.fake import FakeBackend

        return FakeBackend(settings.effective_volume_dir / "fake")
    if name == "rbd":
        from volume.backends.rbd import RbdBackend  # type: ignore[import-not-found,unused-ignore]

        return RbdBackend(settings)  # type: ignore[no-any-return,unused-ignore]
    raise ConfigError(setting="volume_backends", reason=f"unknown volume backend {name!r} (known: {', '.join(KNOWN)})")


def blocks_for(backend: VolumeBackend) -> BlockAccess:
    """Block access (for backups) to ``backend``'s volumes."""
    if backend.name == "file":
        from volume.backends.file import FileBackend
        from volume.backends.file_blocks import FileBlocks

        assert isinstance(backend, FileBackend)
        return FileBlocks(backend)
    if backend.name == "fake":
        from volume.backends.fake import FakeBackend
        from volume.backends.fake_blocks import FakeBlocks

        assert isinstance(backend, FakeBackend)
        return FakeBlocks(backend)
    if backend.name == "rbd":
        from volume.backends.rbd_blocks import RbdBlocks  # type: ignore[import-not-found,unused-ignore]

        return RbdBlocks(backend)  # type: ignore[arg-type,unused-ignore]
    raise ConfigError(setting="volume_backends", reason=f"no block access for the backend {backend.name!r}")
