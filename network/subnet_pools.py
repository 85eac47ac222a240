"""Subnet pools (Neutron's ``subnet_allocation`` and ``default-subnetpools``): their checks, and the allocation of
a subnet's CIDR from a pool.

- A pool's ``prefixes`` are CIDRs of one IP version, kept collapsed (``10.0.0.0/25`` and ``10.0.0.128/25`` are
  ``10.0.0.0/24``); an update may add space, never take any away (Neutron's rule: subnets were allocated from it).
- ``min_prefixlen`` <= ``default_prefixlen`` <= ``max_prefixlen`` <= the version's bits; the minimum defaults to
  8 (IPv4) or 64 (IPv6), the maximum to 32 or 128, the default to the minimum, as in Neutron.
- A subnet taking its CIDR from a pool either names it (it must lie in the pool's space, overlapping no other
  subnet of the pool) or asks for a prefix length and gets the lowest free block of that size. The pool's row is
  locked for the whole create (``SELECT ... FOR UPDATE``; on SQLite the write transaction's lock), so two
  concurrent creates never get the same block.
- One ``is_default`` pool per IP version (checked under the same lock, and by a partial unique index).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from network import addresses
from network.access import Caller, get_subnetpool
from network.db import begin_write
from network.exceptions import (
    AddressScopeNotFound,
    IllegalSubnetPoolPrefixBounds,
    IllegalSubnetPoolPrefixUpdate,
    InvalidAttribute,
    InvalidInput,
    MaxPrefixSubnetAllocationError,
    MinPrefixSubnetAllocationError,
    PrefixVersionMismatch,
    SubnetAllocationError,
    SubnetPoolInUse,
)
from network.ipam import IPNetwork
from network.models import Subnet, SubnetPool

BITS = {4: 32, 6: 128}
DEFAULT_MIN = {4: 8, 6: 64}


def parse_prefixes(values: Iterable[str]) -> tuple[int, list[IPNetwork]]:
    """The IP version and the collapsed networks of a pool's ``prefixes`` (400 for a non-CIDR, a mix of
    versions or an empty list)."""
    found: list[IPNetwork] = []
    for value in values:
        try:
            found.append(addresses.parse_network(value, strict=False))
        except ValueError as exc:
            raise InvalidAttribute(attribute="prefixes", reason=f"'{value}' is not a valid IP subnet: {exc}") from None
    if not found:
        raise InvalidAttribute(attribute="prefixes", reason="a subnet pool needs at least one prefix")
    versions = {network.version for network in found}
    if len(versions) > 1:
        raise PrefixVersionMismatch()
    return versions.pop(), list(ipaddress.collapse_addresses(found))  # type: ignore[arg-type]


def check_bounds(version: int, minimum: int, default: int, maximum: int) -> None:
    """Neutron's prefix bound checks, in its order and words."""
    if minimum < 0:
        raise IllegalSubnetPoolPrefixBounds(
            prefix_type="min_prefixlen", prefixlen=minimum, base_prefix_type="0", base_prefixlen=0
        )
    if maximum > BITS[version]:
        raise IllegalSubnetPoolPrefixBounds(
            prefix_type="max_prefixlen",
            prefixlen=maximum,
            base_prefix_type="ip_version_max",
            base_prefixlen=BITS[version],
        )
    if minimum > maximum:
        raise IllegalSubnetPoolPrefixBounds(
            prefix_type="min_prefixlen", prefixlen=minimum, base_prefix_type="max_prefixlen", base_prefixlen=maximum
        )
    if not minimum <= default <= maximum:
        raise IllegalSubnetPoolPrefixBounds(
            prefix_type="default_prefixlen",
            prefixlen=default,
            base_prefix_type="min_prefixlen" if default < minimum else "max_prefixlen",
            base_prefixlen=minimum if default < minimum else maximum,
        )


def _check_address_scope(attrs: Mapping[str, Any]) -> None:
    # This cloud has no address scopes: any one named does not exist, as Neutron answers for an unknown one.
    scope = attrs.get("address_scope_id")
    if scope is not None:
        raise AddressScopeNotFound(address_scope_id=scope)


def _check_default_free(session: Session, version: int, exclude: str | None = None) -> None:
    query = select(SubnetPool.id).where(SubnetPool.ip_version == version, SubnetPool.is_default.is_(True))
    if exclude is not None:
        query = query.where(SubnetPool.id != exclude)
    if session.scalars(query.with_for_update().limit(1)).first() is not None:
        raise InvalidInput(
            error_message=f"A default subnetpool for this IP family (IPv{version}) has already been set. "
            "Only one default may exist per IP family"
        )


def create_subnetpool(session: Session, caller: Caller, attrs: Mapping[str, Any]) -> SubnetPool:
    _check_address_scope(attrs)
    if attrs.get("default_quota") is not None:
        raise InvalidInput(error_message="default_quota is not supported by this cloud's subnet pools")
    version, prefixes = parse_prefixes(attrs["prefixes"])
    minimum = attrs.get("min_prefixlen", DEFAULT_MIN[version])
    maximum = attrs.get("max_prefixlen", BITS[version])
    default = attrs.get("default_prefixlen", minimum)
    check_bounds(version, minimum, default, maximum)
    begin_write(session)
    if attrs.get("is_default"):
        _check_default_free(session, version)
    pool = SubnetPool(
        project_id=attrs.get("project_id") or caller.project_id or "",
        name=attrs.get("name") or "",
        description=attrs.get("description") or "",
        ip_version=version,
        prefixes=[str(network) for network in prefixes],
        min_prefixlen=minimum,
        max_prefixlen=maximum,
        default_prefixlen=default,
        shared=bool(attrs.get("shared", False)),
        is_default=bool(attrs.get("is_default", False)),
        tags=list(dict.fromkeys(attrs.get("tags") or [])),
    )
    session.add(pool)
    session.flush()
    return pool


def update_subnetpool(session: Session, caller: Caller, subnetpool_id: str, attrs: Mapping[str, Any]) -> SubnetPool:
    """Name, description, added prefixes, bounds and ``is_default``; the version and sharing stay."""
    _check_address_scope(attrs)
    if attrs.get("default_quota") is not None:
        raise InvalidInput(error_message="default_quota is not supported by this cloud's subnet pools")
    begin_write(session)
    pool = get_subnetpool(session, caller, subnetpool_id, for_update=True)
    if "prefixes" in attrs:
        version, prefixes = parse_prefixes(attrs["prefixes"])
        if version != pool.ip_version:
            raise PrefixVersionMismatch()
        old = [addresses.parse_network(p, strict=False) for p in pool.prefixes]
        if not all(any(o.subnet_of(n) for n in prefixes) for o in old):  # type: ignore[arg-type]
            raise IllegalSubnetPoolPrefixUpdate(msg="Existing prefixes must be a subset of the new prefixes")
        pool.prefixes = [str(network) for network in prefixes]
    minimum = attrs.get("min_prefixlen", pool.min_prefixlen)
    maximum = attrs.get("max_prefixlen", pool.max_prefixlen)
    default = attrs.get("default_prefixlen", pool.default_prefixlen)
    check_bounds(pool.ip_version, minimum, default, maximum)
    pool.min_prefixlen, pool.max_prefixlen, pool.default_prefixlen = minimum, maximum, default
    if attrs.get("is_default") and not pool.is_default:
        _check_default_free(session, pool.ip_version, exclude=pool.id)
    if "is_default" in attrs:
        pool.is_default = bool(attrs["is_default"])
    for field in ("name", "description"):
        if field in attrs:
            setattr(pool, field, attrs[field] or "")
    pool.revision_number += 1
    session.flush()
    return pool


def delete_subnetpool(session: Session, caller: Caller, subnetpool_id: str) -> None:
    """Delete the pool; 409 ``SubnetPoolInUse`` while a subnet has a CIDR from it (checked under the pool's
    lock, which every allocation from it takes too)."""
    begin_write(session)
    pool = get_subnetpool(session, caller, subnetpool_id, for_update=True)
    if session.scalars(select(Subnet.id).where(Subnet.subnetpool_id == pool.id).limit(1)).first() is not None:
        raise SubnetPoolInUse(subnet_pool_id=pool.id, reason="Subnet pool has existing allocations")
    session.delete(pool)
    session.flush()


def default_pool(session: Session, version: int) -> SubnetPool:
    """The ``is_default`` pool of ``version`` (``use_default_subnetpool``), locked; 400 when none is set."""
    query = select(SubnetPool).where(SubnetPool.ip_version == version, SubnetPool.is_default.is_(True))
    found = session.scalars(query.with_for_update()).first()
    if found is None:
        raise InvalidInput(error_message=f"No default subnetpool found for IPv{version}")
    return found


def _free_space(pool: SubnetPool, allocated: Iterable[IPNetwork]) -> list[IPNetwork]:
    """The pool's prefixes minus what its subnets have: a list of disjoint networks, lowest first."""
    free = [addresses.parse_network(p, strict=False) for p in pool.prefixes]
    for taken in allocated:
        remaining: list[IPNetwork] = []
        for block in free:
            if block.version != taken.version or not block.overlaps(taken):  # type: ignore[arg-type]
                remaining.append(block)
            elif taken.subnet_of(block) and taken != block:  # type: ignore[arg-type]
                remaining.extend(block.address_exclude(taken))  # type: ignore[arg-type]
            # else: the block lies inside what is taken, so none of it is free
        free = remaining
    return sorted(free, key=lambda network: int(network.network_address))


def allocate_cidr(session: Session, pool: SubnetPool, cidr: str | None, prefixlen: int | None) -> str:
    """A CIDR for a new subnet of the (locked) ``pool``: ``cidr`` itself when it is free pool space, else the
    lowest free block of ``prefixlen`` (the pool's default when None). 400 for a length outside the pool's
    bounds, 409 ``SubnetAllocationError`` when the space is taken or exhausted."""
    allocated = [
        addresses.parse_network(c, strict=False)
        for c in session.scalars(select(Subnet.cidr).where(Subnet.subnetpool_id == pool.id))
    ]
    free = _free_space(pool, allocated)
    if cidr is not None:
        wanted = addresses.parse_network(cidr, strict=False)
        _check_length(pool, wanted.prefixlen)
        if not any(wanted.version == block.version and wanted.subnet_of(block) for block in free):  # type: ignore[arg-type]
            raise SubnetAllocationError(reason="Cannot allocate requested subnet from the available set of prefixes")
        return str(wanted)
    length = pool.default_prefixlen if prefixlen is None else prefixlen
    _check_length(pool, length)
    for block in free:
        if block.prefixlen <= length:
            return str(ipaddress.ip_network((block.network_address, length)))
    raise SubnetAllocationError(reason=f"Insufficient prefix space to allocate subnet size /{length}")


def _check_length(pool: SubnetPool, length: int) -> None:
    if length < pool.min_prefixlen:
        raise MinPrefixSubnetAllocationError(prefixlen=length, min_prefixlen=pool.min_prefixlen)
    if length > pool.max_prefixlen:
        raise MaxPrefixSubnetAllocationError(prefixlen=length, max_prefixlen=pool.max_prefixlen)


def pool_for_subnet(session: Session, caller: Caller, attrs: Mapping[str, Any]) -> SubnetPool | None:
    """The pool a new subnet takes its CIDR from, locked: ``subnetpool_id``, or with ``use_default_subnetpool``
    the default pool of its IP version; None when it names a CIDR without a pool."""
    begin_write(session)
    if attrs.get("subnetpool_id"):
        return get_subnetpool(session, caller, attrs["subnetpool_id"], for_update=True)
    if attrs.get("use_default_subnetpool"):
        return default_pool(session, attrs.get("ip_version", 4))
    return None
