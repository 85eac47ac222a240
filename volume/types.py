"""Volume types: which backend a volume lives on (``extra_specs["volume_backend_name"]``), who may use a private
type, and the records the Block Storage API's ``/types`` manage (Cinder's rules and faults).

Functions taking a ``Session`` work in the caller's transaction and never commit. ``project_id=None`` is an
admin, who sees every type.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import ColumnElement, exists, or_, select, true
from sqlalchemy.orm import Session

from common.settings import Settings
from volume.exceptions import (
    InvalidVolumeType,
    VolumeTypeAccessExists,
    VolumeTypeAccessNotFound,
    VolumeTypeExists,
    VolumeTypeExtraSpecsNotFound,
    VolumeTypeInUse,
    VolumeTypeNotFound,
    VolumeTypeNotFoundByName,
)
from volume.models import Volume, VolumeType, VolumeTypeAccess

BACKEND_KEY = "volume_backend_name"
MAX_ID = 36


def configured_backends(settings: Settings) -> list[str]:
    """The backends this cloud runs, in the order ``volume_backends`` names them (the first is the default's)."""
    return [name.strip() for name in settings.volume_backends.split(",") if name.strip()]


def backend_of(settings: Settings, volume_type: VolumeType) -> str:
    """The backend a type places volumes on: its ``volume_backend_name``, else the first configured one. A name
    this cloud does not run is Cinder's 400 (Cinder's scheduler would find no valid backend)."""
    backends = configured_backends(settings)
    name = (volume_type.extra_specs or {}).get(BACKEND_KEY) or backends[0]
    if name not in backends:
        raise InvalidVolumeType(reason=f"volume type {volume_type.name} names backend {name}, which is not running")
    return name


def usable_by(project_id: str | None) -> ColumnElement[bool]:
    """Public types and the private ones shared with ``project_id`` (every type for an admin)."""
    if project_id is None:
        return true()
    shared = select(VolumeTypeAccess.volume_type_id).where(VolumeTypeAccess.project_id == project_id)
    return or_(VolumeType.is_public.is_(True), VolumeType.id.in_(shared))


def get_type(session: Session, type_id: str, project_id: str | None) -> VolumeType:
    """A type by id the project may use (404 otherwise)."""
    found = None
    if len(type_id) <= MAX_ID:
        found = session.scalars(select(VolumeType).where(VolumeType.id == type_id, usable_by(project_id))).first()
    if found is None:
        raise VolumeTypeNotFound(volume_type_id=type_id)
    return found


def find_type(session: Session, name_or_id: str, project_id: str | None) -> VolumeType:
    """A type by id or by name the project may use (404 otherwise), as Cinder resolves ``volume_type``."""
    if len(name_or_id) <= MAX_ID:
        by_id = session.scalars(select(VolumeType).where(VolumeType.id == name_or_id, usable_by(project_id))).first()
        if by_id is not None:
            return by_id
    by_name = session.scalars(select(VolumeType).where(VolumeType.name == name_or_id, usable_by(project_id))).first()
    if by_name is None:
        raise VolumeTypeNotFoundByName(volume_type_name=name_or_id)
    return by_name


def default_type(session: Session, settings: Settings) -> VolumeType:
    """The type of a volume created without one (``volume_default_type``, made by ``stratus-manage bootstrap``)."""
    found = session.scalars(select(VolumeType).where(VolumeType.name == settings.volume_default_type)).first()
    if found is None:
        raise VolumeTypeNotFoundByName(volume_type_name=settings.volume_default_type)
    return found


def create_type(
    session: Session,
    *,
    name: str,
    description: str | None = None,
    is_public: bool = True,
    extra_specs: Mapping[str, str] | None = None,
) -> VolumeType:
    """A new type (``POST /types``); 409 when the name is taken."""
    if session.scalars(select(VolumeType.id).where(VolumeType.name == name)).first() is not None:
        raise VolumeTypeExists(id=name)
    volume_type = VolumeType(
        name=name, description=description, is_public=is_public, extra_specs=dict(extra_specs or {})
    )
    session.add(volume_type)
    session.flush()
    return volume_type


def update_type(
    session: Session,
    volume_type: VolumeType,
    *,
    name: str | None = None,
    description: str | None = None,
    is_public: bool | None = None,
) -> VolumeType:
    """Rename, describe, publish or hide a type (``PUT /types/{id}``); 409 when the new name is taken."""
    if name is not None and name != volume_type.name:
        taken = session.scalars(select(VolumeType.id).where(VolumeType.name == name)).first()
        if taken is not None:
            raise VolumeTypeExists(id=name)
        volume_type.name = name
    if description is not None:
        volume_type.description = description
    if is_public is not None:
        volume_type.is_public = is_public
    session.flush()
    return volume_type


def delete_type(session: Session, settings: Settings, volume_type: VolumeType) -> None:
    """Delete a type no volume uses (a deleted volume's record keeps its type, as Cinder's does: 400 too) and
    that is not the default type."""
    if volume_type.name == settings.volume_default_type:
        raise InvalidVolumeType(reason="Default volume type can not be deleted.")
    if session.scalar(select(exists().where(Volume.volume_type_id == volume_type.id))):
        raise VolumeTypeInUse()
    session.delete(volume_type)
    session.flush()


def set_extra_specs(session: Session, volume_type: VolumeType, specs: Mapping[str, str]) -> dict[str, str]:
    """Add or change extra specs (``POST /types/{id}/extra_specs``, ``PUT .../{key}``); returns them all.
    Changing ``volume_backend_name`` of a type in use would strand its volumes: 400."""
    current = dict(volume_type.extra_specs or {})
    if BACKEND_KEY in specs and specs[BACKEND_KEY] != current.get(BACKEND_KEY) and _in_use(session, volume_type):
        raise VolumeTypeInUse()
    current.update({str(k): str(v) for k, v in specs.items()})
    volume_type.extra_specs = current
    session.flush()
    return current


def unset_extra_spec(session: Session, volume_type: VolumeType, key: str) -> None:
    """Remove one extra spec (``DELETE /types/{id}/extra_specs/{key}``); 404 when the type has no such key."""
    current = dict(volume_type.extra_specs or {})
    if key not in current:
        raise VolumeTypeExtraSpecsNotFound(volume_type_id=volume_type.id, extra_specs_key=key)
    if key == BACKEND_KEY and _in_use(session, volume_type):
        raise VolumeTypeInUse()
    del current[key]
    volume_type.extra_specs = current
    session.flush()


def access_list(session: Session, volume_type: VolumeType) -> list[str]:
    """The projects a private type is shared with (``GET /types/{id}/os-volume-type-access``)."""
    if volume_type.is_public:
        raise InvalidVolumeType(reason="Type access modification is not applicable to public volume type.")
    query = select(VolumeTypeAccess.project_id).where(VolumeTypeAccess.volume_type_id == volume_type.id)
    return list(session.scalars(query.order_by(VolumeTypeAccess.project_id)))


def add_access(session: Session, volume_type: VolumeType, project_id: str) -> None:
    """Share a private type with a project (``addProjectAccess``); 400 for a public type, 409 when shared already."""
    if volume_type.is_public:
        raise InvalidVolumeType(reason="Type access modification is not applicable to public volume type.")
    if session.get(VolumeTypeAccess, (volume_type.id, project_id)) is not None:
        raise VolumeTypeAccessExists(volume_type_id=volume_type.id, project_id=project_id)
    session.add(VolumeTypeAccess(volume_type_id=volume_type.id, project_id=project_id))
    session.flush()


def remove_access(session: Session, volume_type: VolumeType, project_id: str) -> None:
    """Stop sharing a private type with a project (``removeProjectAccess``); 404 when it was not shared."""
    if volume_type.is_public:
        raise InvalidVolumeType(reason="Type access modification is not applicable to public volume type.")
    found = session.get(VolumeTypeAccess, (volume_type.id, project_id))
    if found is None:
        raise VolumeTypeAccessNotFound(volume_type_id=volume_type.id, project_id=project_id)
    session.delete(found)
    session.flush()


def _in_use(session: Session, volume_type: VolumeType) -> bool:
    query = exists().where(Volume.volume_type_id == volume_type.id, Volume.deleted.is_(False))
    return bool(session.scalar(select(query)))


def ensure_types(session: Session, settings: Settings) -> list[str]:
    """The default type (on the first configured backend) and one type per configured backend, named after it;
    what exists is kept. Returns a line per type made (``stratus-manage bootstrap``)."""
    backends = configured_backends(settings)
    wanted = [(settings.volume_default_type, backends[0], "Default Volume Type")]
    wanted += [(name, name, f"Volumes on the {name} backend") for name in backends]
    made = []
    for name, backend, description in dict((w[0], w) for w in wanted).values():
        if session.scalars(select(VolumeType.id).where(VolumeType.name == name)).first() is None:
            create_type(session, name=name, description=description, extra_specs={BACKEND_KEY: backend})
            made.append(f"created volume type {name}")
    return made
