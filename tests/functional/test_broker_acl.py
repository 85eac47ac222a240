"""A host reaches nothing beyond its own work in Redis (``manage.broker_acl``): with the credentials it is given,
a host cannot read, pop or delete another host's queue, route another queue's messages to itself, read the
messages in flight of others or the control queues, or read other hosts' results; the cloud's own agents run
on users of their own (every other functional test proves they still do their work)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from common import settings as settings_module
from common import signing
from common.hostnames import served_hosts
from common.settings import load
from manage import broker_acl
from tests.harness import start_redis

SEP = "\x06\x16"


def enrolled_host(cloud, tmp_path: Path) -> tuple[str, redis.Redis]:
    """A host on another machine enrolled by the operator (``services host-keys``), connected as it would be."""
    name = f"intruder-{os.urandom(3).hex()}"
    cloud.server.manage("services", "host-keys", name, "--out", str(tmp_path / f"{name}.keys"))
    password = (tmp_path / f"{name}.broker-password").read_text().strip()
    port = int(cloud.server.env["STRATUS_BROKER_URL"].rsplit(":", 1)[1].split("/")[0])
    client = redis.Redis(
        port=port, username=f"host-{name}", password=password, socket_timeout=5, retry=Retry(NoBackoff(), 0)
    )
    return name, client


def refused(call: Callable[[], Any]) -> bool:
    try:
        call()
    except redis.exceptions.NoPermissionError:
        return True
    return False


def test_a_host_cannot_touch_another_hosts_queues_bindings_or_messages_in_flight(cloud, tmp_path):
    settings = load(cloud.server.env)
    victim = served_hosts(settings)[0]
    queue = f"compute.{victim}"
    name, host = enrolled_host(cloud, tmp_path)

    for key in (queue, f"network.{victim}", f"{queue}{SEP}9"):
        assert refused(lambda key=key: host.lrange(key, 0, -1)), key
        assert refused(lambda key=key: host.lpop(key)), key
        assert refused(lambda key=key: host.rpop(key)), key
        assert refused(lambda key=key: host.brpop([key], timeout=1)), key
        assert refused(lambda key=key: host.llen(key)), key
        assert refused(lambda key=key: host.delete(key)), key
        assert refused(lambda key=key: host.lpush(key, "work for another host")), key

    # A binding naming its own queue would route the victim's (or the control side's) messages to it.
    for exchange in (queue, "compute", "network", "events", "image"):
        member = SEP.join([exchange, "", f"compute.{name}"])
        assert refused(lambda e=exchange, m=member: host.sadd(f"_kombu.binding.{e}", m)), exchange
        assert refused(lambda e=exchange, m=member: host.srem(f"_kombu.binding.{e}", m)), exchange
        assert refused(lambda e=exchange, m=member: host.sadd(f"_kombu.binding_permanent.{e}", m)), exchange
    assert refused(lambda: host.zadd("_kombu.binding_deadlines", {"compute": 0}))

    # Messages in flight: the control side's shared bookkeeping and the other host's own.
    for owner in ("", f".{settings.effective_host}"):
        assert refused(lambda owner=owner: host.hgetall(f"unacked{owner}"))
        assert refused(lambda owner=owner: host.zrange(f"unacked_index{owner}", 0, -1))
        assert refused(lambda owner=owner: host.delete(f"unacked_mutex{owner}"))

    # The control queues: a host reports into them (LPUSH) and reads no message there (their length it may
    # learn: Redis lets LLEN through on a write-only key, and LPUSH answers with it anyway).
    for control in ("compute", "network", "image", "events"):
        assert refused(lambda control=control: host.lrange(control, 0, -1)), control
        assert refused(lambda control=control: host.rpop(control)), control
        assert refused(lambda control=control: host.brpop([control], timeout=1)), control
        assert refused(lambda control=control: host.lindex(control, 0)), control
        assert refused(lambda control=control: host.delete(control)), control

    # Nothing to list the keyspace or watch the traffic with.
    assert refused(lambda: host.keys("*"))
    assert refused(lambda: host.scan(0))
    assert refused(lambda: host.config_get("requirepass"))
    assert refused(lambda: host.acl_list())
    assert refused(lambda: host.client_list())
    assert refused(lambda: host.execute_command("MONITOR"))
    assert refused(lambda: host.flushall())

    # Its own queue is its to use.
    own = f"compute.{name}"
    assert host.lpush(own, "mine") == 1
    assert host.rpop(own) == b"mine"


def test_a_host_reads_no_other_hosts_results_and_hears_no_result_channel_but_its_own(cloud, tmp_path):
    settings = load(cloud.server.env)
    victim = served_hosts(settings)[0]
    name, host = enrolled_host(cloud, tmp_path)
    admin = redis.Redis.from_url(cloud.server.broker_url)
    secret = f"celery-task-meta-{victim}/{os.urandom(4).hex()}"
    admin.set(secret, "console output of another tenant", ex=60)

    assert refused(lambda: host.get(secret))
    assert refused(lambda: host.get("celery-task-meta-0e6d1b8e-5fbb-4cc0-9a55-7d0fbb8a1cb6"))
    assert refused(lambda: host.set(secret, "forged"))
    assert admin.get(secret) == b"console output of another tenant"
    for subscribe, channel in (("SUBSCRIBE", secret), ("PSUBSCRIBE", "celery-task-meta-*"), ("PSUBSCRIBE", "*")):
        with redis.Redis(connection_pool=redis.ConnectionPool(**host.connection_pool.connection_kwargs)) as alone:
            assert refused(lambda s=subscribe, c=channel, r=alone: r.execute_command(s, c)), (subscribe, channel)
    assert refused(lambda: host.publish(secret, "forged"))

    mine = f"celery-task-meta-{name}/{os.urandom(4).hex()}"
    assert host.set(mine, "my answer", ex=60)
    assert host.get(mine) == b"my answer"
    pubsub = host.pubsub()
    pubsub.subscribe(mine)
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"  # the same check that refused the others
    pubsub.close()


def test_the_clouds_host_agents_connect_as_their_hosts_own_user(cloud):
    settings = load(cloud.server.env)
    admin = redis.Redis.from_url(cloud.server.broker_url, decode_responses=True)
    users = {client["user"] for client in admin.client_list()}
    assert f"host-{settings.effective_host}" in users
    for agent in ("compute-agent", "network-agent"):
        pid = (settings.run_dir / f"{agent}.pid").read_text().split()[0]
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert f"STRATUS_BROKER_USER=host-{settings.effective_host}".encode() in environ, agent


def test_redis_loads_each_hosts_user_from_its_config_and_a_host_no_longer_run_loses_its_user(tmp_path):
    """The users services up writes into redis.conf load (priority queues' control bytes included), and when
    the machine runs fewer hosts the next services up deletes the users of the hosts it no longer runs."""
    two = settings_module.load({"STRATUS_STATE_DIR": str(tmp_path / "state"), "STRATUS_HOST": "box"}, hosts=2)
    master = signing.ensure_master_key(two.effective_queue_keys_dir / "master.key")
    url, stop = start_redis(tmp_path / "redis", tuple(broker_acl.config_lines(two, master)))
    try:
        port = int(url.rsplit(":", 1)[1].split("/")[0])

        def as_host(name: str) -> redis.Redis:
            password = broker_acl.host_password(master, name)
            return redis.Redis(port=port, username=f"host-{name}", password=password, retry=Retry(NoBackoff(), 0))

        first = as_host("box-1")
        assert first.lpush(f"compute.box-1{SEP}9", "mine") == 1
        assert refused(lambda: first.lpush(f"compute.box-2{SEP}9", "not mine"))

        one = two.replace(broker_url=url, hosts=1)
        broker_acl.apply(one, master)
        assert sorted(u for u in redis.Redis.from_url(url).acl_users() if u.startswith("host-")) == ["host-box"]
        with pytest.raises(redis.exceptions.ConnectionError):  # its connection is dropped, its password refused
            first.ping()
        with pytest.raises(redis.exceptions.AuthenticationError):
            as_host("box-2").ping()
        assert as_host("box").lpush("compute.box", "work") == 1
    finally:
        stop()
