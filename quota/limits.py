"""Reading and writing limits: a project's own, the ``default`` class's, and the built-in defaults under both.

The effective limit of a resource for a project is the first of: the project's row, the ``default`` class's
row, the built-in default (``registry``; the image defaults are settings). ``limits`` answers for any set
of resources with one query, because a quota check runs it on every create.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, delete, literal, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from common.db import utcnow
from common.settings import Settings
from quota import registry
from quota.exceptions import InvalidLimit, UnknownResource
from quota.models import DEFAULT_CLASS, ClassLimit, ProjectLimit, QuotaLock


def _names(names: Iterable[str] | None) -> list[str]:
    if names is None:
        return [r.name for r in registry.RESOURCES]
    chosen = list(dict.fromkeys(names))
    for name in chosen:
        if name not in registry.BY_NAME:
            raise UnknownResource(resource=name)
    return chosen


def builtin_default(name: str, settings: Settings | None) -> int:
    """The default a resource has when no row says otherwise."""
    default = registry.resource(name).default
    if isinstance(default, int):
        return default
    if settings is None:
        raise ValueError(f"the default of {name} is the setting {default}: pass the settings")
    return int(getattr(settings, default))


def defaults(session: Session, names: Iterable[str] | None = None, settings: Settings | None = None) -> dict[str, int]:
    """The ``default`` class's limits: every project's limits unless it has its own."""
    wanted = _names(names)
    rows = session.execute(
        select(ClassLimit.resource, ClassLimit.hard_limit).where(
            ClassLimit.class_name == DEFAULT_CLASS, ClassLimit.resource.in_(wanted)
        )
    )
    found = dict(rows.all())  # type: ignore[arg-type]
    return {name: int(found[name]) if name in found else builtin_default(name, settings) for name in wanted}


# Built once: building a statement costs far more than running this one (it runs in every create).
_EFFECTIVE = union_all(
    select(ProjectLimit.resource, ProjectLimit.hard_limit, literal(0).label("rank")).where(
        ProjectLimit.project_id == bindparam("project_id"),
        ProjectLimit.resource.in_(bindparam("own", expanding=True)),
    ),
    select(ClassLimit.resource, ClassLimit.hard_limit, literal(1).label("rank")).where(
        ClassLimit.class_name == DEFAULT_CLASS, ClassLimit.resource.in_(bindparam("shared", expanding=True))
    ),
)


def limits(
    session: Session, project_id: str | None, names: Iterable[str] | None = None, settings: Settings | None = None
) -> dict[str, int]:
    """The effective limits of ``project_id`` for ``names`` (every resource when None), in one query (through
    Core: the ORM's result handling would cost more than the query)."""
    wanted = _names(names)
    found: dict[str, tuple[int, int]] = {}
    rows = session.connection().execute(_EFFECTIVE, {"project_id": project_id or "", "own": wanted, "shared": wanted})
    for name, limit, rank in rows:
        if name not in found or rank < found[name][1]:
            found[name] = (int(limit), rank)
    return {name: found[name][0] if name in found else builtin_default(name, settings) for name in wanted}


def overrides(session: Session, project_id: str) -> dict[str, int]:
    """The limits set for the project itself (the rest are the defaults)."""
    rows = session.execute(
        select(ProjectLimit.resource, ProjectLimit.hard_limit).where(ProjectLimit.project_id == project_id)
    )
    return {name: int(limit) for name, limit in rows}


def projects_with_limits(session: Session, names: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    """``{project_id: {resource: limit}}`` of every project with a limit of its own among ``names``."""
    query = select(ProjectLimit.project_id, ProjectLimit.resource, ProjectLimit.hard_limit)
    if names is not None:
        query = query.where(ProjectLimit.resource.in_(_names(names)))
    found: dict[str, dict[str, int]] = {}
    for project_id, name, limit in session.execute(query.order_by(ProjectLimit.project_id)):
        found.setdefault(project_id, {})[name] = int(limit)
    return found


def validated(values: Mapping[str, Any]) -> dict[str, int]:
    """``values`` as integer limits of known resources; 400 for an unknown name or a limit below -1."""
    checked = {}
    for name, value in values.items():
        if name not in registry.BY_NAME:
            raise UnknownResource(resource=name)
        if isinstance(value, bool) or not isinstance(value, int) or value < registry.UNLIMITED:
            raise InvalidLimit(limit=value, resource=name)
        checked[name] = value
    return checked


def _upsert(session: Session, model: type[ProjectLimit] | type[ClassLimit], keys: dict[str, str], limit: int) -> None:
    """Insert the row or change its limit, in one statement (two admins setting one limit cannot collide)."""
    dialect = session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    statement = insert(model).values(**keys, hard_limit=limit, created_at=now, updated_at=None)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={"hard_limit": limit, "updated_at": now}
    )
    session.execute(statement)


def set_project_limits(session: Session, project_id: str, values: Mapping[str, Any]) -> None:
    for name, limit in validated(values).items():
        _upsert(session, ProjectLimit, {"project_id": project_id, "resource": name}, limit)


def reset_project(session: Session, project_id: str, names: Iterable[str] | None = None) -> None:
    """Back to the defaults: the project's own limits (of ``names``, or all) are deleted."""
    query = delete(ProjectLimit).where(ProjectLimit.project_id == project_id)
    if names is not None:
        query = query.where(ProjectLimit.resource.in_(_names(names)))
    session.execute(query)


def set_defaults(session: Session, values: Mapping[str, Any]) -> None:
    for name, limit in validated(values).items():
        _upsert(session, ClassLimit, {"class_name": DEFAULT_CLASS, "resource": name}, limit)


def reset_defaults(session: Session, names: Iterable[str]) -> None:
    """Back to the built-in defaults for ``names``."""
    session.execute(
        delete(ClassLimit).where(ClassLimit.class_name == DEFAULT_CLASS, ClassLimit.resource.in_(_names(names)))
    )


def forget_project(session: Session, project_id: str) -> None:
    """A deleted project's limits and lock row go with it."""
    reset_project(session, project_id)
    session.execute(delete(QuotaLock).where(QuotaLock.key == project_id))
