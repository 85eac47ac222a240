"""A real OpenLDAP ``slapd`` for tests: its own config and database in a temp directory, loopback only,
loaded with an Active Directory-shaped tree (``sAMAccountName``, ``userAccountControl``, ``memberOf``, groups
with ``member``), stopped when the context ends."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SUFFIX = "dc=corp,dc=example"
BIND_DN = f"cn=reader,{SUFFIX}"
BIND_PASSWORD = "reader-secret"
ROOT_DN = f"cn=root,{SUFFIX}"
ROOT_PASSWORD = "root-secret"

# The few Active Directory attributes and classes the tests need, under a private-use OID arc.
AD_SCHEMA = """
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'sAMAccountName'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.2 NAME 'userAccountControl'
    EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.3 NAME 'memberOf'
    EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'user' SUP inetOrgPerson STRUCTURAL
    MAY ( sAMAccountName $ userAccountControl $ memberOf ) )
objectclass ( 1.3.6.1.4.1.55555.2.2 NAME 'group' SUP top STRUCTURAL
    MUST cn MAY ( member $ description $ sAMAccountName ) )
"""

CONFIG = """
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include {dir}/ad.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {dir}/slapd.pid
access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by * none
database mdb
maxsize 16777216
suffix "{suffix}"
rootdn "{root}"
rootpw {root_password}
directory {dir}/db
"""


def _entries(users: list[tuple[str, str, str, int, list[str]]], groups: dict[str, list[str]]) -> str:
    people = f"ou=People,{SUFFIX}"
    teams = f"ou=Groups,{SUFFIX}"
    parts = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: corp\ndc: corp\n",
        f"dn: {BIND_DN}\nobjectClass: person\nobjectClass: simpleSecurityObject\ncn: reader\nsn: reader\n"
        f"userPassword: {BIND_PASSWORD}\n",
        f"dn: {people}\nobjectClass: organizationalUnit\nou: People\n",
        f"dn: {teams}\nobjectClass: organizationalUnit\nou: Groups\n",
    ]
    for cn, account, password, control, member_of in users:
        lines = [f"dn: cn={cn},{people}", "objectClass: user", f"cn: {cn}", f"sn: {cn}"]
        lines += [f"sAMAccountName: {account}", f"mail: {account}@corp.example", f"userAccountControl: {control}"]
        lines += [f"userPassword: {password}"] + [f"memberOf: cn={g},{teams}" for g in member_of]
        parts.append("\n".join(lines) + "\n")
    for name, members in groups.items():
        lines = [f"dn: cn={name},{teams}", "objectClass: group", f"cn: {name}", f"description: the {name}"]
        lines += [f"member: cn={m},{people}" for m in members]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


@dataclass
class Slapd:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available() -> bool:
    return Path(SLAPD).exists() and Path(SLAPADD).exists()


@contextmanager
def running(
    workdir: Path, users: list[tuple[str, str, str, int, list[str]]], groups: dict[str, list[str]]
) -> Iterator[Slapd]:
    """slapd on ``ldap://127.0.0.1:<free port>``; ``users`` are (cn, sAMAccountName, password,
    userAccountControl, memberOf group cns), ``groups`` map a cn to its member cns."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "db").mkdir(exist_ok=True)
    (workdir / "ad.schema").write_text(AD_SCHEMA)
    conf = workdir / "slapd.conf"
    conf.write_text(CONFIG.format(dir=workdir, suffix=SUFFIX, root=ROOT_DN, root_password=ROOT_PASSWORD))
    (workdir / "data.ldif").write_text(_entries(users, groups))
    subprocess.run([SLAPADD, "-f", str(conf), "-l", str(workdir / "data.ldif")], check=True, capture_output=True)
    port = free_port()
    url = f"ldap://127.0.0.1:{port}"
    log = open(workdir / "slapd.log", "wb")  # noqa: SIM115 - closed with the server
    process = subprocess.Popen(
        [SLAPD, "-f", str(conf), "-h", f"{url}/", "-d", "0"], stdout=log, stderr=subprocess.STDOUT
    )
    server = Slapd(url, process)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log_text = (workdir / "slapd.log").read_text(errors="replace")
                    raise RuntimeError(f"slapd did not start: {log_text}") from None
                time.sleep(0.1)
        yield server
    finally:
        server.stop()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
