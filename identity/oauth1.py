"""OS-OAUTH1 consumers: applications a user may delegate roles to through OAuth 1.0a (Keystone's extension).

A consumer is an id, a description, any extra attributes and a secret. The secret is generated here, shown once
in the creation response and stored only as a hash (as passwords and application credentials' secrets), so the
database never holds a secret that signs requests. The delegation flow (request tokens, authorisation, access
tokens) is not built: only the consumers' registry is.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.exceptions import NotFound
from identity.models import OAuth1Consumer

SECRET_BYTES = 32
"""Random bytes of a generated consumer secret (43 URL-safe characters, as long as Keystone's uuid hex and more)."""


def generate_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def get(session: Session, consumer_id: str) -> OAuth1Consumer:
    found = session.get(OAuth1Consumer, consumer_id) if len(consumer_id) <= 64 else None
    if found is None:
        raise NotFound(kind="consumer", id=consumer_id)
    return found


def create(session: Session, fields: dict[str, Any], secret_hash: str) -> OAuth1Consumer:
    """A new consumer; ``fields`` is the validated request body (description and extra attributes)."""
    extra = {k: v for k, v in fields.items() if k != "description"}
    consumer = OAuth1Consumer(description=fields.get("description"), secret_hash=secret_hash, extra=extra)
    session.add(consumer)
    session.flush()
    return consumer


def update(session: Session, consumer_id: str, fields: dict[str, Any]) -> OAuth1Consumer:
    """Change the description and extra attributes; the secret never changes (the schema refuses one)."""
    consumer = get(session, consumer_id)
    if "description" in fields:
        consumer.description = fields["description"]
    extra = {k: v for k, v in fields.items() if k != "description"}
    if extra:
        consumer.extra = {**consumer.extra, **extra}
    session.flush()
    return consumer


def delete(session: Session, consumer_id: str) -> None:
    session.delete(get(session, consumer_id))


def list_all(session: Session) -> list[OAuth1Consumer]:
    return list(session.scalars(select(OAuth1Consumer).order_by(OAuth1Consumer.created_at, OAuth1Consumer.id)))
