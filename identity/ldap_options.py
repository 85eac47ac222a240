"""Checking a domain's ``identity`` and ``ldap`` options before they are stored, and reading them back.

A configuration that could only fail later (a mistyped DN, a URL without a host, an unbalanced filter, ``"ten"`` as
a page size) is a 400 at ``PUT /v3/domains/{id}/config``, never a 500 at the first sign-in. Two values are stored
as Keystone stores them, because Keystone (and Tempest's domain configuration tests) accept them at PUT: any
``identity.driver`` name (only ``ldap`` reads a directory; any other keeps the domain in SQL) and a URL of any
scheme (a domain whose LDAP URL is not ``ldap://`` or ``ldaps://`` answers 503 with that reason when used).
Booleans and integers are accepted as JSON values or as the strings ``keystone.conf`` would hold (``"True"``,
``"2"``) and stored as JSON values. The bind password is stored encrypted with the credential keys
(``identity.credentials``) and only decrypted when a directory connection is made.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import InvalidToken

from common.exceptions import BadRequest, ConfigError
from identity.backends.ldap import LDAPException, parse_dn, parse_filter
from identity.fernet import KeyRepository

SEALED = "fernet:"
"""Prefix of a stored, encrypted bind password."""

_DNS = {"user", "suffix", "user_tree_dn", "group_tree_dn", "user_enabled_emulation_dn"}
_FILTERS = {"user_filter", "group_filter"}
_BOOLS = {
    "user_enabled_invert",
    "user_enabled_emulation",
    "user_enabled_emulation_use_group_config",
    "group_members_are_ids",
    "group_ad_nesting",
    "use_tls",
    "use_pool",
    "use_auth_pool",
    "chase_referrals",
}
_INTS = {
    "page_size",
    "user_enabled_mask",
    "pool_size",
    "pool_retry_max",
    "pool_connection_lifetime",
    "auth_pool_size",
    "auth_pool_connection_lifetime",
    "debug_level",
}
_CHOICES = {
    "query_scope": {"one", "sub"},
    "tls_req_cert": {"demand", "never", "allow"},
    "alias_dereferencing": {"never", "searching", "always", "finding", "default"},
}
_ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]{0,63}|[0-9]+(?:\.[0-9]+)+)$")
"""An attribute or object class name (RFC 4512 descr, or a numeric OID)."""


def _bad(group: str, option: str, why: str) -> BadRequest:
    return BadRequest(f"Invalid domain specific configuration: option {option} in group {group} {why}.")


def _bool(group: str, option: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _bad(group, option, "must be a boolean")


def _int(group: str, option: str, value: Any, minimum: int = 0) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,12}", value.strip()):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _bad(group, option, f"must be an integer of at least {minimum}")
    return value


def _url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 1024:
        raise _bad("ldap", "url", "must be a URL")
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise _bad("ldap", "url", "must be a URL") from None
    if not parts.scheme or not parts.hostname:
        raise _bad("ldap", "url", "must be a URL with a scheme and a host")
    if (port is not None and not 0 < port < 65536) or parts.path not in ("", "/") or parts.query:
        raise _bad("ldap", "url", "must name only a scheme, a host and a port")
    return value.strip()


def _one(option: str, value: Any) -> Any:
    """One ``ldap`` option's value, checked and normalised."""
    if option in _BOOLS:
        return _bool("ldap", option, value)
    if option in _INTS:
        return _int("ldap", option, value, minimum=-1 if option.endswith("lifetime") else 0)
    if value is None:
        return None
    if option == "url":
        return _url(value)
    if option in _CHOICES:
        if value not in _CHOICES[option]:
            raise _bad("ldap", option, f"must be one of {', '.join(sorted(_CHOICES[option]))}")
        return value
    if option == "user_enabled_default":
        if isinstance(value, bool | int):
            return str(value)
        if not isinstance(value, str):
            raise _bad("ldap", option, "must be a string")
        return value
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise _bad("ldap", option, "must be a list of strings")
        return value
    if not isinstance(value, str) or len(value) > 1024 or "\x00" in value:
        raise _bad("ldap", option, "must be a string")
    if option in _DNS:
        try:
            parse_dn(value)
        except LDAPException:
            raise _bad("ldap", option, "is not a distinguished name") from None
    elif option in _FILTERS:
        try:
            parse_filter(value, None, auto_escape=False, auto_encode=False, validator=None, check_names=False)
        except (LDAPException, ValueError, TypeError):
            raise _bad("ldap", option, "is not an LDAP search filter") from None
    elif option.endswith(("_attribute", "_objectclass")) and not _ATTRIBUTE.match(value):
        raise _bad("ldap", option, "is not an attribute or object class name")
    return value


def checked(config: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The configuration with every ``identity`` and ``ldap`` value checked and normalised (400 otherwise)."""
    result = {group: dict(options) for group, options in config.items()}
    identity = result.get("identity", {})
    driver = identity.get("driver", "sql")
    if not isinstance(driver, str) or not 0 < len(driver) <= 255:
        raise _bad("identity", "driver", "must be a driver name")
    if "list_limit" in identity:
        identity["list_limit"] = _int("identity", "list_limit", identity["list_limit"])
    for option, value in result.get("ldap", {}).items():
        result["ldap"][option] = _one(option, value)
    return result


def sealed(config: dict[str, dict[str, Any]], keys: KeyRepository) -> dict[str, dict[str, Any]]:
    """The configuration as stored: the bind password encrypted with the credential keys."""
    password = config.get("ldap", {}).get("password")
    if not isinstance(password, str) or password.startswith(SEALED):
        return config
    return {
        **config,
        "ldap": {**config["ldap"], "password": SEALED + keys.fernet().encrypt(password.encode()).decode()},
    }


def unsealed_password(stored: dict[str, Any], keys: KeyRepository) -> str | None:
    """The bind password of a stored ``ldap`` group, decrypted; None when none is set."""
    password = stored.get("password")
    if not isinstance(password, str):
        return None
    if not password.startswith(SEALED):
        return password
    try:
        return keys.fernet().decrypt(password[len(SEALED) :].encode()).decode()
    except InvalidToken:
        raise ConfigError(setting="ldap.password", reason="sealed with a credential key that is gone") from None
