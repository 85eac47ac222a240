"""The rebalance planner's choices: a balanced cloud gets no moves, a hot host gives servers to the cold one
until the spread stops falling, the move limit holds, disabled or down hosts neither give nor take, a target is
never filled past its capacity, busy servers stay, and every planned move lowers the imbalance."""

from __future__ import annotations

import random

from cli.rebalance import Guest, HostLoad, imbalance, plan

GIB = 1024


def host(name: str, vcpus: int = 16, ram_gib: int = 64, eligible: bool = True) -> HostLoad:
    return HostLoad(name, vcpus, ram_gib * GIB, 0, 0, eligible)


def cloud(hosts: list[HostLoad], guests: list[Guest]) -> tuple[list[HostLoad], list[Guest]]:
    """The hosts with their allocation the sum of their guests (as the API's ``vcpus_used`` would be)."""
    loaded = []
    for h in hosts:
        mine = [g for g in guests if g.host == h.name]
        loaded.append(h.moved(sum(g.vcpus for g in mine), sum(g.memory_mb for g in mine)))
    return loaded, guests


def guests_on(name: str, count: int, vcpus: int = 2, ram_gib: int = 4, movable: bool = True) -> list[Guest]:
    return [Guest(f"{name}-{i}", f"{name}-vm{i}", name, vcpus, ram_gib * GIB, movable) for i in range(count)]


def test_a_balanced_cloud_gets_no_moves():
    hosts, guests = cloud([host("a"), host("b"), host("c")], guests_on("a", 3) + guests_on("b", 3) + guests_on("c", 3))
    result = plan(hosts, guests)
    assert result.moves == [] and result.imbalance_before == result.imbalance_after == 0.0


def test_an_odd_server_out_is_not_moved_back_and_forth():
    """3/2/2 servers of one size: moving one only shifts the odd one elsewhere, the spread stays the same."""
    hosts, guests = cloud([host("a"), host("b"), host("c")], guests_on("a", 3) + guests_on("b", 2) + guests_on("c", 2))
    assert plan(hosts, guests).moves == []


def test_one_hot_host_gives_servers_to_the_cold_ones():
    hosts, guests = cloud([host("hot"), host("cold")], guests_on("hot", 6))
    result = plan(hosts, guests)
    assert [(m.source, m.target) for m in result.moves] == [("hot", "cold")] * 3
    assert result.after["hot"].vcpus_used == result.after["cold"].vcpus_used == 6
    assert result.imbalance_after == 0.0 < result.imbalance_before


def test_the_hottest_host_gives_first_and_the_coldest_takes():
    hosts, guests = cloud([host("a"), host("b"), host("c")], guests_on("a", 8) + guests_on("b", 4) + guests_on("c", 0))
    first = plan(hosts, guests, max_moves=1).moves[0]
    assert (first.source, first.target) == ("a", "c")


def test_the_move_limit_is_respected():
    hosts, guests = cloud([host("hot"), host("cold")], guests_on("hot", 10))
    assert len(plan(hosts, guests, max_moves=2).moves) == 2
    assert plan(hosts, guests, max_moves=0).moves == []
    assert len(plan(hosts, guests).moves) == 5  # the default


def test_disabled_and_down_hosts_neither_give_nor_take():
    hosts, guests = cloud(
        [host("hot"), host("drained", eligible=False), host("cold")],
        guests_on("hot", 6) + guests_on("drained", 6),
    )
    result = plan(hosts, guests)
    assert {m.target for m in result.moves} == {"cold"} and {m.source for m in result.moves} == {"hot"}
    assert result.after["drained"] == result.before["drained"]
    only_disabled_cold, guests = cloud([host("hot"), host("idle", eligible=False)], guests_on("hot", 6))
    assert plan(only_disabled_cold, guests).moves == []


def test_a_move_never_overcommits_the_target():
    """The cold host has 10 GiB free: the 8 GiB server fits once, the 16 GiB ones never."""
    small = host("small", ram_gib=32).moved(0, 22 * GIB)
    big = Guest("big-1", "big", "full", 2, 16 * GIB)
    hosts = [host("full").moved(6, 56 * GIB), small]
    guests = [big, Guest("big-2", "big2", "full", 2, 16 * GIB), Guest("mid", "mid", "full", 2, 8 * GIB)]
    result = plan(hosts, guests)
    assert [m.server_id for m in result.moves] == ["mid"]
    for final in result.after.values():
        assert final.vcpus_used <= final.vcpus and final.memory_mb_used <= final.memory_mb


def test_vcpus_are_checked_against_capacity_too():
    hosts = [host("hot", vcpus=8).moved(8, 8 * GIB), host("cold", vcpus=4).moved(3, 0)]
    guests = guests_on("hot", 4, vcpus=2, ram_gib=2)
    assert plan(hosts, guests).moves == []


def test_servers_that_cannot_move_live_stay():
    hosts, guests = cloud([host("hot"), host("cold")], guests_on("hot", 6, movable=False))
    assert plan(hosts, guests).moves == []


def test_cpu_and_ram_are_both_evened_out():
    """Two hosts, one CPU-heavy and one RAM-heavy, and a spare: the spare takes from each first, then the two
    swap a server each way (a CPU-heavy server is what the RAM-heavy host lacks, and the reverse)."""
    cpu_heavy = [Guest(f"c{i}", f"c{i}", "a", 4, 1 * GIB) for i in range(4)]
    ram_heavy = [Guest(f"r{i}", f"r{i}", "b", 1, 16 * GIB) for i in range(4)]
    hosts, guests = cloud([host("a"), host("b"), host("spare")], cpu_heavy + ram_heavy)
    result = plan(hosts, guests, max_moves=10)
    assert [(m.source, m.target) for m in result.moves[:2]] == [("a", "spare"), ("b", "spare")]
    later = {(m.server_id[0], m.target) for m in result.moves[2:]}
    assert later <= {("c", "b"), ("r", "a"), ("c", "spare"), ("r", "spare")}
    assert result.imbalance_after < result.imbalance_before / 3


def test_every_planned_move_lowers_the_imbalance_and_fits():
    rng = random.Random(16)
    for _ in range(50):
        names = [f"h{i}" for i in range(rng.randint(2, 6))]
        guests = [
            Guest(f"g{i}", f"g{i}", rng.choice(names), rng.choice((1, 2, 4)), rng.choice((1, 2, 8)) * GIB)
            for i in range(rng.randint(0, 30))
        ]
        hosts, guests = cloud([host(n, eligible=rng.random() > 0.15) for n in names], guests)
        if any(h.vcpus_used > h.vcpus or h.memory_mb_used > h.memory_mb for h in hosts):
            continue
        result = plan(hosts, guests, max_moves=8)
        loads = dict(result.before)
        previous = imbalance(loads.values())
        for move in result.moves:
            assert loads[move.source].eligible and loads[move.target].eligible
            assert loads[move.target].fits(move.vcpus, move.memory_mb)
            loads[move.source] = loads[move.source].moved(-move.vcpus, -move.memory_mb)
            loads[move.target] = loads[move.target].moved(move.vcpus, move.memory_mb)
            now = imbalance(loads.values())
            assert now < previous
            previous = now
        assert len({m.server_id for m in result.moves}) == len(result.moves)  # no server moves twice


def test_a_hot_host_among_many_still_gives_servers():
    """What a move is worth does not shrink with the number of hosts: one hot host of fifty gets the same moves
    as one of two."""
    many = [host(f"h{i:02d}") for i in range(50)]
    hosts, guests = cloud(many, guests_on("h00", 8) + [g for i in range(1, 50) for g in guests_on(f"h{i:02d}", 1)])
    result = plan(hosts, guests)
    assert len(result.moves) == 5 and {m.source for m in result.moves} == {"h00"}
    assert len({m.target for m in result.moves}) == 5  # each to another host at the least load


def test_tiny_gains_are_not_worth_a_move():
    """Hosts two small servers apart (1/128 of a host each): one move would even them out, but for too little."""
    big = [host("a", vcpus=128, ram_gib=128), host("b", vcpus=128, ram_gib=128)]
    hosts, guests = cloud(big, guests_on("a", 3, vcpus=1, ram_gib=1) + guests_on("b", 1, vcpus=1, ram_gib=1))
    assert plan(hosts, guests).moves == []
    assert len(plan(hosts, guests, min_gain=0.0001).moves) == 1
