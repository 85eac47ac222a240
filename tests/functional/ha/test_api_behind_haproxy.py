"""Several API processes behind one HAProxy (``manage.api_proxy``): spread, survive one's death, and one killed in
the middle of a create leaves nothing half made.

A private cloud on its own PostgreSQL (the database a control plane of several nodes shares) whose API is three
gunicorn processes on 127.0.0.2-4, each its own process group as it would be its own node, behind HAProxy on the
cloud's address. A process is "killed" as a node dies: SIGKILL to its whole group.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from common.metadata_secret import metadata_secret, sign
from common.settings import Settings, load
from manage import api_proxy
from manage.clouds import write_clouds_yaml
from tests.functional.compute.conftest import COMPUTE, public_raw_image, wait_for_status
from tests.functional.conftest import ADMIN_PASSWORD, DEMO_PASSWORD, CloudClient, lift_quotas
from tests.harness import free_port, private_postgres, running_cloud, wait_until

pytestmark = [pytest.mark.functional]

COPIES = 3
NAMES = [f"api-{n}" for n in range(1, COPIES + 1)]


@dataclass
class HA:
    client: CloudClient
    settings: Settings
    database_url: str

    def pid(self, name: str) -> int:
        return int((self.settings.run_dir / f"{name}.pid").read_text().split()[0])

    def stats(self) -> dict[str, dict[str, str]]:
        return api_proxy.server_stats(self.settings)

    def pool_up(self) -> None:
        """Start what is missing of the pool (a killed process) and wait until it answers."""
        command = [sys.executable, "-m", "manage.api_proxy", "up", "--copies", str(COPIES)]
        result = subprocess.run(command, env=self.client.server.env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        wait_until(lambda: all(row["status"] == "UP" for row in self.stats().values()), 20, 0.2, "a server stayed down")


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HA]:
    with private_postgres(tmp_path_factory.mktemp("postgres-ha")) as database_url:
        yield from _cloud_behind_haproxy(tmp_path_factory, database_url)


def _cloud_behind_haproxy(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[HA]:
    env = {
        "STRATUS_DATABASE_URL": database_url,
        "STRATUS_API_WORKERS": "1",
        "STRATUS_API_BACKEND_PORT": str(free_port()),
        "STRATUS_IMAGE_IMPORT_TARGET_FORMAT": "raw",
        # A build committed by a process killed before it sent it is sent again by the sweeper, soon here.
        "STRATUS_COMPUTE_SWEEP_INTERVAL": "2",
        "STRATUS_COMPUTE_RESEND_AFTER": "3",
    }
    state_dir = tmp_path_factory.mktemp("cloud-ha")
    with running_cloud(state_dir, env) as server:
        server.bootstrap(ADMIN_PASSWORD, DEMO_PASSWORD)
        clouds_yaml = state_dir / "clouds.yaml"
        write_clouds_yaml(clouds_yaml, server.auth_url, "RegionOne", {"stratus": ("demo", DEMO_PASSWORD)})
        client = CloudClient(server, clouds_yaml)
        ha = HA(client, load(server.env), database_url)
        ha.pool_up()
        lift_quotas(client, ("admin", "demo"))
        yield ha


# ---------------------------------------------------------------------------------------------------------------
# Processes and their connections, from /proc


def _group(pgid: int) -> list[int]:
    """The live processes of process group ``pgid`` (an API process: gunicorn's master and its workers)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def _owner_of_local_port(port: int, pids: list[int]) -> int | None:
    """The one of ``pids`` holding the TCP socket whose local port is ``port`` (a database connection's)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        if inodes.intersection(links):
            return pid
    return None


def _kill(ha: HA, name: str) -> None:
    """SIGKILL API process ``name`` whole (its master and workers), as its node dying would; wait until gone."""
    pgid = ha.pid(name)
    os.killpg(pgid, signal.SIGKILL)
    wait_until(lambda: not _group(pgid), 10, 0.05, f"{name} outlived SIGKILL")


# ---------------------------------------------------------------------------------------------------------------
# Spread, addresses


def test_requests_are_spread_over_every_api_process_and_links_name_haproxy(ha):
    token = ha.client.admin_token()
    before = {name: int(row["stot"]) for name, row in ha.stats().items()}
    for _ in range(30):  # a connection of its own each, as many clients would
        response = requests.get(f"{ha.client.url}/compute/v2.1/flavors", headers={"X-Auth-Token": token}, timeout=30)
        assert response.status_code == 200, response.text
    after = {name: int(row["stot"]) for name, row in ha.stats().items()}
    served = {name: after[name] - before[name] for name in NAMES}
    assert all(count >= 5 for count in served.values()), served
    # The catalog and the links name HAProxy's address, never one process's.
    body = ha.client.request("GET", "/identity/v3/auth/catalog", token).json()
    urls = [endpoint["url"] for service in body["catalog"] for endpoint in service["endpoints"]]
    assert urls and all(url.startswith(ha.client.url) for url in urls), urls


def test_image_uploads_stream_through_haproxy_whole_with_a_length_and_chunked(ha, unique):
    token = ha.client.admin_token()
    data = os.urandom(1 << 20) * 24  # 24 MiB
    pieces = (data[n : n + (1 << 20)] for n in range(0, len(data), 1 << 20))
    for body in (data, pieces):  # Content-Length (read straight from gunicorn's socket), then chunked
        made = ha.client.request("POST", "/image/v2/images", token, json={
            "name": unique, "disk_format": "raw", "container_format": "bare",
        }).json()  # fmt: skip
        headers = {"Content-Type": "application/octet-stream"}
        upload = ha.client.request("PUT", f"/image/v2/images/{made['id']}/file", token, data=body, headers=headers)
        assert upload.status_code == 204, upload.text
        image = ha.client.request("GET", f"/image/v2/images/{made['id']}", token).json()
        assert (image["status"], image["size"], image["checksum"]) == (
            "active",
            len(data),
            hashlib.md5(data).hexdigest(),
        )
        assert ha.client.request("GET", f"/image/v2/images/{made['id']}/file", token).content == data


def _sign_in(url: str, source: str, name: str, password: str, headers: dict[str, str] | None = None) -> int:
    """POST /v3/auth/tokens to ``url`` from loopback address ``source``; its status."""
    from requests.adapters import HTTPAdapter

    class FromSource(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["source_address"] = (source, 0)
            super().init_poolmanager(*args, **kwargs)

    user = {"name": name, "domain": {"id": "default"}, "password": password}
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}}}}
    with requests.Session() as session:
        session.mount("http://", FromSource())
        return session.post(f"{url}/identity/v3/auth/tokens", json=body, headers=headers, timeout=30).status_code


def test_the_sign_in_limit_counts_clients_not_haproxy_and_believes_no_client_forwarded_for(ha):
    limited, other = f"127.9.{os.getpid() % 250}.7", f"127.9.{os.getpid() % 250}.8"
    for n in range(ha.settings.lockout_address_failure_attempts):
        assert _sign_in(ha.client.url, limited, f"spray-{n % 10}", "guess") == 401
    assert _sign_in(ha.client.url, limited, "demo", DEMO_PASSWORD) == 429
    # Another client through the same HAProxy is not counted with it: the API saw each client's own address.
    assert _sign_in(ha.client.url, other, "demo", DEMO_PASSWORD) == 201
    # A client's own X-Forwarded-For is not believed through HAProxy (only the entry HAProxy appended counts)...
    assert _sign_in(ha.client.url, limited, "demo", DEMO_PASSWORD, {"X-Forwarded-For": other}) == 429
    # ...nor by an API process it reaches without HAProxy: there the connection's own address counts.
    backend = api_proxy.local_backends(ha.settings, COPIES)[0].url
    assert _sign_in(backend, other, "demo", DEMO_PASSWORD, {"X-Forwarded-For": limited}) == 201


# ---------------------------------------------------------------------------------------------------------------
# One process killed


def test_killing_an_api_process_fails_no_get_and_cuts_at_most_the_answers_it_was_writing(ha):
    """GETs from four clients while one of three API processes dies. HAProxy sends again what could not reach it
    and every GET it closed on without answering, so no client sees an error or a 5xx. What no proxy can send
    again is an answer the process had begun to write: the client gets it cut, and retries that GET once, as a
    client retries an idempotent request after a broken connection; there are at most as many as the process had
    threads."""
    token = ha.client.admin_token()
    statuses: list[int | str] = []
    cut: list[str] = []
    stop = threading.Event()

    def client() -> None:
        with requests.Session() as session:  # kept-alive connections, as openstacksdk's
            session.headers["X-Auth-Token"] = token
            while not stop.is_set():
                for attempt in (1, 2):
                    try:
                        response = session.get(f"{ha.client.url}/compute/v2.1/servers/detail", timeout=30)
                    except requests.exceptions.ChunkedEncodingError as exc:  # begun, then cut: never retried by HAProxy
                        if attempt == 2:
                            statuses.append(repr(exc))
                        cut.append(repr(exc))
                    except requests.RequestException as exc:  # anything else HAProxy should have sent again
                        statuses.append(repr(exc))
                        break
                    else:
                        statuses.append(response.status_code)
                        break

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        time.sleep(1.5)
        served_before = len(statuses)
        _kill(ha, "api-2")
        time.sleep(3)
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=40)
    failed = [status for status in statuses if status != 200]
    assert not failed, f"{len(failed)} of {len(statuses)} failed: {failed[:5]}"
    assert len(cut) <= ha.settings.api_workers * ha.settings.api_threads, cut
    assert len(statuses) - served_before > 20  # the cloud went on answering through the others
    assert ha.stats()["api-2"]["status"].startswith("DOWN")
    ha.pool_up()
    assert ha.stats()["api-2"]["status"] == "UP"


# ---------------------------------------------------------------------------------------------------------------
# One process killed in the middle of a create


def _sql(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _counts(ha: HA, token: str, name: str, network: str) -> dict[str, int]:
    """What a create of server ``name`` on ``network`` writes, counted in the database, and the project's usage as
    its quotas count it (from rows: a row left behind would be counted for nothing)."""
    tenant = "(SELECT id FROM ports WHERE network_id = %(net)s AND device_owner NOT LIKE 'network:%%')"
    queries = {
        "instances": "SELECT count(*) FROM instances WHERE name = %(name)s",
        "actions": "SELECT count(*) FROM instance_actions a JOIN instances i ON i.id = a.instance_id "
        "WHERE i.name = %(name)s",
        "allocations": "SELECT count(*) FROM allocations a JOIN instances i ON i.id = a.instance_id "
        "WHERE i.name = %(name)s",
        "ports": f"SELECT count(*) FROM {tenant} AS p",
        "addresses": f"SELECT count(*) FROM ip_allocations WHERE port_id IN {tenant}",
    }
    with psycopg.connect(_sql(ha.database_url)) as db:
        counts = {what: db.execute(sql, {"name": name, "net": network}).fetchone()[0] for what, sql in queries.items()}
    limits = ha.client.request("GET", "/compute/v2.1/limits", token).json()["limits"]["absolute"]
    project = ha.client.demo().get_project_id()
    ports = ha.client.request("GET", f"/network/v2.0/quotas/{project}/details", token).json()["quota"]["port"]
    return counts | {"instances used": limits["totalInstancesUsed"], "ports used": ports["used"]}


def _network(ha: HA, token: str, name: str) -> str:
    network = ha.client.request("POST", "/network/v2.0/networks", token, json={"network": {"name": name}})
    assert network.status_code == 201, network.text
    network_id = network.json()["network"]["id"]
    subnet = {"subnet": {"network_id": network_id, "cidr": "10.77.0.0/24", "ip_version": 4, "name": name}}
    response = ha.client.request("POST", "/network/v2.0/subnets", token, json=subnet)
    assert response.status_code == 201, response.text
    return network_id


def _waiting_backend(db: psycopg.Connection, table: str) -> int:
    """The client port of the database connection blocked on ``table``'s lock (the API's, mid-request)."""

    def blocked() -> int | None:
        row = db.execute(
            "SELECT client_port FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE %s",
            (f"%INSERT INTO {table}%",),
        ).fetchone()
        return row[0] if row else None

    return wait_until(blocked, 30, 0.05, f"no API request ever waited to insert into {table}")


def _written(db: psycopg.Connection, port: int) -> set[str]:
    """The tables the transaction of the database connection from ``port`` has written to (uncommitted)."""
    rows = db.execute(
        "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE a.client_port = %s AND l.mode = 'RowExclusiveLock' "
        "AND l.granted AND c.relkind = 'r'",
        (port,),
    ).fetchall()
    return {row[0] for row in rows}


def _kill_mid_insert(ha: HA, table: str, send: Any) -> tuple[requests.Response, set[str]]:
    """Hold ``table`` against inserts, run ``send`` (a request through HAProxy) until it waits to insert there, kill
    the API process that serves it, then let go; the response the client got and the tables the request's
    transaction had written to when its process died."""
    answers: list[requests.Response] = []
    with (
        psycopg.connect(_sql(ha.database_url), autocommit=True) as watcher,
        psycopg.connect(_sql(ha.database_url)) as holder,
    ):
        holder.execute(f"LOCK TABLE {table} IN SHARE MODE")  # reads go on; an INSERT waits
        sender = threading.Thread(target=lambda: answers.append(send()))
        sender.start()
        try:
            port = _waiting_backend(watcher, table)
            written = _written(watcher, port)
            groups = {name: _group(ha.pid(name)) for name in NAMES}
            serving = [name for name, pids in groups.items() if _owner_of_local_port(port, pids)]
            assert len(serving) == 1, groups
            _kill(ha, serving[0])
        finally:
            holder.rollback()
            sender.join(timeout=60)
        # The killed process's transaction ends when its database backend finds the connection gone.
        wait_until(
            lambda: not watcher.execute("SELECT 1 FROM pg_stat_activity WHERE client_port = %s", (port,)).fetchone(),
            30,
            0.1,
            "the killed process's transaction never ended",
        )
    assert answers, "the client never got an answer"
    return answers[0], written


def test_an_api_process_killed_mid_server_create_leaves_no_half_made_server(ha, unique):
    token = ha.client.demo().get_token()
    admin = ha.client.admin_token()
    image = public_raw_image(ha.client, admin, f"image-{unique}")
    network = _network(ha, token, f"net-{unique}")
    before = _counts(ha, token, unique, network)
    body = {"server": {"name": unique, "imageRef": image, "flavorRef": "1", "networks": [{"uuid": network}]}}

    def send() -> requests.Response:
        return ha.client.request("POST", "/compute/v2.1/servers", token, json=body, headers=COMPUTE)

    # The server and its port are written; the port's address is what the request waits for when its API dies.
    answer, written = _kill_mid_insert(ha, "ip_allocations", send)
    assert {"instances", "ports"} <= written  # it died with the server and its port written, its address not yet
    assert answer.status_code in (502, 503), answer.text  # HAProxy's: never a 202 for a server that is not there
    assert _counts(ha, token, unique, network) == before  # no server, action, allocation, port, address, usage
    ha.pool_up()

    # The client tries again (a create is never retried for it): the whole server, with its port and address.
    server = send()
    assert server.status_code == 202, server.text
    made = wait_for_status(ha.client, token, server.json()["server"]["id"], "ACTIVE", timeout=60)
    # Its metadata through HAProxy, as a host's metadata proxy asks: the signed X-Forwarded-For arrives as signed.
    address = next(a["addr"] for addresses in made["addresses"].values() for a in addresses)
    secret = metadata_secret(ha.settings)
    signed = {"X-Stratus-Network-ID": network, "X-Forwarded-For": address,
              "X-Stratus-Signature": sign(secret, network, address)}  # fmt: skip
    meta = requests.get(f"{ha.client.url}/metadata/openstack/latest/meta_data.json", headers=signed, timeout=30)
    assert meta.status_code == 200 and meta.json()["uuid"] == made["id"], meta.text
    after = _counts(ha, token, unique, network)
    assert {what: after[what] - before[what] for what in after} == {
        "instances": 1, "actions": 1, "allocations": 1, "ports": 1, "addresses": 1, "instances used": 1,
        "ports used": 1,
    }  # fmt: skip


def test_an_api_process_killed_mid_port_create_leaves_no_port_without_its_address(ha, unique):
    token = ha.client.demo().get_token()
    network = _network(ha, token, f"net-{unique}")
    before = _counts(ha, token, unique, network)

    def send() -> requests.Response:
        return ha.client.request("POST", "/network/v2.0/ports", token, json={"port": {"network_id": network}})

    answer, written = _kill_mid_insert(ha, "ip_allocations", send)
    assert "ports" in written  # it died with the port written, its address not yet
    assert answer.status_code in (502, 503), answer.text
    assert _counts(ha, token, unique, network) == before  # no port, no address, no usage
    ha.pool_up()
    made = send()
    assert made.status_code == 201 and made.json()["port"]["fixed_ips"], made.text


def _creates_across_a_kill(
    ha: HA, token: str, image: str, network: str, prefix: str
) -> dict[str, requests.Response | str]:
    """Twelve server creates at once, ``api-1`` SIGKILLed 0.3 s in: each one's answer (or the client's error)."""
    answers: dict[str, requests.Response | str] = {}

    def create(name: str) -> None:
        body = {"server": {"name": name, "imageRef": image, "flavorRef": "1", "networks": [{"uuid": network}]}}
        try:
            answers[name] = ha.client.request("POST", "/compute/v2.1/servers", token, json=body, headers=COMPUTE)
        except requests.RequestException as exc:
            answers[name] = repr(exc)

    threads = [threading.Thread(target=create, args=(f"{prefix}-{n}",)) for n in range(12)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    _kill(ha, "api-1")
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_creates_under_a_process_killed_at_any_moment_end_whole_or_not_at_all(ha, unique):
    """Twelve server creates at once while one of the processes serving them dies, wherever each of them was
    (before, inside or after its transaction, before or after sending its build): every create answered 202 has
    its server, and every server that exists, answered or not, ends ACTIVE with its port, address and allocation;
    no port is left without a server."""
    token = ha.client.demo().get_token()
    image = public_raw_image(ha.client, ha.client.admin_token(), f"image-{unique}")
    network = _network(ha, token, f"net-{unique}")
    answers: dict[str, requests.Response | str] = {}
    for attempt in range(3):  # the kill is timed by a clock: on a loaded machine it may meet no create at all
        burst = _creates_across_a_kill(ha, token, image, network, f"{unique}-{attempt}")
        answers |= burst
        statuses = {name: getattr(answer, "status_code", answer) for name, answer in burst.items()}
        assert len(statuses) == 12 and set(statuses.values()) <= {202, 502, 503}, statuses
        if 502 in statuses.values():
            break
        ha.pool_up()
    else:
        raise AssertionError("three kills met no create: the test proved nothing")  # 2-4 of 12 in six runs
    accepted = {
        answer.json()["server"]["id"] for answer in answers.values() if getattr(answer, "status_code", 0) == 202
    }

    def servers() -> list[dict[str, Any]]:
        query = f"/compute/v2.1/servers/detail?name=^{unique}-"
        return ha.client.request("GET", query, token, headers=COMPUTE).json()["servers"]

    settled = wait_until(servers, 90, 0.5, "servers never settled",
                         until=lambda found: all(s["status"] != "BUILD" for s in found))  # fmt: skip
    assert accepted <= {s["id"] for s in settled}  # never a 202 for a server that is not there
    assert all(s["status"] == "ACTIVE" for s in settled), [(s["name"], s["status"], s.get("fault")) for s in settled]
    with psycopg.connect(_sql(ha.database_url)) as db:
        rows = db.execute(
            "SELECT i.id, count(DISTINCT p.id), count(DISTINCT ip.id), count(DISTINCT a.instance_id) FROM instances i "
            "LEFT JOIN ports p ON p.device_id = i.id LEFT JOIN ip_allocations ip ON ip.port_id = p.id "
            "LEFT JOIN allocations a ON a.instance_id = i.id WHERE i.name LIKE %s GROUP BY i.id",
            (f"{unique}-%",),
        ).fetchall()
        orphans = db.execute(
            "SELECT count(*) FROM ports p WHERE p.network_id = %s AND p.device_owner LIKE 'compute:%%' "
            "AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = p.device_id)",
            (network,),
        ).fetchone()[0]
    assert {row[0] for row in rows} == {s["id"] for s in settled}
    assert all(row[1:] == (1, 1, 1) for row in rows), rows
    assert orphans == 0
    ha.pool_up()
