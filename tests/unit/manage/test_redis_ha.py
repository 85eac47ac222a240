"""The Sentinel shape of the broker (``manage.redis_ha``) as settings and config files: every value checked before
it is written, the same users on every node, the Sentinels' hosts allowed to ask and nothing more, and a
restarted node made a replica of the primary the Sentinels last recorded. The failover itself is proven with real
processes in ``tests/functional/ha/test_redis_failover.py``."""

from __future__ import annotations

import socket

import click
import pytest
from kombu import Connection

from common import broker_sentinel, signing
from common.exceptions import ConfigError
from common.queue import sentinel_options
from common.settings import load, load_host
from manage import broker_acl, redis_ha

SHAPE = {
    "STRATUS_BROKER_URL": "redis://127.0.0.1:7001/0",
    "STRATUS_BROKER_REPLICA_PORTS": "7002 7003",
    "STRATUS_BROKER_SENTINELS": "127.0.0.1:27001 127.0.0.1:27002 127.0.0.1:27003",
    "STRATUS_HOST": "vm",
}


def _settings(tmp_path, **changes: str):
    return load({"STRATUS_STATE_DIR": str(tmp_path), **SHAPE, **changes})


def test_clients_are_given_one_sentinel_url_per_sentinel_with_the_data_nodes_credentials(tmp_path):
    settings = _settings(tmp_path)
    (tmp_path / "broker-password").write_text("secret\n")
    assert settings.effective_broker_url == ";".join(
        f"sentinel://:secret@127.0.0.1:{port}/0" for port in (27001, 27002, 27003)
    )
    assert sentinel_options(settings) == {
        "master_name": "stratus",
        "sentinel_kwargs": {
            "username": None,
            "password": "secret",
            "socket_timeout": 1.0,
            "socket_connect_timeout": 1.0,
        },
    }


def test_a_host_asks_the_sentinels_as_its_own_user(tmp_path):
    keys = tmp_path / "queue-keys" / "hosts"
    keys.mkdir(parents=True)
    (keys / "vm-1.broker-password").write_text("hostsecret\n")
    env = {"STRATUS_STATE_DIR": str(tmp_path), **SHAPE, "STRATUS_HOST": "vm-1", "STRATUS_BROKER_USER": "host-vm-1"}
    settings = load_host(env)
    assert settings.effective_broker_url.startswith("sentinel://host-vm-1:hostsecret@127.0.0.1:27001/0;")
    assert sentinel_options(settings)["sentinel_kwargs"]["username"] == "host-vm-1"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STRATUS_BROKER_SENTINELS", "127.0.0.1:27001 sentinel.example:26379"),
        ("STRATUS_BROKER_SENTINELS", "127.0.0.1:99999"),
        ("STRATUS_BROKER_MASTER_NAME", "bad name\nsentinel set"),
        ("STRATUS_BROKER_URL", "rediss://127.0.0.1:7001/0"),
    ],
)
def test_a_sentinel_setting_that_cannot_work_is_refused_at_load(tmp_path, name, value):
    with pytest.raises(ConfigError):
        _settings(tmp_path, **{name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STRATUS_BROKER_SENTINELS", "127.0.0.1:27001 10.0.0.2:27002 127.0.0.1:27003"),  # not on this machine
        ("STRATUS_BROKER_SENTINELS", "127.0.0.1:27001 127.0.0.1:27002"),  # no majority survives one loss
        ("STRATUS_BROKER_REPLICA_PORTS", "7002 x"),
        ("STRATUS_BROKER_REPLICA_PORTS", "7002 27001"),  # a Sentinel's port
        ("STRATUS_BROKER_REPLICA_PORTS", ""),
    ],
)
def test_a_shape_that_cannot_be_started_here_is_refused(tmp_path, name, value):
    with pytest.raises(click.ClickException):
        redis_ha.layout(_settings(tmp_path, **{name: value}))


def test_every_data_node_has_the_password_and_the_hosts_users_and_the_replicas_follow_the_primary(tmp_path):
    settings = _settings(tmp_path, STRATUS_COMPUTE_DRIVER="fake", STRATUS_COMPUTE_FAKE_HOSTS="2")
    master = signing.ensure_master_key(settings.effective_queue_keys_dir / "master.key")
    shape = redis_ha.layout(settings)
    primary, replica, _ = shape.data
    users = broker_acl.config_lines(settings, master)
    assert users
    first, second = (redis_ha.data_config(settings, node, primary, "pw-1", master) for node in (primary, replica))
    for config in (first, second):
        assert 'requirepass "pw-1"' in config and 'masterauth "pw-1"' in config
        assert all(line in config.splitlines() for line in users)
    assert "replicaof" not in first
    assert "replicaof 127.0.0.1 7001" in second.splitlines()
    with pytest.raises(click.ClickException):
        redis_ha.data_config(settings, primary, primary, 'pw"\nreplicaof 10.0.0.9 6379', master)


def test_the_sentinels_watch_with_a_majority_and_hosts_may_only_ask_them(tmp_path):
    settings = _settings(tmp_path)
    master = signing.ensure_master_key(settings.effective_queue_keys_dir / "master.key")
    shape = redis_ha.layout(settings)
    config = redis_ha.sentinel_config(settings, shape.sentinels[0], shape.data[0], "pw-1", master).splitlines()
    assert "sentinel monitor stratus 127.0.0.1 7001 2" in config
    assert 'sentinel auth-pass stratus "pw-1"' in config and 'requirepass "pw-1"' in config
    assert "sentinel deny-scripts-reconfig yes" in config
    (host_line,) = [line for line in config if line.startswith("user host-vm ")]
    allowed = {token.strip('"') for token in host_line.split()[2:] if token.strip('"').startswith("+")}
    assert allowed == {f"+{command}" for command in broker_acl.SENTINEL_COMMANDS}
    assert not {"+sentinel|failover", "+sentinel|set", "+sentinel|reset", "+acl"} & allowed


def test_a_node_started_again_follows_the_primary_the_sentinels_last_recorded(tmp_path):
    settings = _settings(tmp_path)
    shape = redis_ha.layout(settings)
    assert redis_ha.current_primary(settings) == shape.data[0]  # a new shape, no Sentinel answers
    rewritten = redis_ha.node_dir(settings, shape.sentinels[1])
    rewritten.mkdir(parents=True)
    (rewritten / "sentinel.conf").write_text("port 27002\nsentinel monitor stratus 127.0.0.1 7003 2\n")
    assert redis_ha.current_primary(settings) == shape.data[2]


def test_kombu_never_switches_between_the_sentinels_as_if_they_were_brokers():
    url = "sentinel://:pw@127.0.0.1:27001/0;sentinel://:pw@127.0.0.1:27002/0;sentinel://:pw@127.0.0.1:27003/0"
    connection = Connection(url, failover_strategy=broker_sentinel.Stay)
    connection.maybe_switch_next()
    assert (connection.hostname, connection.port) == ("127.0.0.1", 27001)
    assert len(connection.alt) == 3  # the Sentinel channel still asks every one of them


def test_sentinels_on_other_machines_are_used_not_started(tmp_path):
    settings = _settings(
        tmp_path,
        STRATUS_BROKER_URL="redis://10.0.0.31:6379/0",
        STRATUS_BROKER_SENTINELS="10.0.0.31:26379 10.0.0.32:26379 10.0.0.33:26379",
    )
    assert not redis_ha.on_this_machine(settings)
    assert redis_ha.services(settings) == [] and redis_ha.ensure(settings, timeout=1) == []
    assert redis_ha.on_this_machine(_settings(tmp_path))


def test_host_machines_are_refused_until_the_sentinel_shape_speaks_tls(tmp_path):
    settings = _settings(tmp_path, STRATUS_HOST_MACHINES="true", STRATUS_HOSTS="2", STRATUS_COMPUTE_DRIVER="libvirt")
    with pytest.raises(click.ClickException, match="TLS"):
        redis_ha.ensure(settings, timeout=1)


def test_a_port_another_process_holds_is_never_taken_for_a_node_of_ours(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        settings = _settings(tmp_path, STRATUS_BROKER_URL=f"redis://127.0.0.1:{port}/0")
        (tmp_path / "log").mkdir()
        (tmp_path / "run").mkdir()
        with pytest.raises(click.ClickException, match="taken by another process"):
            redis_ha.ensure(settings, timeout=1)
    assert not list((tmp_path / "run").glob("*.pid"))  # nothing was started
