"""Finding identity records by id or by name, as request bodies and URLs refer to them.

A miss is a clean ``NotFound`` (404) whatever the string: clients such as the ``openstack`` CLI first try
``GET /projects/<name>`` before searching by name, so an unknown id or a name in the path is normal.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.db import Base
from common.exceptions import Conflict, NotFound
from identity.models import DEFAULT_DOMAIN_ID, Domain, Group, Project, Role, User

M = TypeVar("M", bound=Base)

KIND_NAMES: dict[type, str] = {Domain: "domain", Project: "project", User: "user", Role: "role"}
KIND_NAMES[Group] = "group"


def get_or_404(session: Session, model: type[M], id_: str) -> M:
    found = session.get(model, id_) if len(id_) <= 64 else None
    if found is None:
        raise NotFound(kind=KIND_NAMES.get(model, model.__tablename__), id=id_)
    return found


def ensure_unique(session: Session, model: type[M], exclude_id: str | None = None, **fields: Any) -> None:
    """409 when another record already has these field values (checked before insert, for a clear message)."""
    query = select(model.id).filter_by(**fields)  # type: ignore[attr-defined]
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)  # type: ignore[attr-defined]
    if session.execute(query.limit(1)).first() is not None:
        described = ", ".join(f"{k}={v}" for k, v in fields.items())
        raise Conflict(kind=KIND_NAMES.get(model, model.__tablename__), reason=f"Duplicate entry ({described})")


def find_domain_ref(session: Session, ref: dict[str, Any]) -> Domain | None:
    if "id" in ref:
        return session.get(Domain, ref["id"])
    return session.scalars(select(Domain).filter_by(name=ref["name"])).one_or_none()


def find_project_ref(session: Session, ref: dict[str, Any]) -> Project | None:
    if "id" in ref:
        return session.get(Project, ref["id"])
    domain = find_domain_ref(session, ref["domain"])
    if domain is None:
        return None
    return session.scalars(select(Project).filter_by(name=ref["name"], domain_id=domain.id)).one_or_none()


def existing_domain_id(session: Session, requested: str | None) -> str:
    """The domain a new project or user goes in: the one asked for (which must exist) or ``default``."""
    domain_id = requested or DEFAULT_DOMAIN_ID
    get_or_404(session, Domain, domain_id)
    return domain_id
