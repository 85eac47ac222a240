"""PostgreSQL with a streaming replica on one machine, and the promotion an operator runs when the primary is lost.

The highly available shape of the control plane's database (issue #17), built from PostgreSQL's own parts and
nothing home-made: a primary, a hot standby made from it with ``pg_basebackup -R`` that streams its WAL, and
``pg_ctl promote`` to turn the standby into the primary. The services' database URL names both servers in libpq's
multi-host form with ``target_session_attrs=read-write`` (:meth:`PostgresPair.url`): a new connection tries each
server in turn and keeps the one that accepts writes, so after a promotion every service finds the new primary
by itself, without a restart (``common.db`` drops the connections the old primary's death broke).

Each member is a PostgreSQL server of its own on its own loopback address and port with its own data directory
under one base directory, where ``pair.json`` records the members and which one is the primary, and ``pgpass``
(libpq's password file, mode 600) the passwords: TCP only (no Unix socket, so no socket path or permissions to
mind), SCRAM authentication from the loopback range only, a ``replicator`` role for the standby and a ``stratus``
role that owns the ``stratus`` database and is what the services log in as. No password reaches a command line,
an environment variable or a URL: libpq reads them from ``pgpass`` (``passfile=`` in the URL).

Replication is asynchronous by default: a write the primary committed in the last instant before it died may not
have reached the standby (a lone synchronous standby would stop every write while it is down, the opposite of
what two servers are for). With two standbys or more, ``synchronous`` gives quorum commit (``ANY 1 (*)``): a commit
returns once one standby has it on disk, and :func:`promote` picks the standby that received the most WAL, so no
acknowledged write is lost. A former primary is never started again as a primary: :func:`rejoin` makes it the new
primary's standby from a fresh base backup.

Used by the tests (a throw-away base directory) and by ``make up HA=1`` (``<state_dir>/postgres-ha``, through
``stratus-manage database up``). As root the servers run as the ``postgres`` user (PostgreSQL refuses root) and
the base directory belongs to it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

import click

from common.settings import load

PAIR_DIR = "postgres-ha"
"""The base directory's name under a cloud's state directory."""
DATABASE = "stratus"
SERVICE_ROLE = "stratus"
REPLICATION_ROLE = "replicator"
SUPERUSER = "postgres"
DEFAULT_HOSTS = ("127.0.0.1", "127.0.0.2")
CONNECT_TIMEOUT = 3
"""libpq's ``connect_timeout`` per server in the URL: on real machines a dead server's address may not refuse but
swallow the connection attempt, and the next server must be tried well before a client's request times out."""
DEAD_PEER = "&keepalives=1&keepalives_idle=5&keepalives_interval=2&keepalives_count=3&tcp_user_timeout=10000"
"""libpq's TCP settings in the URL: a server whose machine vanished sends no reset, and a pooled connection's
pre-ping (or a query) to it would wait for the kernel's retransmissions, a quarter of an hour. With these an idle
connection is found dead within about 11 s and a send unanswered for 10 s fails, so the pool drops it and the
next connection looks for the new primary."""
COMMAND_TIMEOUT = 120


class PostgresHAError(click.ClickException):
    """A step of the pair's life failed; the message names the command and what it printed."""


@dataclass(frozen=True)
class Member:
    """One PostgreSQL server of the pair: where it listens and where its data lives (relative to the base)."""

    name: str
    host: str
    port: int

    def __post_init__(self) -> None:
        # pg_ctl hands its -o options to a shell: only a checked address and port ever go there. IPv4 only (the
        # loopback range is what one machine needs; the URL's host=ADDRESS:PORT form is ambiguous for IPv6).
        try:
            address = str(ipaddress.IPv4Address(self.host))
        except ValueError:
            address = None
        if address != self.host or type(self.port) is not int or not 0 < self.port < 65536:
            raise PostgresHAError(f"{self.name}: not an address and port: {self.host!r}, {self.port!r}")
        if not self.name.isalnum():
            raise PostgresHAError(f"not a member name: {self.name!r}")

    def data(self, base: Path) -> Path:
        return base / self.name / "data"

    def log(self, base: Path) -> Path:
        return base / self.name / "server.log"


@dataclass
class PostgresPair:
    """A primary and its standby under ``base`` (``pair.json`` says which is which)."""

    base: Path
    members: tuple[Member, ...]
    primary: str
    synchronous: bool = False
    """Quorum commit: a commit returns once one standby has it on disk (``ANY 1 (*)``), so a promotion of the most
    advanced standby loses no acknowledged write. Pairs of three or more only: with one standby, its loss would stop
    every write."""

    # -- what the services use --------------------------------------------------------------------------------

    @property
    def passfile(self) -> Path:
        return self.base / "pgpass"

    def url(self) -> str:
        """The SQLAlchemy URL of the services: every member, the one accepting writes chosen at each connection."""
        hosts = "&".join(f"host={m.host}:{m.port}" for m in self.members)
        return (
            f"postgresql+psycopg://{SERVICE_ROLE}@/{DATABASE}?{hosts}&target_session_attrs=read-write"
            f"&connect_timeout={CONNECT_TIMEOUT}{DEAD_PEER}&passfile={quote(str(self.passfile), safe='/')}"
        )

    def member_url(self, name: str) -> str:
        """The URL of one member alone, standby or not (for checks: what a standby has replayed)."""
        member = self.member(name)
        return (
            f"postgresql+psycopg://{SERVICE_ROLE}@{member.host}:{member.port}/{DATABASE}"
            f"?connect_timeout={CONNECT_TIMEOUT}&passfile={quote(str(self.passfile), safe='/')}"
        )

    def member(self, name: str) -> Member:
        for member in self.members:
            if member.name == name:
                return member
        raise PostgresHAError(f"no member {name!r} in {self.base} (members: {', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    @property
    def standbys(self) -> list[str]:
        return [name for name in self.names if name != self.primary]

    # -- the servers ------------------------------------------------------------------------------------------

    def run(self, *argv: str | Path, env: dict[str, str] | None = None) -> str:
        """Run a PostgreSQL program as the cluster's owner; its output, or PostgresHAError naming it."""
        command = [*owner_prefix(), *(str(a) for a in argv)]
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | (env or {})
        result = subprocess.run(
            command, cwd=self.base, env=child_env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
        )
        if result.returncode != 0:
            raise PostgresHAError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def running(self, name: str) -> bool:
        """Whether the member's postmaster is alive (``pg_ctl status``, which reads its pid file)."""
        command = [*owner_prefix(), str(bindir() / "pg_ctl"), "-D", str(self.member(name).data(self.base)), "status"]
        return subprocess.run(command, capture_output=True, timeout=COMMAND_TIMEOUT).returncode == 0

    def start(self, name: str) -> None:
        member = self.member(name)
        options = f"-c listen_addresses={member.host} -p {member.port}"
        self.run(bindir() / "pg_ctl", "-D", member.data(self.base), "-l", member.log(self.base), "-o", options,
                 "-w", "-t", "60", "start")  # fmt: skip

    def stop(self, name: str, mode: str = "fast") -> None:
        """Stop one member: ``fast`` (clients disconnected, a clean shutdown) or ``immediate`` (as if it died)."""
        if self.running(name):
            self.run(bindir() / "pg_ctl", "-D", self.member(name).data(self.base), "-m", mode, "-w", "stop")

    def stop_all(self, mode: str = "fast") -> None:
        for name in self.names:
            self.stop(name, mode)

    def query(self, name: str, sql: str, dbname: str = "postgres") -> str:
        """One SQL statement on one member as the superuser through psql (over TCP with the pair's passwords); its
        rows unaligned."""
        member = self.member(name)
        info = conninfo(
            host=member.host, port=member.port, user=SUPERUSER, dbname=dbname, passfile=self.passfile,
            connect_timeout=CONNECT_TIMEOUT,
        )  # fmt: skip
        return self.run(bindir() / "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", info, "-c", sql)

    def in_recovery(self, name: str) -> bool:
        return self.query(name, "SELECT pg_is_in_recovery()").strip() == "t"

    def save(self) -> None:
        record = {
            "members": [asdict(m) for m in self.members],
            "primary": self.primary,
            "synchronous": self.synchronous,
        }
        write_owned(self.base / "pair.json", json.dumps(record, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def bindir() -> Path:
    """The newest installed PostgreSQL's programs (Debian's layout: /usr/lib/postgresql/<major>/bin)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not candidates:
        raise PostgresHAError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)")
    return candidates[-1].parent


def owner_prefix() -> list[str]:
    """As root, PostgreSQL's programs run as the ``postgres`` user; otherwise as ourselves."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def chown_to_owner(path: Path) -> None:
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(path, owner.pw_uid, owner.pw_gid)


def write_owned(path: Path, text: str) -> None:
    """Write a file readable by the cluster's owner alone (libpq ignores a password file others can read)."""
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    chown_to_owner(temporary)
    temporary.replace(path)


def conninfo(**values: object) -> str:
    """A libpq connection string, each value quoted as libpq reads it (a path may hold spaces or quotes)."""
    quoted = (str(v).replace("\\", "\\\\").replace("'", "\\'") for v in values.values())
    return " ".join(f"{key}='{value}'" for key, value in zip(values, quoted, strict=True))


def free_port(host: str) -> int:
    """A TCP port free on ``host`` a moment ago (bind soon)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def load_pair(base: Path) -> PostgresPair | None:
    record_path = base / "pair.json"
    if not record_path.exists():
        return None
    record = json.loads(record_path.read_text())
    members = tuple(Member(**m) for m in record["members"])
    return PostgresPair(base, members, record["primary"], bool(record.get("synchronous", False)))


def wait_streaming(pair: PostgresPair, standby: str, timeout: float = 30.0) -> None:
    """Wait until the primary reports ``standby`` streaming (its WAL sender in state ``streaming``)."""
    deadline = time.monotonic() + timeout
    sql = f"SELECT count(*) FROM pg_stat_replication WHERE application_name = '{standby}' AND state = 'streaming'"
    while pair.query(pair.primary, sql).strip() != "1":
        if time.monotonic() > deadline:
            raise PostgresHAError(f"{standby} is not streaming from {pair.primary} after {timeout:.0f}s")
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------------------------
# Life of the pair


def _init_primary(pair: PostgresPair, member: Member, passwords: dict[str, str]) -> None:
    base = pair.base
    member.data(base).parent.mkdir(mode=0o700)
    chown_to_owner(member.data(base).parent)
    pwfile = base / "superuser-password"
    write_owned(pwfile, passwords[SUPERUSER] + "\n")
    try:
        pair.run(bindir() / "initdb", "-D", member.data(base), "-U", SUPERUSER, "--pwfile", pwfile,
                 "-A", "scram-sha-256", "-E", "UTF8", "--no-sync")  # fmt: skip
    finally:
        pwfile.unlink()
    # TCP from the loopback range only, passwords always; the standby's replication connection likewise.
    hba = (
        "# Written by stratus-manage database (manage/postgres_ha.py).\n"
        f"host all all 127.0.0.0/8 scram-sha-256\n"
        f"host replication {REPLICATION_ROLE} 127.0.0.0/8 scram-sha-256\n"
    )
    write_owned(member.data(base) / "pg_hba.conf", hba)
    settings = [
        "unix_socket_directories = ''",
        "wal_level = replica",
        "max_wal_senders = 5",
        "wal_keep_size = '256MB'",  # a standby down for a while catches up from the primary's pg_wal
        "hot_standby = on",
        "wal_log_hints = on",  # so pg_rewind could rejoin a former primary without a full copy
    ]
    config = member.data(base) / "postgresql.conf"
    write_owned(config, config.read_text() + "\n# stratus\n" + "\n".join(settings) + "\n")
    pair.start(member.name)
    pair.query(member.name, "SELECT 1")  # superuser over TCP works before anything else
    for role, attributes in ((SERVICE_ROLE, "LOGIN"), (REPLICATION_ROLE, "LOGIN REPLICATION")):
        # The passwords are hex (secrets.token_hex): nothing in them can end the literal.
        pair.query(member.name, f"CREATE ROLE {role} {attributes} PASSWORD '{passwords[role]}'")
    pair.run(bindir() / "createdb", "-h", member.host, "-p", str(member.port), "-U", SUPERUSER, "-O", SERVICE_ROLE,
             DATABASE, env={"PGPASSFILE": str(pair.passfile)})  # fmt: skip


def _base_backup(pair: PostgresPair, standby: Member) -> None:
    """Make ``standby`` a copy of the current primary that streams from it (``pg_basebackup -R`` writes
    ``standby.signal`` and ``primary_conninfo``)."""
    primary = pair.member(pair.primary)
    data = standby.data(pair.base)
    if data.parent.exists():
        shutil.rmtree(data.parent)
    data.parent.mkdir(mode=0o700)
    chown_to_owner(data.parent)
    info = conninfo(
        host=primary.host, port=primary.port, user=REPLICATION_ROLE, passfile=pair.passfile,
        application_name=standby.name,
    )  # fmt: skip
    pair.run(bindir() / "pg_basebackup", "-D", data, "-d", info, "-R", "-X", "stream", "-c", "fast",
             "--no-sync")  # fmt: skip


def ensure_pair(base: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS, synchronous: bool = False) -> PostgresPair:
    """The pair under ``base``, created when it does not exist and its members started when they are not running.

    Creating: the first member is initialised as the primary (roles ``stratus`` and ``replicator``, database
    ``stratus``), each other member made its standby with ``pg_basebackup -R``, every one on a free port of its
    own loopback address (``hosts``). Starting again: the recorded primary first, then its standbys; a member
    that is neither (a former primary, no ``standby.signal``) is left stopped: starting it would make two
    primaries; :func:`rejoin` makes it a standby again. ``synchronous`` (three members or more): see
    :attr:`PostgresPair.synchronous`. Idempotent; returns the pair (``pair.url()`` is the services' database URL).
    """
    pair = load_pair(base)
    if pair is None:
        return _create_pair(base, hosts, synchronous)
    for name in [pair.primary, *pair.standbys]:
        is_standby = (pair.member(name).data(base) / "standby.signal").exists()
        if name != pair.primary and not is_standby:
            click.echo(f"warning: {name} was a primary; run 'stratus-manage database rejoin {name}'", err=True)
            continue
        if not pair.running(name):
            pair.start(name)
    return pair


def _create_pair(base: Path, hosts: tuple[str, ...], synchronous: bool) -> PostgresPair:
    if len(hosts) < 2:
        raise PostgresHAError("a primary and a standby need two addresses")
    if synchronous and len(hosts) < 3:
        raise PostgresHAError("synchronous replication needs two standbys: the loss of a lone one stops every write")
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    chown_to_owner(base)
    if os.geteuid() == 0 and subprocess.run([*owner_prefix(), "test", "-w", str(base)], check=False).returncode:
        raise PostgresHAError(f"the postgres user cannot reach {base}: every directory above it must be searchable")
    for leftover in base.glob("pg*/data"):  # a creation that never finished (no pair.json): start afresh
        shutil.rmtree(leftover.parent)
    members = tuple(Member(f"pg{i + 1}", host, free_port(host)) for i, host in enumerate(hosts))
    pair = PostgresPair(base, members, members[0].name, synchronous)
    passwords = {role: secrets.token_hex(24) for role in (SUPERUSER, SERVICE_ROLE, REPLICATION_ROLE)}
    write_owned(pair.passfile, "".join(f"*:*:*:{role}:{password}\n" for role, password in passwords.items()))
    try:
        _init_primary(pair, members[0], passwords)
        for standby in members[1:]:
            _base_backup(pair, standby)
            pair.start(standby.name)
            wait_streaming(pair, standby.name)
        _set_synchronous(pair)
    except BaseException:
        pair.stop_all("immediate")
        raise
    pair.save()
    return pair


def _set_synchronous(pair: PostgresPair, streaming: bool = True) -> None:
    """On the primary, once its standbys stream: commits wait for one of them (quorum commit), or for none. With no
    standby ``streaming`` a synchronous pair's commits would wait forever: they do not wait until one rejoins."""
    if pair.synchronous and not streaming:
        click.echo("warning: no standby follows the new primary: commits are asynchronous until one rejoins", err=True)
    names = "ANY 1 (*)" if pair.synchronous and streaming else ""
    pair.query(pair.primary, f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
    pair.query(pair.primary, "SELECT pg_reload_conf()")


def most_advanced_standby(pair: PostgresPair) -> str:
    """The running standby that has received the most WAL: the one to promote, so that no write a quorum commit
    acknowledged is lost (with ``ANY 1``, a commit may be on one standby only)."""
    received = {}
    for name in pair.standbys:
        if (pair.member(name).data(pair.base) / "standby.signal").exists() and pair.running(name):
            lsn = "SELECT pg_wal_lsn_diff(coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), '0/0')"
            received[name] = float(pair.query(name, lsn).strip() or 0)
    if not received:
        raise PostgresHAError("no running standby to promote")
    return max(received, key=lambda name: received[name])


def promote(base: Path, name: str | None = None, force: bool = False) -> PostgresPair:
    """Make a standby the primary (``pg_ctl promote``, which waits until it accepts writes) and record it.

    Refuses while the recorded primary still runs (two primaries would each take writes the other never sees)
    unless ``force``: the operator has made sure the old one can take no more writes (its machine is off or cut
    off). ``name``: which standby; by default the running one that received the most WAL. Other running standbys
    (a pair of three) are pointed at the new primary and follow its timeline; then, in a synchronous pair, the new
    primary's commits wait for one of them again.
    """
    pair = load_pair(base)
    if pair is None:
        raise PostgresHAError(f"no PostgreSQL pair in {base}")
    if name is None:
        name = most_advanced_standby(pair)
    if name == pair.primary:
        raise PostgresHAError(f"{name} is already the primary")
    if pair.running(pair.primary) and not force:
        raise PostgresHAError(
            f"the primary {pair.primary} is still running: stop it first (or --force if it is cut off)"
        )
    former = pair.primary
    pair.run(bindir() / "pg_ctl", "-D", pair.member(name).data(base), "-w", "-t", "60", "promote")
    pair.primary = name
    pair.save()
    followers = [other for other in pair.standbys if other != former and pair.running(other)]
    for other in followers:
        _follow(pair, other)
    _set_synchronous(pair, streaming=bool(followers))
    return pair


def _follow(pair: PostgresPair, standby: str) -> None:
    """Point a running standby at the current primary: PostgreSQL takes a new ``primary_conninfo`` on reload, and
    ``recovery_target_timeline = 'latest'`` (the default) follows the promoted standby's new timeline."""
    primary = pair.member(pair.primary)
    info = conninfo(
        host=primary.host, port=primary.port, user=REPLICATION_ROLE, passfile=pair.passfile, application_name=standby
    )
    pair.query(standby, "ALTER SYSTEM SET primary_conninfo = '" + info.replace("'", "''") + "'")
    pair.query(standby, "SELECT pg_reload_conf()")
    wait_streaming(pair, standby)


def rejoin(base: Path, name: str) -> PostgresPair:
    """Make a stopped former primary (or a broken standby) a standby of the current primary again: its data
    directory is replaced by a fresh base backup, then it starts and streams."""
    pair = load_pair(base)
    if pair is None:
        raise PostgresHAError(f"no PostgreSQL pair in {base}")
    if name == pair.primary:
        raise PostgresHAError(f"{name} is the primary")
    pair.stop(name, "fast")
    _base_backup(pair, pair.member(name))
    pair.start(name)
    wait_streaming(pair, name)
    _set_synchronous(pair)
    return pair


def stop_pair(base: Path, mode: str = "fast") -> None:
    """Stop every member (standbys first, so none logs the primary's absence)."""
    pair = load_pair(base)
    if pair is not None:
        for name in [*pair.standbys, pair.primary]:
            pair.stop(name, mode)


# ---------------------------------------------------------------------------------------------------------------
# stratus-manage database ...


def _base_of_settings() -> Path:
    """``<state_dir>/postgres-ha``, resolved: it may be a link to where the ``postgres`` user can reach (a state
    directory under a private one), and PostgreSQL's programs, running as that user, must get the real path."""
    return (load().state_path / PAIR_DIR).resolve()


@click.group("database")
def database() -> None:
    """The highly available PostgreSQL of this state directory (<state_dir>/postgres-ha): a primary and a streaming
    standby on this machine, and the promotion to run when the primary is lost."""


@database.command("up")
@click.option("--standbys", default=1, show_default=True, type=click.IntRange(1, 8), help="Standbys, when creating.")
@click.option("--synchronous", is_flag=True, help="Quorum commit (two standbys or more), when creating.")
def database_up(standbys: int, synchronous: bool) -> None:
    """Create the pair if needed (the primary on 127.0.0.1, standbys on 127.0.0.2...), start its members, and print
    the database URL the services use."""
    hosts = tuple(f"127.0.0.{i + 1}" for i in range(standbys + 1))
    click.echo(ensure_pair(_base_of_settings(), hosts, synchronous).url())


@database.command("url")
def database_url() -> None:
    """Print the services' database URL (both servers, the writable one chosen at each connection)."""
    pair = load_pair(_base_of_settings())
    if pair is None:
        raise PostgresHAError("no PostgreSQL pair here: run 'stratus-manage database up'")
    click.echo(pair.url())


@database.command("status")
def database_status() -> None:
    """Each member: its address, whether it runs, and whether it is the primary or a standby."""
    pair = load_pair(_base_of_settings())
    if pair is None:
        raise PostgresHAError("no PostgreSQL pair here: run 'stratus-manage database up'")
    for member in pair.members:
        running = pair.running(member.name)
        role = "primary" if member.name == pair.primary else "standby"
        if role == "standby" and not (member.data(pair.base) / "standby.signal").exists():
            role = f"former primary (stratus-manage database rejoin {member.name})"
        if running:
            role = "standby (in recovery)" if pair.in_recovery(member.name) else "accepting writes"
        state = "running" if running else "stopped"
        click.echo(f"{member.name}  {member.host}:{member.port}  {state}  {role}")


@database.command("promote")
@click.argument("name", required=False)
@click.option("--force", is_flag=True, help="Promote although the primary still runs (it must be cut off).")
def database_promote(name: str | None, force: bool) -> None:
    """Make the standby NAME (when omitted: the running one that received the most WAL) the primary; services find
    it at their next connection."""
    pair = promote(_base_of_settings(), name, force)
    click.echo(f"{pair.primary} is the primary")


@database.command("rejoin")
@click.argument("name")
def database_rejoin(name: str) -> None:
    """Make the former primary NAME a standby of the current primary (from a fresh base backup)."""
    pair = rejoin(_base_of_settings(), name)
    click.echo(f"{name} streams from {pair.primary}")


@database.command("stop")
@click.argument("name")
@click.option("--immediate", is_flag=True, help="Stop without a checkpoint, as a crash would.")
def database_stop(name: str, immediate: bool) -> None:
    """Stop one member NAME (to show a failover: stop the primary with --immediate, then promote the standby)."""
    pair = load_pair(_base_of_settings())
    if pair is None:
        raise PostgresHAError("no PostgreSQL pair here: run 'stratus-manage database up'")
    pair.stop(name, "immediate" if immediate else "fast")
    click.echo(f"{name} stopped")


@database.command("down")
@click.option("--immediate", is_flag=True, help="Stop without a checkpoint, as a crash would.")
def database_down(immediate: bool) -> None:
    """Stop every member of the pair (their data stays)."""
    stop_pair(_base_of_settings(), "immediate" if immediate else "fast")
