"""Compute records: flavors, key pairs, server groups, hosts and their claims, servers and their actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Base, TimestampMixin, UTCDateTime, new_uuid


class Flavor(TimestampMixin, Base):
    __tablename__ = "flavors"

    id: Mapped[str] = mapped_column(String(255), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    root_gb: Mapped[int] = mapped_column(Integer)
    ephemeral_gb: Mapped[int] = mapped_column(Integer, default=0)
    swap: Mapped[int] = mapped_column(Integer, default=0)
    rxtx_factor: Mapped[float] = mapped_column(Float, default=1.0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    extra_specs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class FlavorAccess(Base):
    """Which projects may use a private flavor."""

    __tablename__ = "flavor_access"

    flavor_id: Mapped[str] = mapped_column(ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class KeyPair(TimestampMixin, Base):
    __tablename__ = "key_pairs"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16), default="ssh")


class ServerGroup(TimestampMixin, Base):
    __tablename__ = "server_groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(32))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ServerGroupMember(Base):
    __tablename__ = "server_group_members"

    group_id: Mapped[str] = mapped_column(ForeignKey("server_groups.id", ondelete="CASCADE"), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)


class ComputeHost(TimestampMixin, Base):
    """A hypervisor host as its agent last reported it. Usage is never stored: it is the sum of allocations."""

    __tablename__ = "compute_hosts"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    service_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), default=None)
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False)
    last_heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(Integer, default=0)
    cpu_arch: Mapped[str] = mapped_column(String(32), default="x86_64")
    hypervisor_type: Mapped[str] = mapped_column(String(32), default="QEMU")
    hypervisor_version: Mapped[int] = mapped_column(Integer, default=0)
    host_ip: Mapped[str] = mapped_column(String(64), default="127.0.0.1")
    # The host's sequence number (``common.queue.host_seq``) of the newest report applied: an older one, handled
    # late by another scheduler copy, is dropped (``compute.control.hosts``).
    last_report_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The control side waits for this host's next report though nothing may have changed there (its periodic look
    # sends only changes): its next heartbeat asks for one (``compute.control.hosts``).
    report_wanted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    cpu_allocation_ratio: Mapped[float] = mapped_column(Float, default=4.0)
    ram_allocation_ratio: Mapped[float] = mapped_column(Float, default=1.0)
    disk_allocation_ratio: Mapped[float] = mapped_column(Float, default=1.0)
    # Bumped by every claim: the UPDATE that bumps it is what serialises claims on one host.
    claim_generation: Mapped[int] = mapped_column(Integer, default=0)
    fenced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    """When it became known that the host's guests no longer run (``compute.control.fencing``): an operator forced
    it down, the fence command succeeded, or an admin evacuated its servers. None while it is not fenced; cleared
    when an operator forces it up again. Its servers may be evacuated from then on (migration 0037)."""
    fenced_by: Mapped[str | None] = mapped_column(String(32), default=None)
    """How: ``operator`` (forced_down), ``fence_command``, ``evacuation`` (an admin's evacuate)."""


class Allocation(Base):
    """Resources an instance holds on a host. During a resize an instance holds two (``purpose``)."""

    __tablename__ = "allocations"

    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16), primary_key=True, default="instance")
    host: Mapped[str] = mapped_column(ForeignKey("compute_hosts.name", ondelete="CASCADE"), index=True)
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    disk_gb: Mapped[int] = mapped_column(Integer)


def counted_resources(flavor: dict[str, Any] | None, old_flavor: dict[str, Any] | None) -> dict[str, int]:
    """What an instance counts against its project's ``cores`` and ``ram``: its flavor's, and while a resize
    waits for confirmation the larger of the old and new flavor's, so a revert can never go over quota."""
    flavors = [f for f in (flavor, old_flavor) if f]
    return {
        "quota_vcpus": max((int(f.get("vcpus", 0)) for f in flavors), default=0),
        "quota_memory_mb": max((int(f.get("ram", 0)) for f in flavors), default=0),
    }


class Instance(TimestampMixin, Base):
    __tablename__ = "instances"
    __table_args__ = (
        # Covers the quota count (instances, SUM of cores and RAM) of a project: an index-only scan.
        Index(
            "ix_instances_project_usage",
            *("project_id", "deleted", "build_failed", "task_state", "quota_vcpus", "quota_memory_mb"),
        ),
        Index("ix_instances_host", "host"),
        # os-simple-tenant-usage: the servers that ran during a period (migration 0030).
        Index("ix_instances_usage_period", "launched_at", "terminated_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    hostname: Mapped[str] = mapped_column(String(255))
    reservation_id: Mapped[str] = mapped_column(String(64))
    launch_index: Mapped[int] = mapped_column(Integer, default=0)
    flavor: Mapped[dict[str, Any]] = mapped_column(JSON)
    old_flavor: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Kept equal to counted_resources(flavor, old_flavor) on every write (the listeners below, compute.service.swap).
    quota_vcpus: Mapped[int] = mapped_column(Integer, default=0)
    quota_memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    # The build failed: the server holds no host, port or quota; it stays (ERROR, with its fault) until deleted.
    build_failed: Mapped[bool] = mapped_column(Boolean, default=False)
    image_ref: Mapped[str] = mapped_column(String(36))
    # What the API checked of the image at create/rebuild time: hosts need nothing else from the image service.
    image_meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    host: Mapped[str | None] = mapped_column(String(255), default=None)
    availability_zone: Mapped[str | None] = mapped_column(String(255), default=None)
    requested_zone: Mapped[str | None] = mapped_column(String(255), default=None)
    requested_host: Mapped[str | None] = mapped_column(String(255), default=None)
    vm_state: Mapped[str] = mapped_column(String(32), default="building")
    task_state: Mapped[str | None] = mapped_column(String(32), default=None)
    power_state: Mapped[int] = mapped_column(Integer, default=0)
    key_name: Mapped[str | None] = mapped_column(String(255), default=None)
    key_data: Mapped[str | None] = mapped_column(Text, default=None)
    user_data: Mapped[str | None] = mapped_column(Text, default=None)
    metadata_items: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    scheduler_hints: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """The ``os:scheduler_hints`` the server was created with, shown from microversion 2.100."""
    security_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    requested_networks: Mapped[Any] = mapped_column(JSON, default=None)
    server_group_id: Mapped[str | None] = mapped_column(String(36), default=None)
    config_drive: Mapped[bool] = mapped_column(Boolean, default=True)
    access_ip_v4: Mapped[str | None] = mapped_column(String(64), default=None)
    access_ip_v6: Mapped[str | None] = mapped_column(String(64), default=None)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_reason: Mapped[str | None] = mapped_column(String(255), default=None)
    """Why it was locked (``lock`` with ``locked_reason``, shown from 2.73); None when unlocked or no reason."""
    # Shelve: the snapshot that holds the root disk while shelved (None for a volume-backed server), and when.
    shelved_image_id: Mapped[str | None] = mapped_column(String(36), default=None)
    shelved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When a delete held back by reclaim_instance_interval was accepted (the reclaim counts from it).
    soft_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    fault: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    attempts: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The host that acknowledged receiving the build in flight (None until it does): a build its host has not
    # taken within compute_build_take_timeout is scheduled again elsewhere (compute.control.handoff).
    taken_by: Mapped[str | None] = mapped_column(String(255), default=None)
    # The newest word a host sent about this server (its message's ``common.queue.host_seq`` and the host): a
    # report whose snapshot is older than it says nothing about the server (``compute.control.hosts``).
    heard_from: Mapped[str | None] = mapped_column(String(255), default=None)
    heard_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


@event.listens_for(Instance, "before_insert")
@event.listens_for(Instance, "before_update")
def _count_flavor(_mapper: object, _connection: object, instance: Instance) -> None:
    for column, value in counted_resources(instance.flavor, instance.old_flavor).items():
        setattr(instance, column, value)


class InstanceAction(Base):
    """One user-visible action on a server (``os-instance-actions``), recorded when the request is accepted."""

    __tablename__ = "instance_actions"
    __table_args__ = (UniqueConstraint("instance_id", "request_id", "action"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(String(64))
    start_time: Mapped[datetime] = mapped_column(UTCDateTime)
    finish_time: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    message: Mapped[str | None] = mapped_column(Text, default=None)
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class ServiceRecord(Base):
    """A Stratus service process as ``os-services`` shows it: compute hosts and the scheduler."""

    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    binary: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    zone: Mapped[str] = mapped_column(String(255), default="internal")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), default=None)
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    __table_args__ = (UniqueConstraint("binary", "host"),)


def ports_of(instance: Instance | None) -> list[dict[str, Any]]:
    """The server's ports as the API recorded them (``requested_networks`` is "none"/"auto" when it has none):
    ``{"network_id", "port_id", "preserve"}``, and once wired ``mac``, ``mtu``, ``tap`` and ``bridge``."""
    requested = instance.requested_networks if instance is not None else None
    if not isinstance(requested, list):
        return []
    return [entry for entry in requested if isinstance(entry, dict) and entry.get("port_id")]


class BlockDeviceMapping(TimestampMixin, Base):
    """One disk of a server that is a volume (Nova's block device mapping, ``destination_type`` ``volume``).

    Written by the request that asks for it (an attach, a boot from volume) in the same transaction as the volume's
    attachment record (``volume.service.reserve``), so the two are made and dropped together. ``connection_info``
    is the attachment's, kept here as Nova keeps it: it is what every spec of the server gives its host, which
    reads no database. One live mapping per device of a server and per volume (the partial unique indexes): two
    concurrent attaches that chose the same device cannot both commit.
    """

    __tablename__ = "block_device_mappings"
    __table_args__ = (
        Index(
            "uq_block_device_mappings_device",
            "instance_uuid",
            "device_name",
            unique=True,
            sqlite_where=text("deleted = 0"),
            postgresql_where=text("deleted = false"),
        ),
        Index(
            "uq_block_device_mappings_volume",
            "volume_id",
            unique=True,
            sqlite_where=text("deleted = 0"),
            postgresql_where=text("deleted = false"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    instance_uuid: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    volume_id: Mapped[str | None] = mapped_column(String(36), default=None)
    attachment_id: Mapped[str | None] = mapped_column(String(36), default=None)
    """The volume's attachment record (``volume.models.VolumeAttachment``) while it is reserved or attached."""
    device_name: Mapped[str | None] = mapped_column(String(32), default=None)
    """``/dev/vda`` (a root volume), ``/dev/vdb``..."""
    boot_index: Mapped[int | None] = mapped_column(Integer, default=None)
    source_type: Mapped[str] = mapped_column(String(16), default="volume")
    """``volume``, ``image``, ``snapshot`` or ``blank``: what the volume was made from."""
    destination_type: Mapped[str] = mapped_column(String(16), default="volume")
    delete_on_termination: Mapped[bool] = mapped_column(Boolean, default=False)
    volume_size: Mapped[int | None] = mapped_column(Integer, default=None)
    image_id: Mapped[str | None] = mapped_column(String(36), default=None)
    snapshot_id: Mapped[str | None] = mapped_column(String(36), default=None)
    disk_bus: Mapped[str | None] = mapped_column(String(16), default=None)
    tag: Mapped[str | None] = mapped_column(String(60), default=None)
    connection_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    attached: Mapped[bool] = mapped_column(Boolean, default=False)
    """The host reported the volume plugged in (or the server booted from it): specs list it from then on."""
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class Migration(TimestampMixin, Base):
    """One move of a server between hosts, as Nova records it (``os-migrations``, ``servers/{id}/migrations``).

    Why a row of its own and not columns of the instance: a server moves many times and each move is reported
    after it ends (status, hosts, who asked); while a live migration runs, its progress is written here by the
    control side from the source host's reports. ``migration_type`` is Nova's: ``migration`` (cold),
    ``resize``, ``live-migration`` or ``evacuation``. ``status`` is Nova's too (``compute.moves`` lists them).
    The target's claim is the allocation ``(instance_id, "migration")`` on ``dest_compute``, taken by
    compare-and-swap like a build's, so concurrent moves never overcommit a host.
    """

    __tablename__ = "migrations"
    __table_args__ = (
        Index("ix_migrations_instance_status", "instance_id", "status"),
        Index("ix_migrations_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    instance_id: Mapped[str] = mapped_column(String(36))
    migration_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    source_compute: Mapped[str | None] = mapped_column(String(255), default=None)
    dest_compute: Mapped[str | None] = mapped_column(String(255), default=None)
    dest_host: Mapped[str | None] = mapped_column(String(64), default=None)
    """The target's underlay address, once chosen."""
    old_flavor_id: Mapped[str | None] = mapped_column(String(255), default=None)
    new_flavor_id: Mapped[str | None] = mapped_column(String(255), default=None)
    block_migration: Mapped[bool] = mapped_column(Boolean, default=False)
    memory_total: Mapped[int] = mapped_column(BigInteger, default=0)
    memory_processed: Mapped[int] = mapped_column(BigInteger, default=0)
    memory_remaining: Mapped[int] = mapped_column(BigInteger, default=0)
    disk_total: Mapped[int] = mapped_column(BigInteger, default=0)
    disk_processed: Mapped[int] = mapped_column(BigInteger, default=0)
    disk_remaining: Mapped[int] = mapped_column(BigInteger, default=0)
    downtime_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    """The guest's pause at the switch of a live migration, as the hypervisor measured it."""
    error: Mapped[str | None] = mapped_column(Text, default=None)
    request_id: Mapped[str] = mapped_column(String(64), default="")
    project_id: Mapped[str] = mapped_column(String(64), default="")
    user_id: Mapped[str] = mapped_column(String(64), default="")
    step: Mapped[str | None] = mapped_column(String(64), default=None)
    """The step last handed to a host that acknowledges it on receipt (``compute.control.move_steps``)."""
    step_host: Mapped[str | None] = mapped_column(String(255), default=None)
    step_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    """When ``step`` was last sent to ``step_host``; None once that host acknowledged it (or nothing awaits)."""
    step_sends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How many times ``step`` was sent to ``step_host``: bounded, then the move is given up."""
