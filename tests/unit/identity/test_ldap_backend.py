"""LDAP domains without a directory server: option checks, AD's enabled bits, the id mapping, and the shadow rows
and memberships kept from a fake directory (identity.backends.fake) on a real SQLite database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from common.db import Database
from common.exceptions import BadRequest
from common.settings import Settings, load
from identity import credentials, generation, ldap_options, ldap_shadow
from identity.backends.base import DirectoryGroup, DirectoryUnavailable, DirectoryUser
from identity.backends.fake import FakeDirectory
from identity.backends.ldap import enabled_from
from identity.models import Domain, Group, IdMapping, User, UserGroupMembership
from manage import migrate

BASE = "ou=People,dc=corp,dc=example"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = load({"STRATUS_STATE_DIR": str(tmp_path_factory.mktemp("ldap"))})
    migrate.upgrade(settings)
    return settings


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.effective_database_url)
    yield database
    database.dispose()


@pytest.fixture
def domain_id(db: Database, request: pytest.FixtureRequest) -> str:
    with db.session() as session:
        domain = Domain(name=request.node.name[:60])
        session.add(domain)
        session.flush()
        return domain.id


def _user(cn: str, name: str, enabled: bool = True, member_of: tuple[str, ...] = ()) -> DirectoryUser:
    return DirectoryUser(cn, name, f"cn={cn},{BASE}", enabled, f"{name}@corp.example", "", member_of)


def _group(cn: str, *members: str) -> DirectoryGroup:
    return DirectoryGroup(cn, cn, f"cn={cn},ou=Groups,dc=corp,dc=example", "", tuple(f"cn={m},{BASE}" for m in members))


def _names(db: Database, domain_id: str) -> dict[str, bool]:
    with db.session() as session:
        return {u.name: u.enabled for u in session.scalars(select(User).where(User.domain_id == domain_id))}


def _members(db: Database, group_id: str) -> set[str]:
    with db.session() as session:
        query = select(User.name).join(UserGroupMembership, UserGroupMembership.user_id == User.id)
        return set(session.scalars(query.where(UserGroupMembership.group_id == group_id)))


def test_options_are_normalised_from_keystone_conf_strings():
    config = ldap_options.checked(
        {
            "identity": {"driver": "ldap", "list_limit": "10"},
            "ldap": {"use_tls": "True", "page_size": "50", "user_enabled_mask": 2, "user_enabled_default": 512},
        }
    )
    assert config["identity"]["list_limit"] == 10
    assert config["ldap"] == {"use_tls": True, "page_size": 50, "user_enabled_mask": 2, "user_enabled_default": "512"}


@pytest.mark.parametrize(
    "options",
    [
        {"url": "ldap://"},
        {"url": "not a url"},
        {"url": "ldap://host:99999"},
        {"suffix": "dc=corp,,="},
        {"user_tree_dn": "People"},
        {"user_filter": "objectClass=person"},
        {"group_filter": "(&(a=b)"},
        {"user_id_attribute": "cn)(uid=*"},
        {"page_size": -1},
        {"page_size": True},
        {"user_enabled_invert": "sometimes"},
        {"query_scope": "base"},
        {"tls_req_cert": "hope"},
        {"user": "cn=a\x00,dc=b"},
    ],
)
def test_bad_options_are_a_400(options):
    with pytest.raises(BadRequest):
        ldap_options.checked({"ldap": options})


def test_the_bind_password_is_sealed_and_unsealed_with_the_credential_keys(tmp_path):
    keys = credentials.open_keys(tmp_path / "keys")
    stored = ldap_options.sealed({"ldap": {"password": "s3cret", "url": "ldap://x"}}, keys)
    assert stored["ldap"]["password"].startswith(ldap_options.SEALED) and "s3cret" not in stored["ldap"]["password"]
    assert ldap_options.sealed(stored, keys) == stored  # already sealed: not sealed twice
    assert ldap_options.unsealed_password(stored["ldap"], keys) == "s3cret"


@pytest.mark.parametrize(
    ("raw", "options", "enabled"),
    [
        ("512", {"user_enabled_mask": 2}, True),  # AD: a normal account
        ("514", {"user_enabled_mask": 2}, False),  # AD: ACCOUNTDISABLE set
        (None, {"user_enabled_mask": 2, "user_enabled_default": "512"}, True),
        ("garbage", {"user_enabled_mask": 2}, False),
        ("TRUE", {}, True),
        ("false", {}, False),
        ("true", {"user_enabled_invert": True}, False),
        (None, {"user_enabled_default": "False"}, False),
    ],
)
def test_enabled_is_read_as_keystone_reads_it(raw, options, enabled):
    assert enabled_from(raw, options) is enabled


def test_public_ids_are_stable_and_distinct_per_domain_and_type():
    assert ldap_shadow.public_id("d", "alice", "user") == ldap_shadow.public_id("d", "alice", "user")
    ids = {ldap_shadow.public_id(*t) for t in [("d", "alice", "user"), ("d", "alice", "group"), ("e", "alice", "user")]}
    assert len(ids) == 3 and all(len(i) == 64 for i in ids)


def test_refresh_mirrors_users_groups_and_both_kinds_of_membership(db, domain_id):
    fake = FakeDirectory(domain_id)
    fake.add_user(_user("A", "alice"), "pw")
    fake.add_user(_user("B", "bob", enabled=False), "pw")
    fake.add_user(_user("C", "carol", member_of=("cn=ops,ou=Groups,dc=corp,dc=example",)), "pw")
    fake.groups = {"devs": _group("devs", "A", "B"), "ops": _group("ops")}
    with db.session() as session:
        ldap_shadow.refresh_domain(session, domain_id, fake)

    devs = ldap_shadow.public_id(domain_id, "devs", "group")
    ops = ldap_shadow.public_id(domain_id, "ops", "group")
    assert _names(db, domain_id) == {"alice": True, "bob": False, "carol": True}
    assert _members(db, devs) == {"alice", "bob"} and _members(db, ops) == {"carol"}
    with db.session() as session:
        mapping = session.get(IdMapping, ldap_shadow.public_id(domain_id, "A", "user"))
        assert mapping is not None and mapping.local_id == "A" and mapping.entity_type == "user"

    # alice leaves devs and bob leaves the directory: bob is disabled (his row and grants stay), devs has nobody
    fake.groups["devs"] = _group("devs")
    del fake.users["B"]
    with db.session() as session:
        ldap_shadow.refresh_domain(session, domain_id, fake)
    assert _names(db, domain_id) == {"alice": True, "bob": False, "carol": True}
    assert _members(db, devs) == set() and _members(db, ops) == {"carol"}


def test_an_unchanged_directory_does_not_bump_the_identity_generation(db, domain_id):
    fake = FakeDirectory(domain_id)
    fake.add_user(_user("A", "alice"), "pw")
    fake.groups = {"devs": _group("devs", "A")}
    with db.session() as session:
        ldap_shadow.refresh_domain(session, domain_id, fake)
    with db.session() as session:
        before = generation.current(session)
    with db.session() as session:
        ldap_shadow.refresh_domain(session, domain_id, fake)
    with db.session() as session:
        assert generation.current(session) == before


def test_sign_in_refresh_follows_the_directory_membership(db, domain_id):
    fake = FakeDirectory(domain_id)
    alice = _user("A", "alice")
    fake.add_user(alice, "pw")
    fake.groups = {"devs": _group("devs", "A"), "ops": _group("ops", "A")}
    with db.session() as session:
        pid = ldap_shadow.refresh_signed_in(session, domain_id, fake, alice)
    assert pid == ldap_shadow.public_id(domain_id, "A", "user")
    fake.groups["ops"] = _group("ops")
    with db.session() as session:
        ldap_shadow.refresh_signed_in(session, domain_id, fake, alice)
        groups = set(
            session.scalars(select(Group.name).join(UserGroupMembership).where(UserGroupMembership.user_id == pid))
        )
    assert groups == {"devs"}


def test_a_name_taken_by_another_entry_is_not_shadowed_twice(db, domain_id):
    with db.session() as session:
        first = ldap_shadow.ensure_user(session, domain_id, _user("A", "alice"))
        second = ldap_shadow.ensure_user(session, domain_id, _user("A2", "alice"))
    assert first is not None and second is None


def test_a_fake_directory_that_is_down_raises_unavailable_not_empty(db, domain_id):
    fake = FakeDirectory(domain_id)
    fake.down = True
    with pytest.raises(DirectoryUnavailable) as raised, db.session() as session:
        ldap_shadow.refresh_domain(session, domain_id, fake)
    assert raised.value.code == 503
    assert not fake.authenticate(_user("A", "alice"), "") and _names(db, domain_id) == {}


def test_a_list_by_name_shadows_only_the_entries_of_that_name(db, domain_id):
    fake = FakeDirectory(domain_id)
    fake.add_user(_user("A", "alice"), "pw")
    fake.add_user(_user("B", "bob"), "pw")
    fake.groups = {"devs": _group("devs", "A"), "ops": _group("ops")}
    with db.session() as session:
        ldap_shadow.refresh_domain(session, domain_id, fake, name="devs")
        ldap_shadow.refresh_domain(session, domain_id, fake, name="alice")
        groups = set(session.scalars(select(Group.name).where(Group.domain_id == domain_id)))
    assert groups == {"devs"} and _names(db, domain_id) == {"alice": True}
