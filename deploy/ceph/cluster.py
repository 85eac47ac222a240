"""The steps of ``up.sh`` that talk to a running cluster, in one process (each ``ceph`` CLI call costs about a
second of start-up on a busy two-core machine): the cloud's pools and cephx user, and waiting for the placement
groups. Run by Debian's ``/usr/bin/python3``, whose ``rados`` and ``rbd`` modules these are, as client.admin.

    cluster.py prepare CONF KEYRING USER POOL...   pools (RBD application), USER's caps on them, its KEYRING (600)
    cluster.py wait CONF TIMEOUT                    until an OSD is up and every PG is active+clean
    cluster.py init CONF POOL...                    ``rbd pool init`` of each pool (needs the OSD)

Every step is idempotent. Exit status 1 with a message on stderr when a step fails.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import rados
import rbd

PG_NUM = 8
"""Per pool: one OSD holds them all, and fewer placement groups peer faster."""


def command(cluster: rados.Rados, prefix: str, **arguments: object) -> bytes:
    code, output, status = cluster.mon_command(json.dumps({"prefix": prefix, "format": "json", **arguments}), b"")
    if code != 0:
        raise SystemExit(f"ceph {prefix}: {status or os.strerror(-code)}")
    return output


def prepare(cluster: rados.Rados, keyring: str, user: str, pools: list[str]) -> None:
    """Monitor-only work, so it runs while the OSD starts."""
    existing = set(cluster.list_pools())
    for pool in pools:
        if pool not in existing:
            command(cluster, "osd pool create", pool=pool, pg_num=PG_NUM, pgp_num=PG_NUM)
        command(cluster, "osd pool application enable", pool=pool, app="rbd", yes_i_really_mean_it=True)
    profile = ", ".join(f"profile rbd pool={pool}" for pool in pools)
    caps = ["mon", "profile rbd", "osd", profile, "mgr", profile]
    entity = f"client.{user}"
    command(cluster, "auth get-or-create", entity=entity)
    command(cluster, "auth caps", entity=entity, caps=caps)
    code, text, status = cluster.mon_command(json.dumps({"prefix": "auth get", "entity": entity}), b"")
    if code != 0:
        raise SystemExit(f"ceph auth get {entity}: {status}")
    fd = os.open(keyring + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(text)
    os.replace(keyring + ".tmp", keyring)


def wait(cluster: rados.Rados, timeout: float) -> str:
    """Until an OSD is up and all placement groups are active+clean (HEALTH_OK shows while PGs are unknown)."""
    deadline = time.monotonic() + timeout
    while True:
        status = json.loads(command(cluster, "status"))
        # the PG map comes from the manager and lags: count against the pools' own pg_num
        expected = sum(pool["pg_num"] for pool in json.loads(command(cluster, "osd pool ls", detail="detail")))
        pgmap, up = status["pgmap"], status["osdmap"].get("num_up_osds", 0)
        total = pgmap.get("num_pgs", 0)
        clean = sum(s["count"] for s in pgmap.get("pgs_by_state", []) if s["state_name"] == "active+clean")
        if up >= 1 and total == clean == expected:
            return f"{status['health']['status']}, {total} PGs active+clean"
        if time.monotonic() > deadline:
            raise SystemExit(f"not ready after {timeout:g} s: {up} OSD up, {clean} of {total} PGs active+clean")
        time.sleep(0.25)


def init(cluster: rados.Rados, pools: list[str]) -> None:
    """The pools side by side: each validation waits for two map changes (a snapshot made and removed)."""

    def one(pool: str) -> None:
        with cluster.open_ioctx(pool) as ioctx:
            rbd.RBD().pool_init(ioctx, False)

    with ThreadPoolExecutor(len(pools)) as pool_workers:
        list(pool_workers.map(one, pools))


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] not in ("prepare", "wait", "init"):
        raise SystemExit(__doc__)
    step, conf = argv[1], argv[2]
    with rados.Rados(conffile=conf, name="client.admin", conf={"client_mount_timeout": "30"}) as cluster:
        if step == "prepare":
            prepare(cluster, argv[3], argv[4], argv[5:])
        elif step == "wait":
            print(wait(cluster, float(argv[3])))
        else:
            init(cluster, argv[3:])


if __name__ == "__main__":
    main(sys.argv)
