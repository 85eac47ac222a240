"""The ``expires_at`` of what a user makes to expire (trusts, application credentials), read as Keystone reads it."""

from __future__ import annotations

from datetime import UTC, datetime

from common.exceptions import BadRequest

BAD_TIMESTAMP = (
    "Timestamp not in expected format. The server could not comply with the request since it is either malformed "
    "or otherwise incorrect. The client is assumed to be in error."
)


def future_expiry(raw: str | None) -> datetime | None:
    """ISO 8601, UTC when no zone is given; Keystone's two 400s for a bad or a past time.

    A zone can carry a valid local time past year 9999 once in UTC (``9999-12-31T23:59:59-23:59``): that is a
    bad timestamp too, not the ``OverflowError`` (and 500) converting it would raise."""
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError, TypeError):
        raise BadRequest(BAD_TIMESTAMP) from None
    if moment <= datetime.now(UTC):
        raise BadRequest("The 'expires_at' must not be before now.")
    return moment
