"""An in-memory directory for fast tests of everything above the wire (the mapping, shadows, sign-in)."""

from __future__ import annotations

from identity.backends.base import DirectoryGroup, DirectoryUnavailable, DirectoryUser, IdentityDirectory


class FakeDirectory(IdentityDirectory):
    """Users with their passwords and groups held in dicts; ``down = True`` makes every call unavailable."""

    def __init__(self, domain_id: str = "fake", members_are_ids: bool = False, use_member_of: bool = False) -> None:
        self.domain_id = domain_id
        self.users: dict[str, DirectoryUser] = {}
        self.passwords: dict[str, str] = {}
        self.groups: dict[str, DirectoryGroup] = {}
        self.members_are_ids = members_are_ids
        self.use_member_of = use_member_of
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise DirectoryUnavailable(domain_id=self.domain_id, reason="the fake directory is down")

    def add_user(self, user: DirectoryUser, password: str) -> None:
        self.users[user.local_id] = user
        self.passwords[user.local_id] = password

    def list_users(self, name: str | None = None) -> list[DirectoryUser]:
        self._check()
        return [u for u in self.users.values() if name is None or u.name == name]

    def get_user(self, local_id: str) -> DirectoryUser | None:
        self._check()
        return self.users.get(local_id)

    def find_user(self, name: str) -> DirectoryUser | None:
        found = self.list_users(name)
        return found[0] if len(found) == 1 else None

    def authenticate(self, user: DirectoryUser, password: str) -> bool:
        if not password:
            return False  # as the real one: no bind at all for an empty password
        self._check()
        return self.passwords.get(user.local_id) == password

    def list_groups(self, name: str | None = None) -> list[DirectoryGroup]:
        self._check()
        return [g for g in self.groups.values() if name is None or g.name == name]

    def groups_of(self, user: DirectoryUser) -> list[DirectoryGroup]:
        self._check()
        key = user.local_id if self.members_are_ids else user.dn
        return [
            g
            for g in self.groups.values()
            if key in g.members or (self.use_member_of and g.dn.lower() in {d.lower() for d in user.member_of})
        ]
