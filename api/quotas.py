"""What the quota views of every API share: which project a request is about, and that it exists.

Nova, Neutron, Glance and Keystone show the same limits and usage (one quota engine, one set of tables),
each under its own names and shapes; these helpers keep their handlers down to the naming.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from api.runtime import runtime
from common.exceptions import BadRequest
from identity.models import Project
from quota import engine


class InvalidProject(BadRequest):
    """Nova's answer for a project Keystone does not know (``identity.verify_project_id``)."""

    msg_fmt = "Project ID {project_id} is not a valid project."


def verify_project(session: Session, project_id: str) -> None:
    if len(project_id) > 64 or session.get(Project, project_id) is None:
        raise InvalidProject(project_id=project_id)


def project_usage(
    session: Session, project_id: str, names: Iterable[str], user_id: str | None = None
) -> dict[str, engine.Usage]:
    return engine.usage(session, project_id, user_id, list(names), runtime().settings)
