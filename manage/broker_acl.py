"""Redis ACL users: each host reaches its own queues and nothing beyond (issue 11 item 8).

Every host agent connects as its own Redis user, ``host-<host>``, with a password derived from the master key
(``HMAC(master, "broker:" + host)``, so the control side needs no list of passwords) and written beside the
host's message key file. The control side keeps Redis's default user and the one broker password. What a host
may touch follows what kombu's Redis transport and Celery do for a host agent (read in
``kombu/transport/redis.py`` and checked with MONITOR and ``ACL LOG`` on a running cloud):

- its own queues, ``compute.<name>`` and ``network.<name>`` and their priority variants (``<queue>\\x06\\x16<n>``,
  BRPOP'd together), for each name its agents act for: read, write, delete;
- its own queues' bindings ``_kombu.binding.<queue>`` and ``_kombu.binding_permanent.<queue>`` (its
  consumers add them when they declare). A host may not write any other binding set: a member naming a
  queue of its own would route another host's, or the control side's, messages to it. Hosts declare no
  queue when they send (``common.queue.HostCelery``);
- the control queues ``compute``, ``network``, ``image`` and ``events``: LPUSH only (``%W~``), where its signed
  reports go; it cannot read, pop, count or delete them;
- kombu's bookkeeping of its messages in flight under keys of its own (``common.queue.unacked_keys``); the
  shared ``unacked`` hash of the control side holds every control message in flight and stays out of reach;
- results and result channels ``celery-task-meta-<name>/*`` only: the ids of tasks whose result a host writes
  (console output) or reads (an image variant it asked for) are ``common.queue.host_result_id``; every other
  task of a host keeps no result;
- remote control (``services up`` pings every worker): the broadcast channel ``/0.celery.pidbox`` is one for
  all workers and cannot be narrowed; a host may hear and publish on it, and workers obey only ``ping``
  (``common.queue.REMOTE_CONTROL_COMMANDS``). Ping replies go to ``<id>.reply.celery.pidbox`` lists named by
  the asker: a host may push to any of them (write only, so it reads no one's replies), which lets it forge a
  ping reply and nothing more. It may add and remove members of ``_kombu.binding[_permanent].celery.pidbox``,
  which the Redis transport never reads to deliver (a fanout goes out by PUBLISH). Its own remote-control
  queue does not expire, so it runs none of kombu's binding-expiry scripts (they read and delete binding
  tables of every client through the shared ``_kombu.binding_deadlines``).

Worker events (``celeryev``) are not a host's to publish: agents run without them (nobody listens). What a
host learns anyway: the length of a control queue (LPUSH answers with it, and Redis lets LLEN through on a
write-only key) and the names of pending ping reply lists. Commands are an allow-list: no KEYS, SCAN,
MONITOR, CLIENT, CONFIG, FLUSH*, ACL, DEBUG or any admin command.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

import redis
from kombu.transport.redis import PRIORITY_STEPS, Channel
from redis.sentinel import Sentinel

from common import signing
from common.exceptions import ConfigError
from common.hostnames import agent_names, machine_hosts
from common.queue import CONTROL_QUEUES, RESULT_KEY_PREFIX, broker_tls, host_queue, sentinel_options, unacked_keys
from common.settings import Settings, sentinel_addresses

USER_PREFIX = "host-"
HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
"""What a host may be called: a DNS-like name, so it is a literal in every key pattern (no glob character)
and ends at a ``/`` in result ids."""

COMMANDS = (
    # connection
    "ping", "select", "echo", "quit", "reset",
    # queues (lists), bindings (sets), kombu's unacked bookkeeping (hash, sorted set, lock)
    "brpop", "rpop", "lpush", "rpush", "llen", "del", "exists",
    "sadd", "srem", "smembers", "sismember",
    "hset", "hget", "hdel", "hgetall", "zadd", "zrem", "zrange", "zrangebyscore", "zrevrangebyscore",
    "set", "get", "setex", "pexpire", "expire", "evalsha", "script|load", "script|exists",
    "multi", "exec", "discard", "watch", "unwatch",
    # results and remote control
    "publish", "subscribe", "unsubscribe", "psubscribe", "punsubscribe",
)  # fmt: skip
"""Every command a host agent's Celery and kombu send (kombu's redis-py Lock releases with a Lua script:
EVALSHA, SCRIPT LOAD; its commands are checked against the user's keys like any other)."""

SENTINEL_COMMANDS = (
    "ping", "auth", "hello", "client|setname",
    "sentinel|get-master-addr-by-name", "sentinel|masters", "sentinel|master", "sentinel|sentinels",
    "sentinel|replicas", "sentinel|slaves",
)  # fmt: skip
"""What a host's user may ask a Sentinel (``manage.redis_ha``): where the primary, the replicas and the other
Sentinels are, which is what redis-py's Sentinel client asks (SENTINEL MASTERS, SLAVES); nothing that changes
what a Sentinel watches or does (SET, MONITOR, REMOVE, RESET, FAILOVER, CONFIG, ACL)."""

PIDBOX = "celery.pidbox"
REPLY_PIDBOX = f"reply.{PIDBOX}"


def check_host_name(host: str) -> str:
    if not HOST_NAME.fullmatch(host) or host == signing.CONTROL:
        raise ConfigError(setting="host", reason=f"{host!r} is not a host name (letters, digits, '.', '_', '-')")
    return host


def host_user(host: str) -> str:
    """The Redis user of ``host``'s agents."""
    return USER_PREFIX + check_host_name(host)


def host_password(master: bytes, host: str) -> str:
    return signing.derive(master, f"broker:{host}").hex()


def password_file(settings: Settings, host: str) -> Path:
    """Where a host's broker password lives: beside its message key file."""
    return settings.effective_queue_keys_dir / "hosts" / f"{host}.broker-password"


def _queue_keys(queue: str) -> list[str]:
    return [queue, *(f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS if step)]


def host_rules(settings: Settings, host: str) -> list[str]:
    """The ACL rules (after ``reset``) of ``host``'s user, as listed above. Every allowed command applies to the
    host's own keys; keys of others are reached only through selectors that name the one command each needs
    (a write-only key pattern alone would let SET, EXPIRE or DEL through to a control queue)."""
    rules = ["resetchannels", "-@all", *(f"+{command}" for command in COMMANDS)]
    for name in agent_names(settings.replace(host=host)):
        check_host_name(name)
        for service in ("compute", "network"):
            queue = host_queue(service, name)
            rules += [f"~{key}" for key in _queue_keys(queue)]
            rules.append(f"~{Channel.keyprefix_queue % queue}")
            rules.append(f"~{Channel.keyprefix_binding_permanent % queue}")
        rules += [f"~{RESULT_KEY_PREFIX}{name}/*", f"&{RESULT_KEY_PREFIX}{name}/*"]
    rules += [f"~{key}" for key in unacked_keys(host).values()]
    rules += [f"~*@{key}" for key in _queue_keys(f"{host}.{PIDBOX}")]  # its workers' remote-control queues
    rules.append(f"&{Channel.keyprefix_fanout.format(db=0)}{PIDBOX}")
    pidbox_bindings = [Channel.keyprefix_queue % PIDBOX, Channel.keyprefix_binding_permanent % PIDBOX]
    rules += [
        "(+lpush " + " ".join(f"%W~{queue}" for queue in CONTROL_QUEUES) + ")",  # reports
        f"(+lpush %W~*.{REPLY_PIDBOX})",  # ping replies
        f"(+smembers %R~{Channel.keyprefix_queue % REPLY_PIDBOX})",  # routes them
        "(+sadd +srem " + " ".join(f"%W~{key}" for key in pidbox_bindings) + ")",  # its pidbox queues' bindings
    ]
    return rules


def registered_file(settings: Settings) -> Path:
    """Hosts on other machines given credentials by ``services host-keys`` (one name a line)."""
    return settings.state_path / "broker-hosts"


def known_hosts(settings: Settings) -> list[str]:
    """Every host with a Redis user: the hosts this machine runs and the hosts registered from other machines."""
    path = registered_file(settings)
    remote = path.read_text().split() if path.exists() else []
    return list(dict.fromkeys([*machine_hosts(settings), *remote]))


def register(settings: Settings, host: str) -> None:
    """Give a host on another machine a Redis user from now on (and in the running Redis: ``apply``)."""
    check_host_name(host)
    if host not in known_hosts(settings):
        path = registered_file(settings)
        with path.open("a") as handle:
            handle.write(f"{host}\n")
        path.chmod(0o600)


def _config_token(rule: str) -> str:
    """A rule as one token of redis.conf: quoted, with bytes outside printable ASCII escaped (``\\x06``)."""
    escaped = "".join(c if " " <= c <= "~" and c not in '"\\' else f"\\x{ord(c):02x}" for c in rule)
    return f'"{escaped}"'


def user_rules(settings: Settings, master: bytes, host: str) -> list[str]:
    """The whole ACL SETUSER of ``host`` after its name: reset, enabled, its password's SHA-256, its rules."""
    digest = hashlib.sha256(host_password(master, host).encode()).hexdigest()
    return ["reset", "on", f"#{digest}", *host_rules(settings, host)]


def sentinel_user_rules(master: bytes, host: str) -> list[str]:
    """A host's user on the Sentinels: the same name and password as on the data nodes, ``SENTINEL_COMMANDS``."""
    digest = hashlib.sha256(host_password(master, host).encode()).hexdigest()
    return ["reset", "on", f"#{digest}", "-@all", *(f"+{command}" for command in SENTINEL_COMMANDS)]


def sentinel_config_lines(settings: Settings, master: bytes) -> list[str]:
    """``user`` lines for a Sentinel's config file (``manage.redis_ha``)."""
    return [
        f"user {host_user(host)} " + " ".join(_config_token(rule) for rule in sentinel_user_rules(master, host))
        for host in known_hosts(settings)
    ]


def config_lines(settings: Settings, master: bytes) -> list[str]:
    """``user`` lines for redis.conf (the file is mode 600; it holds only SHA-256 digests of the passwords)."""
    return [
        f"user {host_user(host)} " + " ".join(_config_token(rule) for rule in user_rules(settings, master, host))
        for host in known_hosts(settings)
    ]


def apply(settings: Settings, master: bytes, hosts: Iterable[str] | None = None) -> None:
    """Set the users of ``hosts`` (default: every known host) in the running Redis, and delete the users of
    hosts no longer known (a retired host's agents lose the queue at once: Redis drops their connections)."""
    wanted = list(known_hosts(settings) if hosts is None else hosts)
    for db, rules in _servers(settings, master):
        with db:
            for host in wanted:  # one command each: a connected agent never sees its user half made
                db.execute_command("ACL", "SETUSER", host_user(host), *rules(host))
            if hosts is None:
                users = {host_user(host) for host in wanted}
                for user in [user for user in db.acl_users() if user.startswith(USER_PREFIX) and user not in users]:
                    db.acl_deluser(user)


def _servers(settings: Settings, master: bytes) -> list[tuple[redis.Redis, Callable[[str], list[str]]]]:
    """Every server that keeps the hosts' users, each with the rules it gives a host: the one Redis, or with
    ``broker_sentinels`` every data node the Sentinels know (Redis does not replicate users, and a replica
    becomes the primary) and every Sentinel. A node that is down now gets its users from its config file
    (``manage.redis_ha``) when it starts again."""

    def data_rules(host: str) -> list[str]:
        return user_rules(settings, master, host)

    if not settings.broker_sentinels:
        options = broker_tls(settings) or {}
        url = settings.effective_broker_url
        return [(redis.Redis.from_url(url, socket_timeout=5, decode_responses=True, **options), data_rules)]
    sign_in = sentinel_options(settings)["sentinel_kwargs"]
    name = settings.broker_master_name
    watchers = Sentinel(sentinel_addresses(settings.broker_sentinels), sentinel_kwargs=sign_in)
    nodes = [watchers.discover_master(name), *watchers.discover_slaves(name)]
    credentials = {"username": sign_in["username"], "password": sign_in["password"], "socket_timeout": 5}
    servers = [(redis.Redis(host, port, decode_responses=True, **credentials), data_rules) for host, port in nodes]
    for host, port in sentinel_addresses(settings.broker_sentinels):
        servers.append(
            (redis.Redis(host, port, decode_responses=True, **credentials), partial(sentinel_user_rules, master))
        )
    return servers
