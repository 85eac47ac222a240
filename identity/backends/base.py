"""The contract of a directory that a domain's users and groups are read from (read-only).

A directory knows entries by their *local id* (the value of ``user_id_attribute`` / ``group_id_attribute``) and
their DN; the rest of Stratus knows them by the public id that ``identity.ldap_shadow`` maps those to. Every
method either answers or raises :class:`DirectoryUnavailable`: a directory that cannot be reached, or refuses the
configured bind account, is never mistaken for "no such user" (that would turn an outage into 404s and 401s).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from common.exceptions import ServiceUnavailable


class DirectoryUnavailable(ServiceUnavailable):
    """The directory could not answer (down, timed out, or the bind account refused); nothing was changed."""

    msg_fmt = "The identity directory of domain {domain_id} is unavailable: {reason}"


@dataclass(frozen=True)
class DirectoryUser:
    """A user entry as the domain's attribute mapping reads it."""

    local_id: str
    name: str
    dn: str
    enabled: bool = True
    email: str | None = None
    description: str = ""
    member_of: tuple[str, ...] = ()
    """DNs of the groups the entry itself names (AD's ``memberOf``), read only with ``group_ad_nesting``."""


@dataclass(frozen=True)
class DirectoryGroup:
    """A group entry; ``members`` are DNs, or user local ids when ``group_members_are_ids``."""

    local_id: str
    name: str
    dn: str
    description: str = ""
    members: tuple[str, ...] = field(default=())


class IdentityDirectory(ABC):
    """Read access to one domain's directory. Names passed in are user input: implementations escape them."""

    @abstractmethod
    def list_users(self, name: str | None = None) -> list[DirectoryUser]:
        """Every user under the user tree matching the user filter (and exactly ``name`` when given)."""

    @abstractmethod
    def get_user(self, local_id: str) -> DirectoryUser | None:
        """The user with this local id, or None."""

    @abstractmethod
    def find_user(self, name: str) -> DirectoryUser | None:
        """The user whose name attribute is exactly ``name``; None when there is none or more than one."""

    @abstractmethod
    def authenticate(self, user: DirectoryUser, password: str) -> bool:
        """Whether ``password`` binds as the user's DN. An empty password is False without any bind (an empty
        password is an anonymous bind to most directories: it would prove nothing)."""

    @abstractmethod
    def list_groups(self, name: str | None = None) -> list[DirectoryGroup]:
        """Every group under the group tree matching the group filter (and exactly ``name`` when given)."""

    @abstractmethod
    def groups_of(self, user: DirectoryUser) -> list[DirectoryGroup]:
        """The groups the user is a direct member of: those whose member attribute names the user, plus (with
        ``group_ad_nesting``) those the user's own ``memberOf`` names."""
