"""Keystone's ``[security_compliance]`` password policies, and the user options that exempt a user from them.

Every path that sets or checks a password goes through here, so the rules hold the same way whoever calls:

* **Setting a password** (:func:`set_password`): by an admin (user create, ``PATCH /v3/users/{id}``) or by the
  user themself (``POST /v3/users/{id}/password``). It stamps when the password expires
  (``password_expires_days``), whether it must be changed before a token is given (``change_password_upon_first_use``,
  admin-set only), whether the user chose it (``minimum_password_age`` holds only then, as in Keystone, so an admin's
  reset can be changed at once), and adds its hash to the history.
* **New passwords** must match ``password_regex`` (:func:`check_new_password`), whoever sets them.
* **A self-service change** (:func:`check_self_service_change`) is refused when the user's ``lock_password`` option
  is set, before ``minimum_password_age`` days, or when the new password is one of the last
  ``unique_last_password_count`` (an admin's reset is held to none of the three, as in Keystone).
* **A password sign-in** (:func:`check_sign_in`, after the password was found right): a user inactive for
  ``disable_user_account_days_inactive`` days is disabled there and then; an expired password is refused with
  Keystone's 401, and the user can still change it (the change route authenticates with the old password).

Expiry is stored with each password when it is set, as Keystone stores it: turning the setting on does not expire
every old password at once (which would lock out every user, admins included). The options, by contrast, are read
at every check, so setting ``ignore_password_expiry`` on a user ends an expiry already stamped.

The cloud's own service account (``common.accounts.SERVICE_USER`` in the default domain) is exempt from expiry,
change on first use, the minimum age, inactivity and the lockout: host agents sign in with it unattended, and
nobody would be there to change its password (the operator sets it, through bootstrap, which no policy holds).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from common.accounts import SERVICE_USER
from common.db import Database, utcnow
from common.exceptions import BadRequest, Unauthorized, ValidationError
from common.settings import Settings
from identity.models import DEFAULT_DOMAIN_ID, PasswordHistory, User
from identity.passwords import verify_password

IGNORE_CHANGE_PASSWORD = "ignore_change_password_upon_first_use"
IGNORE_PASSWORD_EXPIRY = "ignore_password_expiry"
IGNORE_LOCKOUT = "ignore_lockout_failure_attempts"
LOCK_PASSWORD = "lock_password"
IGNORE_INACTIVITY = "ignore_user_inactivity"
MFA_ENABLED = "multi_factor_auth_enabled"
OPTIONS = (
    IGNORE_CHANGE_PASSWORD,
    IGNORE_PASSWORD_EXPIRY,
    IGNORE_LOCKOUT,
    LOCK_PASSWORD,
    IGNORE_INACTIVITY,
    MFA_ENABLED,
)
"""Keystone's boolean user options: each honoured, but for ``multi_factor_auth_enabled``, which may only be false
(``openstack user set --disable-multi-factor-auth``): true, or rules (``multi_factor_auth_rules``), are refused
rather than stored, since nothing here would enforce a second factor."""


class PasswordExpired(Unauthorized):
    msg_fmt = "The password is expired and needs to be changed for user: {user_id}."


class UserDisabled(Unauthorized):
    msg_fmt = "The account is disabled for user: {user_id}."


class PasswordRequirementsError(BadRequest):
    msg_fmt = "The password does not match the requirements: {detail}."


class PasswordHistoryError(BadRequest):
    msg_fmt = (
        "The new password cannot be identical to a previous password. The total number which includes the new "
        "password must be unique is {unique_count}."
    )


class PasswordAgeError(BadRequest):
    msg_fmt = (
        "You cannot change your password at this time due to the minimum password age. Once you change your "
        "password, it must be used for {min_age_days} day(s) before it can be changed. Please try again in "
        "{days_left} day(s) or contact your administrator to reset your password."
    )


class PasswordSelfServiceDisabled(BadRequest):
    msg_fmt = (
        "You cannot change your password at this time due to password policy disallowing password changes. "
        "Please contact your administrator to reset your password."
    )


# ---------------------------------------------------------------------------------------------------------------
# User options


def validated_options(raw: Any) -> dict[str, bool | None]:
    """The ``options`` of a user create or update, checked as Keystone does: known names only, each a boolean or
    null (null removes the option). 400 naming the field otherwise."""
    if not isinstance(raw, dict):
        raise ValidationError(field="options", reason="must be an object")
    for name, value in raw.items():
        if (name == "multi_factor_auth_rules" and value is not None) or (name == MFA_ENABLED and value is True):
            raise ValidationError(field=f"options.{name}", reason="multi-factor authentication is not supported")
        if name == "multi_factor_auth_rules":
            continue  # null: nothing to remove
        if name not in OPTIONS:
            raise ValidationError(field=f"options.{name}", reason=f"unknown option; known: {', '.join(OPTIONS)}")
        if value is not None and not isinstance(value, bool):
            raise ValidationError(field=f"options.{name}", reason="must be true, false or null")
    return raw


def merged_options(current: dict[str, Any] | None, changes: dict[str, bool | None]) -> dict[str, bool]:
    """The stored options after an update: given ones replace, null ones are removed, others stay."""
    merged = {k: v for k, v in (current or {}).items() if k in OPTIONS}
    for name, value in changes.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def _option(user: User, name: str) -> bool:
    return (user.options or {}).get(name) is True


def is_service_account(user: User) -> bool:
    return user.name == SERVICE_USER and user.domain_id == DEFAULT_DOMAIN_ID


def ignores_lockout(options: dict[str, Any] | None) -> bool:
    """The user's ``ignore_lockout_failure_attempts``: failed sign-ins never lock them (their address still counts)."""
    return (options or {}).get(IGNORE_LOCKOUT) is True


# ---------------------------------------------------------------------------------------------------------------
# Setting passwords


def check_new_password(settings: Settings, password: str) -> None:
    """A new password must match ``password_regex`` (from its start, Python's ``re.match`` as Keystone's); the
    description is the message. The regex was compiled when the settings loaded, so it cannot fail here."""
    if settings.password_regex and not re.match(settings.password_regex, password):
        detail = settings.password_regex_description or "it does not match this cloud's password_regex"
        raise PasswordRequirementsError(detail=detail.rstrip("."))


def set_password(session: Session, settings: Settings, user: User, password_hash: str, *, chosen_by_user: bool) -> None:
    """Store a new password hash with what the policies need to know about it. ``chosen_by_user``: the user set it
    (their own change, or an admin setting their own password); else an admin created or reset it, and under
    ``change_password_upon_first_use`` the user must change it before getting a token."""
    now = utcnow()
    user.password_hash, user.password_changed_at = password_hash, now
    user.password_self_service = chosen_by_user
    exempt = is_service_account(user)
    first_use = settings.change_password_upon_first_use and not _option(user, IGNORE_CHANGE_PASSWORD)
    user.password_must_change = not chosen_by_user and first_use and not exempt
    days = settings.password_expires_days
    expires = days and not exempt and not _option(user, IGNORE_PASSWORD_EXPIRY)
    user.password_expires_at = (now + timedelta(days=days)).replace(microsecond=0) if expires else None
    if chosen_by_user:
        _mark_active(settings, user, now.date())  # the change proved the user is there
    _remember(session, settings, user, password_hash, now)


def _remember(session: Session, settings: Settings, user: User, password_hash: str, now: datetime) -> None:
    """Add the hash to the history and drop what is older than the last ``unique_last_password_count`` (at least
    the current one is kept, so a history turned on later already knows it)."""
    if user.id is None:
        session.flush()  # a user being created: its id comes with the flush
    session.add(PasswordHistory(user_id=user.id, password_hash=password_hash, created_at=now))
    session.flush()
    keep = max(settings.unique_last_password_count, 1)
    kept = select(PasswordHistory.id).where(PasswordHistory.user_id == user.id)
    kept = kept.order_by(PasswordHistory.id.desc()).limit(keep)
    ids = list(session.scalars(kept))
    session.execute(delete(PasswordHistory).where(PasswordHistory.user_id == user.id, PasswordHistory.id.not_in(ids)))


def check_self_service_change(db: Database, settings: Settings, user_id: str, new_password: str, rounds: int) -> None:
    """What Keystone checks before a user changes their own password (after the original one was found right), in
    its order: inactivity (401, as its sign-in), the regex, ``lock_password``, the minimum age (only of a password
    the user chose), then the history (the slow part: one hash per entry, run outside any transaction). Raise the
    400 that says which."""
    check_active(db, settings, user_id)
    check_new_password(settings, new_password)
    with db.session() as session:
        user = session.get(User, user_id)
        if user is None:
            return  # the caller answers for a missing user
        if _option(user, LOCK_PASSWORD):
            raise PasswordSelfServiceDisabled()
        min_age = settings.minimum_password_age
        if min_age and user.password_self_service and user.password_changed_at and not is_service_account(user):
            allowed_at = user.password_changed_at + timedelta(days=min_age)
            now = utcnow()
            if now < allowed_at:
                raise PasswordAgeError(min_age_days=min_age, days_left=max((allowed_at - now).days, 1))
        count = settings.unique_last_password_count
        hashes: list[str] = []
        if count > 0:
            query = select(PasswordHistory.password_hash).where(PasswordHistory.user_id == user_id)
            hashes = list(session.scalars(query.order_by(PasswordHistory.id.desc()).limit(count)))
    for stored in hashes:
        if verify_password(new_password, stored, rounds):
            raise PasswordHistoryError(unique_count=count)


# ---------------------------------------------------------------------------------------------------------------
# Signing in, and what users and tokens show


def password_expires_at(user: User) -> datetime | None:
    """When the user's password expires as the API shows it (``password_expires_at``): the stamped expiry, or the
    moment it was set when it must be changed on first use (Keystone stamps that as its expiry); None when exempt."""
    if is_service_account(user) or _option(user, IGNORE_PASSWORD_EXPIRY):
        return None
    if user.password_must_change and not _option(user, IGNORE_CHANGE_PASSWORD):
        return user.password_changed_at or user.password_expires_at
    return user.password_expires_at


def shown(moment: datetime | None) -> str | None:
    """Keystone's format for ``password_expires_at`` (its api-ref: microseconds, no zone)."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


_COMPARATORS: dict[str, Callable[[datetime, datetime], bool]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
    "eq": operator.eq,
    "neq": operator.ne,
}


class InvalidOperator(BadRequest):
    msg_fmt = (
        "The given operator {op} is not valid. It must be one of the following: 'eq', 'neq', 'lt', 'lte', 'gt', "
        "or 'gte'."
    )


class InvalidTimestamp(BadRequest):
    msg_fmt = (
        "Timestamp not in expected format. The server could not comply with the request since it is either "
        "malformed or otherwise incorrect. The client is assumed to be in error."
    )


def expiry_filter(raw: str) -> Callable[[User], bool]:
    """Keystone's ``GET /v3/users?password_expires_at={operator}:{timestamp}`` (operator lt, lte, gt, gte, eq or
    neq, eq when none; timestamp ``YYYY-MM-DDTHH:mm:ssZ``): which users it keeps, by their shown expiry (a user
    whose password never expires matches none)."""
    name, _, rest = raw.partition(":")
    if name.isalpha():
        if name not in _COMPARATORS:
            raise InvalidOperator(op=name[:32])
        compare, moment = _COMPARATORS[name], rest
    else:
        compare, moment = operator.eq, raw
    try:
        when = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidTimestamp() from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)

    def keep(user: User) -> bool:
        expires = password_expires_at(user)
        return expires is not None and compare(expires.replace(microsecond=0), when)

    return keep


def _inactive(settings: Settings, user: User, today: date) -> bool:
    days = settings.disable_user_account_days_inactive
    if not days or is_service_account(user) or _option(user, IGNORE_INACTIVITY):
        return False
    last = user.last_active_at or (user.created_at.date() if user.created_at else today)
    return (today - last).days >= days


def check_active(db: Database, settings: Settings, user_id: str) -> None:
    """After a right password (a sign-in's, or a password change's original one, as Keystone authenticates both):
    a user inactive too long is disabled there and then (committed) and refused with Keystone's 401."""
    if not settings.disable_user_account_days_inactive:
        return
    with db.session() as session:
        user = session.get(User, user_id)
        inactive = user is not None and _inactive(settings, user, utcnow().date())
        if user is not None and inactive:
            user.enabled = False
    if inactive:
        raise UserDisabled(user_id=user_id)


def _mark_active(settings: Settings, user: User, today: date) -> None:
    """Today is the user's last active day: written once a day, and only while the inactivity policy is on (each
    write of a user renews every worker's identity cache)."""
    if settings.disable_user_account_days_inactive and user.last_active_at != today:
        user.last_active_at = today


def check_sign_in(db: Database, settings: Settings, user_id: str) -> None:
    """After a right password of an enabled user: disable a user inactive too long (:func:`check_active`), refuse an
    expired password (401, Keystone's message), else note today as the user's last active day."""
    check_active(db, settings, user_id)
    now = utcnow()
    with db.session() as session:
        user = session.get(User, user_id)
        if user is None:
            raise Unauthorized()
        expires = password_expires_at(user)
        if expires is not None and now >= expires:
            raise PasswordExpired(user_id=user_id)
        _mark_active(settings, user, now.date())


def enabled_again(user: User) -> None:
    """An admin enabled the user: their inactivity counts from today, or they would be disabled again at once."""
    user.last_active_at = utcnow().date()
