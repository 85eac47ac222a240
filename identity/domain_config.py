"""Domain-specific identity settings (Keystone's domain configuration API), stored for an LDAP backend to read.

A domain may override the ``identity`` driver and the ``ldap`` connection settings of ``keystone.conf``; nothing
else. The options a domain may set, and their defaults, are Keystone's own (``keystone/conf/identity.py`` and
``keystone/conf/ldap.py``), so a configuration written for Keystone means the same here. ``ldap.password`` is
*sensitive*: stored like the others, but never shown by the API (Keystone hides it the same way).

Errors follow Keystone: an unknown group or option is ``InvalidDomainConfig``, a 403; asking for a group or option
the domain has not set is a 404.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy.orm import Session

from common.exceptions import Forbidden, NotFound
from identity.models import DomainConfig

Config = dict[str, dict[str, Any]]

DEFAULTS: Config = {
    "identity": {"driver": "sql", "list_limit": None},
    "ldap": {
        "url": "ldap://localhost",
        "user": None,
        "suffix": "cn=example,cn=com",
        "query_scope": "one",
        "page_size": 0,
        "alias_dereferencing": "default",
        "debug_level": None,
        "chase_referrals": None,
        "user_tree_dn": None,
        "user_filter": None,
        "user_objectclass": "inetOrgPerson",
        "user_id_attribute": "cn",
        "user_name_attribute": "sn",
        "user_description_attribute": "description",
        "user_mail_attribute": "mail",
        "user_pass_attribute": "userPassword",
        "user_enabled_attribute": "enabled",
        "user_enabled_invert": False,
        "user_enabled_mask": 0,
        "user_enabled_default": "True",
        "user_attribute_ignore": ["default_project_id"],
        "user_default_project_id_attribute": None,
        "user_enabled_emulation": False,
        "user_enabled_emulation_dn": None,
        "user_enabled_emulation_use_group_config": False,
        "user_additional_attribute_mapping": [],
        "group_tree_dn": None,
        "group_filter": None,
        "group_objectclass": "groupOfNames",
        "group_id_attribute": "cn",
        "group_name_attribute": "ou",
        "group_member_attribute": "member",
        "group_members_are_ids": False,
        # Keystone's AD option; here it also reads membership from the users' memberOf (identity.backends.ldap)
        "group_ad_nesting": False,
        "group_desc_attribute": "description",
        "group_attribute_ignore": [],
        "group_additional_attribute_mapping": [],
        "tls_cacertfile": None,
        "tls_cacertdir": None,
        "use_tls": False,
        "tls_req_cert": "demand",
        "use_pool": True,
        "pool_size": 10,
        "pool_retry_max": 3,
        "pool_retry_delay": 0.1,
        "pool_connection_timeout": -1,
        "pool_connection_lifetime": 600,
        "use_auth_pool": True,
        "auth_pool_size": 100,
        "auth_pool_connection_lifetime": 60,
    },
}
"""Every option a domain may set and show, with Keystone's default (its ``WHITELISTED_OPTIONS``)."""

SENSITIVE: dict[str, set[str]] = {"identity": set(), "ldap": {"password"}}
"""Options a domain may set but nobody may read back through the API."""


def check_group_and_option(group: str, option: str | None = None) -> None:
    """403 for a group or option no domain may configure, as Keystone's ``InvalidDomainConfig``."""
    if group not in DEFAULTS:
        raise Forbidden(
            f"Invalid domain specific configuration: Group {group} is not supported for domain specific configurations."
        )
    if option is not None and option not in DEFAULTS[group] and option not in SENSITIVE[group]:
        raise Forbidden(
            f"Invalid domain specific configuration: Option {option} in group {group} is not supported "
            "for domain specific configurations."
        )


def check_config(config: Any, group: str | None = None, option: str | None = None) -> None:
    """A body's ``config``: whole (``{group: {option: value}}``), one group's, or one option's (``{option: v}``).

    Updating a group or an option names exactly that group or option in the body (403 otherwise, as Keystone).
    """
    if not isinstance(config, dict) or not config:
        raise Forbidden("Invalid domain specific configuration: No options specified.")
    if option is not None:
        if set(config) != {option}:
            raise Forbidden(
                f"Trying to update option {option} in group {group}, so that, and only that, option "
                "must be specified in the config."
            )
        return
    if group is not None and set(config) != {group}:
        raise Forbidden(
            f"Trying to update group {group}, so that, and only that, group must be specified in the config."
        )
    for name, options in config.items():
        check_group_and_option(name)
        if not isinstance(options, dict) or not options:
            raise Forbidden(
                f"Invalid domain specific configuration: The value of group {name} specified in the "
                "config should be a dictionary of options."
            )
        for key in options:
            check_group_and_option(name, key)


def visible(config: Config) -> Config:
    """The stored configuration without its sensitive options (and without groups left with none)."""
    shown = {g: {k: v for k, v in opts.items() if k not in SENSITIVE.get(g, set())} for g, opts in config.items()}
    return {g: opts for g, opts in shown.items() if opts}


def stored(session: Session, domain_id: str) -> Config:
    """The full stored configuration, sensitive options included: what an LDAP backend reads. {} when none."""
    row = session.get(DomainConfig, domain_id)
    return copy.deepcopy(row.config) if row is not None else {}


def replace(session: Session, domain_id: str, config: Config) -> bool:
    """Store ``config`` as the domain's whole configuration; True when it had none before."""
    row = session.get(DomainConfig, domain_id)
    if row is None:
        session.add(DomainConfig(domain_id=domain_id, config=copy.deepcopy(config)))
        return True
    row.config = copy.deepcopy(config)
    return False


def update(
    session: Session, domain_id: str, config: Config, group: str | None = None, option: str | None = None
) -> Config:
    """Merge ``config`` (already checked, whole form) into the stored configuration, option by option.

    404 when the domain has no configuration, or when the group or option being updated is not set (Keystone
    updates only what exists there; a new group or option comes in through the whole configuration).
    """
    current = stored(session, domain_id)
    if not current:
        raise NotFound(f"Could not find domain config for domain {domain_id}.")
    if group is not None and (group not in current or (option is not None and option not in current[group])):
        raise NotFound(_missing(domain_id, group, option))
    for group, options in config.items():
        current.setdefault(group, {}).update(options)
    replace(session, domain_id, current)
    return current


def remove(session: Session, domain_id: str, group: str | None = None, option: str | None = None) -> None:
    """Delete the whole configuration, a group, or one option; 404 when that is not set."""
    current = stored(session, domain_id)
    row = session.get(DomainConfig, domain_id)
    if row is None:
        raise NotFound(f"Could not find domain config for domain {domain_id}.")
    if group is None:
        session.delete(row)
        return
    if group not in current or (option is not None and option not in current[group]):
        raise NotFound(_missing(domain_id, group, option))
    if option is None:
        del current[group]
    else:
        del current[group][option]
        if not current[group]:
            del current[group]
    if current:
        row.config = current
    else:
        session.delete(row)


def _missing(domain_id: str, group: str, option: str | None) -> str:
    what = f"option {option} in group {group}" if option else f"group {group}"
    return f"Could not find {what} in the domain config for domain {domain_id}."


def shown(config: Config, domain_id: str, group: str | None = None, option: str | None = None) -> dict[str, Any]:
    """What GET shows of the (visible) configuration: all of it, a group (``{group: {...}}``) or ``{option: v}``."""
    config = visible(config)
    if not config:
        raise NotFound(f"Could not find domain config for domain {domain_id}.")
    if group is None:
        return config
    if group not in config or (option is not None and option not in config[group]):
        raise NotFound(_missing(domain_id, group, option))
    if option is None:
        return {group: config[group]}
    return {option: config[group][option]}


def default(group: str | None = None, option: str | None = None) -> dict[str, Any]:
    """Keystone's defaults of the options a domain may set: all groups, one group, or one option."""
    if group is None:
        return copy.deepcopy(DEFAULTS)
    check_group_and_option(group, option)
    if option is None:
        return {group: copy.deepcopy(DEFAULTS[group])}
    if option not in DEFAULTS[group]:
        raise Forbidden(f"Reading the default for option {option} in group {group} is not supported.")
    return {option: copy.deepcopy(DEFAULTS[group][option])}
