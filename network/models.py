"""Network records: networks (each one VXLAN segment), subnets, ports and their addresses, security groups.

The columns are Neutron's attributes under their Neutron meaning; the API's views rename a few
(``router_external`` is ``router:external``, ``binding_host_id`` is ``binding:host_id``). Two constraints
carry the correctness of concurrent allocation and are relied on by the service layer, which retries on
the ``IntegrityError`` they raise: ``networks.segmentation_id`` is unique (a VNI is never given twice while
in use) and ``ip_allocations (subnet_id, ip_address)`` is unique (an address is never given twice).

Ports refer to their network with ``ondelete=RESTRICT``: a network is deleted only once its ports are, so a
port created concurrently with the delete makes one of the two transactions fail instead of vanishing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from common.db import Base, TimestampMixin, UTCDateTime, new_uuid
from network.states import NetworkStatus, PortStatus

DHCP_OWNER = "network:dhcp"
"""``device_owner`` of the one DHCP port per network (its ``device_id`` is ``dhcp-<network_id>``)."""
ROUTER_INTERFACE_OWNER = "network:router_interface"
"""``device_owner`` of a router's port on a tenant subnet (its ``device_id`` is the router's id)."""
ROUTER_GATEWAY_OWNER = "network:router_gateway"
"""``device_owner`` of a router's port on its external network (its ``device_id`` is the router's id)."""
FLOATING_IP_OWNER = "network:floatingip"
"""``device_owner`` of the port that holds a floating IP's address on the external network (its ``device_id``
is the floating IP's id); it is never bound to a host: the router of the associated port answers for it."""


class StandardAttributes(TimestampMixin):
    """What every Neutron resource has besides its own fields: description, tags and a revision counter that
    each update bumps (clients use it to detect concurrent changes)."""

    description: Mapped[str] = mapped_column(String(255), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    revision_number: Mapped[int] = mapped_column(Integer, default=1)


class Network(StandardAttributes, Base):
    """A tenant L2 network; ``segmentation_id`` is its VXLAN VNI."""

    __tablename__ = "networks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default=NetworkStatus.ACTIVE)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    router_external: Mapped[bool] = mapped_column(Boolean, default=False)
    mtu: Mapped[int] = mapped_column(Integer)
    # The default of the ports created on this network.
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    network_type: Mapped[str] = mapped_column(String(16), default="vxlan")
    """``vxlan`` (a tenant network, one VNI) or ``flat`` (an external network on a host bridge, no VNI)."""
    segmentation_id: Mapped[int | None] = mapped_column(Integer, unique=True, default=None)
    """The VXLAN VNI; None for a flat network."""
    physical_network: Mapped[str | None] = mapped_column(String(64), default=None)
    """A flat network's physical network: the name each host maps to one of its bridges
    (``network_physical_bridges``); None for VXLAN."""
    qos_policy_id: Mapped[str | None] = mapped_column(
        ForeignKey("qos_policies.id", ondelete="RESTRICT"), default=None, index=True
    )
    """The QoS policy of the network's ports that have none of their own (``network.qos``); a policy in use is
    not deleted (RESTRICT)."""

    subnets: Mapped[list[Subnet]] = relationship(
        back_populates="network",
        lazy="selectin",
        order_by="Subnet.created_at, Subnet.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class Subnet(StandardAttributes, Base):
    """An IP range of a network. ``allocation_pools`` is a list of ``{"start", "end"}``, ``host_routes`` of
    ``{"destination", "nexthop"}``; ``gateway_ip`` None means no gateway."""

    __tablename__ = "subnets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    allocation_pools: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    dns_nameservers: Mapped[list[str]] = mapped_column(JSON, default=list)
    host_routes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    service_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32), default=None)
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32), default=None)
    subnetpool_id: Mapped[str | None] = mapped_column(
        ForeignKey("subnetpools.id", ondelete="RESTRICT"), default=None, index=True
    )
    """The subnet pool its CIDR was allocated from (None: a CIDR given without a pool); a pool with subnets
    cannot be deleted (RESTRICT)."""

    network: Mapped[Network] = relationship(back_populates="subnets", lazy="raise")


class Port(StandardAttributes, Base):
    """A virtual NIC on a network: a MAC, its fixed IPs and the security groups that filter it.

    ``status`` stays DOWN until the host agent has wired the port. ``binding_host_id`` is "" while unbound,
    as Neutron shows it; ``binding_vif_type`` is "unbound" until a host is set, then "tap" (a plain tap the
    network agent plugs into the per-port bridge).
    """

    __tablename__ = "ports"
    __table_args__ = (
        UniqueConstraint("network_id", "mac_address"),
        Index("ix_ports_device_id", "device_id"),
        Index("ix_ports_binding_host_id", "binding_host_id"),
        # A project's ports in id order, the listings' default: a page stops after its rows instead of sorting
        # all of the project's, and a whole listing is not sorted after its documents are built.
        Index("ix_ports_project_id_id", "project_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id", ondelete="RESTRICT"), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255), default="")
    mac_address: Mapped[str] = mapped_column(String(32))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default=PortStatus.DOWN)
    device_id: Mapped[str] = mapped_column(String(255), default="")
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    binding_host_id: Mapped[str] = mapped_column(String(255), default="")
    binding_vif_type: Mapped[str] = mapped_column(String(64), default="unbound")
    binding_vnic_type: Mapped[str] = mapped_column(String(64), default="normal")
    binding_profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    binding_vif_details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_address_pairs: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    extra_dhcp_opts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    """Neutron's ``extra_dhcp_opt``: ``{"opt_name", "opt_value", "ip_version"}``, checked by
    ``network.dhcp_options`` (a catalogue name and a value of its type) before they are stored."""
    qos_policy_id: Mapped[str | None] = mapped_column(
        ForeignKey("qos_policies.id", ondelete="RESTRICT"), default=None, index=True
    )
    """The port's own QoS policy (None: its network's applies, ``network.qos``)."""
    document_head: Mapped[str | None] = mapped_column(Text, deferred=True)
    """PostgreSQL only, written by its triggers (migration 0041): the port's listing document for a member, as
    JSON text without its closing brace; ``binding_document`` holds the admin's ``binding:`` members. Never
    written or read here but by ``api.network.port_documents``; empty on SQLite."""
    binding_document: Mapped[str | None] = mapped_column(Text, deferred=True)

    fixed_ips: Mapped[list[IPAllocation]] = relationship(
        lazy="selectin", order_by="IPAllocation.id", cascade="all, delete-orphan", passive_deletes=True
    )
    security_group_bindings: Mapped[list[PortSecurityGroup]] = relationship(
        lazy="selectin", order_by="PortSecurityGroup.position", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def security_group_ids(self) -> list[str]:
        return [binding.security_group_id for binding in self.security_group_bindings]


class IPAllocation(Base):
    """One fixed IP of a port. The unique (subnet_id, ip_address) is what keeps concurrent allocation
    duplicate-free; ``id`` only keeps a port's addresses in the order they were given."""

    __tablename__ = "ip_allocations"
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id", ondelete="CASCADE"), index=True)
    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnets.id", ondelete="CASCADE"))
    ip_address: Mapped[str] = mapped_column(String(64))


class SecurityGroup(StandardAttributes, Base):
    __tablename__ = "security_groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    stateful: Mapped[bool] = mapped_column(Boolean, default=True)

    rules: Mapped[list[SecurityGroupRule]] = relationship(
        lazy="selectin",
        order_by="SecurityGroupRule.created_at, SecurityGroupRule.id",
        foreign_keys="SecurityGroupRule.security_group_id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class DefaultSecurityGroup(Base):
    """Which group is a project's ``default``: the primary key makes its lazy creation race-free."""

    __tablename__ = "default_security_groups"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("security_groups.id", ondelete="CASCADE"), unique=True)


class SecurityGroupRule(TimestampMixin, Base):
    """``protocol`` None is any; else as given (a name or a number as text). ``remote_ip_prefix`` and
    ``remote_group_id`` are never both set; neither means any remote address."""

    __tablename__ = "security_group_rules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("security_groups.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    direction: Mapped[str] = mapped_column(String(16))
    ethertype: Mapped[str] = mapped_column(String(8), default="IPv4")
    protocol: Mapped[str | None] = mapped_column(String(40), default=None)
    port_range_min: Mapped[int | None] = mapped_column(Integer, default=None)
    port_range_max: Mapped[int | None] = mapped_column(Integer, default=None)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64), default=None)
    remote_group_id: Mapped[str | None] = mapped_column(
        ForeignKey("security_groups.id", ondelete="CASCADE"), default=None, index=True
    )
    description: Mapped[str] = mapped_column(String(255), default="")
    revision_number: Mapped[int] = mapped_column(Integer, default=1)


class PortSecurityGroup(Base):
    """A port's membership of a security group; a group in use cannot be deleted (RESTRICT)."""

    __tablename__ = "port_security_groups"

    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("security_groups.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)


class NetworkHost(Base):
    """A host's network agent as the control side knows it: where its VXLAN traffic comes from (its VTEP),
    when it last reported, and which networks the control side last asked it to have, so a network that
    leaves the host is still pushed there once (the push that removes it)."""

    __tablename__ = "network_hosts"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    underlay_ip: Mapped[str] = mapped_column(String(64))
    namespace: Mapped[str] = mapped_column(String(255), default="")
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    networks: Mapped[list[str]] = mapped_column(JSON, default=list)
    routers: Mapped[list[str] | None] = mapped_column(JSON, default=list)
    """The routers the control side last asked the host to run (None: none recorded), so a deleted router's host
    is pushed once more, the push that removes its namespace."""
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    """The agents API's ``admin_state_up`` (stored and shown; the agent keeps working, as Neutron's L2 agents)."""
    description: Mapped[str] = mapped_column(String(255), default="", server_default="")
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    """When the agent first registered (None for agents registered before this was recorded)."""


class Router(StandardAttributes, Base):
    """A Neutron L3 router: a network namespace on one network host (``host``, chosen by the control side as a
    network's DHCP host is) routing between its interface subnets and, through its gateway port, its external
    network, with SNAT for the interface subnets when ``enable_snat``. Its interfaces are ports with
    ``device_owner`` ROUTER_INTERFACE_OWNER and ``device_id`` the router's id; its gateway is the port
    ``gateway_port_id`` (ROUTER_GATEWAY_OWNER) on ``gateway_network_id``. ``routes`` are Neutron's extra routes,
    ``{"destination", "nexthop"}``."""

    __tablename__ = "routers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default=NetworkStatus.ACTIVE)
    gateway_network_id: Mapped[str | None] = mapped_column(
        ForeignKey("networks.id", ondelete="RESTRICT"), default=None, index=True
    )
    gateway_port_id: Mapped[str | None] = mapped_column(ForeignKey("ports.id", ondelete="SET NULL"), default=None)
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    routes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    host: Mapped[str] = mapped_column(String(255), default="", index=True)
    """The network host whose agent runs the router's namespace; "" until the control side places it."""


class FloatingIP(StandardAttributes, Base):
    """A floating IP: an address of an external network (held by the port ``floating_port_id``, FLOATING_IP_OWNER)
    that, while associated with ``port_id``/``fixed_ip_address``, the router ``router_id`` (the one between the
    port's subnet and that external network) translates 1:1 to the fixed address. ``port_id`` is cleared when the
    associated port is deleted (SET NULL; the service layer clears ``fixed_ip_address`` and ``router_id`` with
    it)."""

    __tablename__ = "floating_ips"
    __table_args__ = (UniqueConstraint("floating_network_id", "floating_ip_address"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    floating_network_id: Mapped[str] = mapped_column(ForeignKey("networks.id", ondelete="RESTRICT"), index=True)
    floating_port_id: Mapped[str | None] = mapped_column(ForeignKey("ports.id", ondelete="SET NULL"), default=None)
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    port_id: Mapped[str | None] = mapped_column(ForeignKey("ports.id", ondelete="SET NULL"), default=None, index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64), default=None)
    router_id: Mapped[str | None] = mapped_column(
        ForeignKey("routers.id", ondelete="RESTRICT"), default=None, index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    """Neutron's ACTIVE while associated and wired by the router's host, else DOWN."""


class SubnetPool(StandardAttributes, Base):
    """Neutron's subnet pool (``subnet_allocation``): address space that subnets take their CIDRs from.

    ``prefixes`` is the pool's space as a list of CIDRs (collapsed, one IP version); a subnet created with
    ``subnetpool_id`` gets a CIDR of ``default_prefixlen`` (or its ``prefixlen``, between ``min_prefixlen``
    and ``max_prefixlen``) inside them that overlaps no other subnet of the pool. Allocation locks the pool's
    row, so two creates never get the same prefix. ``is_default`` marks the pool ``use_default_subnetpool``
    takes; the partial unique index keeps one per IP version.
    """

    __tablename__ = "subnetpools"
    __table_args__ = (
        Index(
            "uq_subnetpools_default_per_version",
            "ip_version",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    prefixes: Mapped[list[str]] = mapped_column(JSON, default=list)
    default_prefixlen: Mapped[int] = mapped_column(Integer)
    min_prefixlen: Mapped[int] = mapped_column(Integer)
    max_prefixlen: Mapped[int] = mapped_column(Integer)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class NetworkRBAC(Base):
    """Neutron's RBAC policy on a network: ``action`` ``access_as_shared`` lets ``target_tenant`` (a project id,
    or ``*`` for every project) see the network and put ports on it; ``access_as_external`` lets it see the
    network and use it as an external one. ``project_id`` is the policy's owner (the network's project, or the
    admin's). A policy goes with its network (CASCADE); one per (network, action, target)."""

    __tablename__ = "network_rbacs"
    __table_args__ = (UniqueConstraint("object_id", "action", "target_tenant"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    object_id: Mapped[str] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    target_tenant: Mapped[str] = mapped_column(String(255), index=True)


class QosPolicy(StandardAttributes, Base):
    """Neutron's QoS policy (``qos``, ``qos-default``): a named set of rules that ports and networks point to.

    ``shared`` makes it visible to and usable by every project; ``is_default`` makes it the policy of the
    project's new networks (one per project: the partial unique index). Its rules are ``QosBandwidthLimitRule``s.
    """

    __tablename__ = "qos_policies"
    __table_args__ = (
        Index(
            "uq_qos_policies_default_per_project",
            "project_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)

    bandwidth_limit_rules: Mapped[list[QosBandwidthLimitRule]] = relationship(
        lazy="selectin",
        order_by="QosBandwidthLimitRule.direction, QosBandwidthLimitRule.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class QosBandwidthLimitRule(Base):
    """A bandwidth limit of a policy in one ``direction`` (Neutron's, from the VM's side: ``egress`` is what the
    VM sends, ``ingress`` what it receives): ``max_kbps`` kilobits per second with bursts of ``max_burst_kbps``
    kilobits (0: the host's default, 80% of the rate). One per direction per policy (the unique constraint)."""

    __tablename__ = "qos_bandwidth_limit_rules"
    __table_args__ = (UniqueConstraint("qos_policy_id", "direction"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    qos_policy_id: Mapped[str] = mapped_column(ForeignKey("qos_policies.id", ondelete="CASCADE"), index=True)
    max_kbps: Mapped[int] = mapped_column(Integer)
    max_burst_kbps: Mapped[int] = mapped_column(Integer, default=0)
    direction: Mapped[str] = mapped_column(String(16), default="egress")
