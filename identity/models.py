"""Identity records: domains, projects, users, roles, their assignments, and token revocations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Base, IdColumn, TimestampMixin, UTCDateTime, utcnow

DEFAULT_DOMAIN_ID = "default"


class Domain(TimestampMixin, Base):
    __tablename__ = "domains"

    id: Mapped[str] = IdColumn()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Project(TimestampMixin, Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)

    id: Mapped[str] = IdColumn()
    name: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id", ondelete="RESTRICT"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The project above this one in its domain's tree; None for a top-level project, whose parent is its domain
    # (Keystone shows that as ``parent_id``: the domain id). No ``ondelete``: a project with children cannot be
    # deleted (the API refuses), and a domain deletes its whole tree in one statement, checked at its end.
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"), default=None, index=True)


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)

    id: Mapped[str] = IdColumn()
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id", ondelete="RESTRICT"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    default_project_id: Mapped[str | None] = mapped_column(String(64), default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str | None] = mapped_column(String(255), default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Keystone's [security_compliance] state (identity.password_policy): the user's resource options
    # (ignore_password_expiry, lock_password...), when the current password expires (None: never), whether it must
    # be changed before a token is given (set by an admin under change_password_upon_first_use), whether the user
    # set it themself (minimum_password_age holds only then), and the last day the user signed in.
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    password_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    password_must_change: Mapped[bool] = mapped_column(Boolean, default=False)
    password_self_service: Mapped[bool] = mapped_column(Boolean, default=False)
    last_active_at: Mapped[date | None] = mapped_column(Date, default=None)


class Role(TimestampMixin, Base):
    """A global role (``domain_id`` None), or a domain-specific one (Keystone's): its name is unique in its domain
    only, and a token never carries it, only the global roles it implies (``identity.roles``)."""

    __tablename__ = "roles"
    __table_args__ = (
        # Names are unique per domain, and among global roles: a NULL domain_id never collides in a UNIQUE
        # constraint, so global roles get a partial index of their own (SQLite and PostgreSQL both have them).
        UniqueConstraint("domain_id", "name"),
        Index(
            "uq_roles_global_name",
            "name",
            unique=True,
            sqlite_where=text("domain_id IS NULL"),
            postgresql_where=text("domain_id IS NULL"),
        ),
    )

    id: Mapped[str] = IdColumn()
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    domain_id: Mapped[str | None] = mapped_column(
        ForeignKey("domains.id", ondelete="CASCADE"), default=None, index=True
    )


class ImpliedRole(Base):
    """``admin`` implies ``member`` implies ``reader``: a token carries the roles its assignments imply."""

    __tablename__ = "implied_roles"

    prior_role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)
    implied_role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class RoleAssignment(Base):
    """A user holds a role on a project or a domain (``target_type``)."""

    __tablename__ = "role_assignments"
    __table_args__ = (Index("ix_role_assignments_target", "target_id", "user_id"),)

    target_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class RevocationEvent(Base):
    """Tokens matching every non-null field and issued at or before ``issued_before`` are invalid.

    Kept in the database so a revocation survives restarts and reaches every API worker; an event can be
    pruned once every token it could match has expired (``prune_after``).
    """

    __tablename__ = "revocation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    project_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    issued_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    prune_after: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class IdentityGeneration(Base):
    """A counter bumped by every write to the identity tables, in the writing transaction.

    API workers memoise identity lookups (users, projects, roles, validated tokens) per generation: one
    read of this row tells a worker whether anything it remembers may have changed, in any process.
    """

    __tablename__ = "identity_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(Integer, default=0)


class AuthFailure(Base):
    """Failed password sign-ins counted against one key: a user (``user:``) or a client address (``address:``).

    Kept in the database, not in a worker's memory, so the count and the lock hold across every API process
    and restarts. ``key`` is the kind and a SHA-256 of what it counts, so a row names no address or user name
    in clear and has a fixed size. Not an identity table for the generation counter: a failure changes nothing
    a cached token depends on.
    """

    __tablename__ = "auth_failures"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # The count restarts when a failure comes more than the period after the first one counted.
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Group(TimestampMixin, Base):
    """Keystone's group: users gathered in a domain so one grant reaches all of them."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)

    id: Mapped[str] = IdColumn()
    name: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id", ondelete="RESTRICT"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class UserGroupMembership(Base):
    """A user is a member of a group; removed with either of them (the database cascades)."""

    __tablename__ = "user_group_memberships"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True)


class GroupRoleAssignment(Base):
    """A group holds a role on a project or a domain (``target_type``): every member holds it there too."""

    __tablename__ = "group_role_assignments"
    __table_args__ = (Index("ix_group_role_assignments_target", "target_id", "group_id"),)

    target_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class CatalogRegion(TimestampMixin, Base):
    """A region made through the API (``/v3/regions``). The configured region (``settings.region``) is built in
    and never stored: it follows the settings, as the rest of Stratus's own catalog does (``identity.catalog``).

    ``parent_region_id`` has no foreign key because a parent may be that built-in region; the API checks it.
    ``extra`` keeps the attributes Keystone keeps beside the known ones (``openstack region create`` sends
    ``enabled``).
    """

    __tablename__ = "catalog_regions"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    parent_region_id: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CatalogService(TimestampMixin, Base):
    """A service made through the API (``/v3/services``), beside Stratus's own built-in services."""

    __tablename__ = "catalog_services"

    id: Mapped[str] = IdColumn()
    type: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str | None] = mapped_column(Text, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CatalogEndpoint(TimestampMixin, Base):
    """An endpoint made through the API (``/v3/endpoints``), of a built-in service or of an API-made one.

    No foreign keys: ``service_id`` and ``region_id`` may name built-in entries, which are not rows. Deleting a
    service deletes its endpoints and a region with endpoints cannot be deleted, both checked by the API.
    """

    __tablename__ = "catalog_endpoints"

    id: Mapped[str] = IdColumn()
    service_id: Mapped[str] = mapped_column(String(64), index=True)
    interface: Mapped[str] = mapped_column(String(8))
    url: Mapped[str] = mapped_column(Text)
    region_id: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Credential(TimestampMixin, Base):
    """Keystone's credential: a secret a user keeps with the cloud (an EC2 key pair, a certificate, a TOTP seed).

    ``encrypted_blob`` is the blob as the client gave it, encrypted with the credential keys
    (``identity.credentials``), never with the token keys: token keys are pruned by rotation, while a blob must stay
    readable as long as it is stored. An EC2 credential's id is the SHA-256 of its access key, as in Keystone, so a
    signed EC2 request names its credential without a search. Removed with its user or its project (the database
    cascades).
    """

    __tablename__ = "credentials"

    id: Mapped[str] = IdColumn()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), default=None, index=True
    )
    type: Mapped[str] = mapped_column(String(255), index=True)
    encrypted_blob: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApplicationCredential(TimestampMixin, Base):
    """A secret a user hands to automation instead of their password (Keystone's application credential).

    It acts as its user on one project with a fixed subset of the roles the user held there when it was made;
    only ``secret_hash`` is kept (``identity.passwords``), the secret itself is shown once, at creation.
    ``unrestricted`` lets its tokens create and delete application credentials (and trusts): off by default.
    """

    __tablename__ = "application_credentials"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[str] = IdColumn()
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    secret_hash: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    unrestricted: Mapped[bool] = mapped_column(Boolean, default=False)


class ApplicationCredentialRole(Base):
    """A role an application credential's tokens carry on its project (with the roles it implies)."""

    __tablename__ = "app_cred_roles"

    credential_id: Mapped[str] = mapped_column(
        ForeignKey("application_credentials.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True, index=True)


class AccessRule(Base):
    """A (service, path, method) an application credential may be limited to; a user's rules are shared by
    their credentials and outlive them until deleted (Keystone's access rules)."""

    __tablename__ = "access_rules"
    __table_args__ = (UniqueConstraint("user_id", "service", "path", "method"),)

    id: Mapped[str] = IdColumn()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    service: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(16))


class ApplicationCredentialAccessRule(Base):
    """Which access rules an application credential carries; a rule in use cannot be deleted (RESTRICT)."""

    __tablename__ = "app_cred_access_rules"

    credential_id: Mapped[str] = mapped_column(
        ForeignKey("application_credentials.id", ondelete="CASCADE"), primary_key=True
    )
    access_rule_id: Mapped[str] = mapped_column(
        ForeignKey("access_rules.id", ondelete="RESTRICT"), primary_key=True, index=True
    )


class DomainConfig(Base):
    """A domain's own identity-driver settings (Keystone's domain configuration API): ``{group: {option: value}}``
    for the groups ``identity`` and ``ldap`` only. Stored whole, sensitive options (the LDAP bind password)
    included, so an LDAP identity backend can read it; the API never shows the sensitive ones."""

    __tablename__ = "domain_configs"

    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PolicyBlob(Base):
    """Keystone's ``/v3/policies``: an opaque policy document (``blob``, with its MIME ``type``) stored for other
    services to fetch. Stratus enforces none of them; its own rules are ``api.policy``."""

    __tablename__ = "policy_blobs"

    id: Mapped[str] = IdColumn()
    type: Mapped[str] = mapped_column(String(255))
    blob: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EndpointGroup(Base):
    """OS-EP-FILTER's endpoint group: the endpoints whose attributes match ``filters`` (``interface``,
    ``service_id``, ``region_id``), offered together to the projects associated with the group."""

    __tablename__ = "endpoint_groups"

    id: Mapped[str] = IdColumn()
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ProjectEndpointGroup(Base):
    """A project associated with an endpoint group (OS-EP-FILTER)."""

    __tablename__ = "project_endpoint_groups"

    endpoint_group_id: Mapped[str] = mapped_column(
        ForeignKey("endpoint_groups.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, index=True)


class ProjectEndpoint(Base):
    """An endpoint associated directly with a project (OS-EP-FILTER). ``endpoint_id`` has no foreign key: it may
    name a built-in endpoint, which is not a row (``identity.catalog``); deleting an API-made endpoint drops it."""

    __tablename__ = "project_endpoints"

    endpoint_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, index=True)


class InheritedRoleAssignment(Base):
    """OS-INHERIT: a user holds a role on every project below a domain or a project (``target_type``), not on
    the target itself. A table apart from ``RoleAssignment`` because it is not a grant on its target: every
    reader of direct grants stays right without knowing about inheritance (``identity.inheritance``)."""

    __tablename__ = "inherited_role_assignments"

    target_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class InheritedGroupRoleAssignment(Base):
    """OS-INHERIT for groups: every member holds the role on every project below the domain or project."""

    __tablename__ = "inherited_group_role_assignments"

    target_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class Trust(TimestampMixin, Base):
    """OS-TRUST's trust: the trustor delegates some of their roles on a project to the trustee, who signs in with a
    trust-scoped token carrying those roles (``identity.trusts``). Removed with either user or the project (the
    database cascades), as Keystone deletes the trusts of a deleted project; a deleted trust is gone, not marked."""

    __tablename__ = "trusts"

    id: Mapped[str] = IdColumn()
    trustor_user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    trustee_user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), default=None, index=True
    )
    impersonation: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    remaining_uses: Mapped[int | None] = mapped_column(Integer, default=None)
    """Tokens the trust may still issue; None is no limit. Taken one at a time by a compare-and-swap."""
    redelegation_count: Mapped[int] = mapped_column(Integer, default=0)


class TrustRole(Base):
    """A role a trust delegates (its tokens carry it and the roles it implies, while the trustor holds them)."""

    __tablename__ = "trust_roles"

    trust_id: Mapped[str] = mapped_column(ForeignKey("trusts.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True, index=True)


class OAuth1Consumer(TimestampMixin, Base):
    """OS-OAUTH1's consumer: an application that may ask users to delegate roles to it. Its secret is shown once,
    at creation, and only a hash of it is stored (as application credentials' secrets)."""

    __tablename__ = "oauth1_consumers"

    id: Mapped[str] = IdColumn()
    description: Mapped[str | None] = mapped_column(Text, default=None)
    secret_hash: Mapped[str] = mapped_column(String(255))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PasswordHistory(Base):
    """The hashes of a user's last passwords, the current one included, newest last: Keystone's
    ``unique_last_password_count`` refuses a self-service change to any of the last N (identity.password_policy)."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdMapping(Base):
    """Keystone's id_mapping: the stable public id of a user or group that lives in a domain's LDAP directory.

    The public id is derived from (domain, local id, entity type), so the same directory entry gets the same id in
    every process and after a restart; role assignments, memberships and tokens name it like any other id
    (identity.ldap_shadow keeps a row for it in ``users`` or ``groups``).
    """

    __tablename__ = "id_mappings"
    __table_args__ = (UniqueConstraint("domain_id", "local_id", "entity_type"),)

    public_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), index=True)
    local_id: Mapped[str] = mapped_column(String(255))
    entity_type: Mapped[str] = mapped_column(String(16))
