"""The Placement API (read side) at ``/placement``: control side, run by the API process.

Stratus has no placement service of its own: the scheduler's capacity is each compute host's record (``vcpus``,
``memory_mb``, ``disk_gb`` and their allocation ratios) and its usage the sum of the host's allocations
(``compute.models``). This package shows those as Placement does, one resource provider per host, so an admin's
``openstack resource provider ...`` (osc-placement) and ``stratus rebalance`` read the real capacity. It writes
nothing: every write route of Placement answers 405.

It may import ``compute.models`` and ``compute.moves`` (which move holds an allocation), never compute's control or
host side.
"""
