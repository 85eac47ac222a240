"""``GET /servers/detail`` loads only the servers of the page it shows, whatever the project or cloud holds.

Regression (``bench/scale.py``): the listing loaded every matching server as a record, then cut the page out of
them in Python, so ``all_tenants=1&limit=1000`` over 10,000 servers built 10,000 records, and read each server's
host apart for its ``host_status``. It now orders and filters on a few columns, loads the page's servers alone and
their hosts in one read; the pages still follow one another by marker in the order of the whole listing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from compute import service
from compute.models import ComputeHost, Instance
from tests.unit.api.conftest import InProcessCloud

SERVERS = 3  # a project holds 10 servers at most (the default quota), the admin's shared with other tests


@pytest.fixture(scope="module")
def prefix(api_cloud: InProcessCloud) -> str:
    """``SERVERS`` servers of the admin's project named ``<prefix>-<n>`` (other tests add servers there too)."""
    prefix = uuid.uuid4().hex[:8]
    image_id = api_cloud.image(api_cloud.admin_token)
    for index in range(SERVERS):
        api_cloud.server(api_cloud.admin_token, f"{prefix}-{index}", image_id)
    return prefix


@contextmanager
def counted_loads() -> Iterator[list[str]]:
    """The ids of the ``Instance`` records loaded from the database meanwhile."""
    loaded: list[str] = []

    def on_load(target: Instance, _context: object) -> None:
        loaded.append(target.id)

    event.listen(Instance, "load", on_load)
    try:
        yield loaded
    finally:
        event.remove(Instance, "load", on_load)


def detail(api_cloud: InProcessCloud, query: str, version: str = "2.1") -> dict:
    headers = {"X-Auth-Token": api_cloud.admin_token, "OpenStack-API-Version": f"compute {version}"}
    response = api_cloud.client().get(f"/compute/v2.1/servers/detail?{query}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def test_a_page_of_two_loads_two_servers_of_many(api_cloud: InProcessCloud, prefix: str):
    assert len(detail(api_cloud, "")["servers"]) >= SERVERS
    with counted_loads() as loaded:
        page = detail(api_cloud, "limit=2")
    # Filtered in SQL alone, the page is a query's first rows, and one more that says whether a next page exists.
    assert [s["id"] for s in page["servers"]] == loaded[:2]
    assert len(loaded) == 3 and page["servers_links"][0]["href"].endswith(f"marker={loaded[1]}")


def test_pages_by_marker_follow_the_whole_listings_order_with_a_name_filter(api_cloud: InProcessCloud, prefix: str):
    whole = [s["id"] for s in detail(api_cloud, f"name=^{prefix}-")["servers"]]
    assert len(whole) == SERVERS
    walked, query = [], f"name=^{prefix}-&limit=2"
    while True:
        with counted_loads() as loaded:
            page = detail(api_cloud, query)
        assert len(loaded) == len(page["servers"]) <= 2
        walked += [s["id"] for s in page["servers"]]
        if not page.get("servers_links"):
            break
        query = f"name=^{prefix}-&limit=2&marker={walked[-1]}"
    assert walked == whole
    assert [s["name"] for s in detail(api_cloud, f"name=^{prefix}-&sort_key=display_name&sort_dir=asc")["servers"]] == [
        f"{prefix}-{index}" for index in range(SERVERS)
    ]


def test_the_pages_hosts_are_read_once_for_their_host_status(api_cloud: InProcessCloud, prefix: str):
    """Each of the page's servers on a host of its own: one read of the hosts, not one per server."""
    db = api_cloud.app.extensions["stratus"].db
    hosts = [f"{prefix}-host-{index}" for index in range(SERVERS)]
    with db.session() as session:
        session.add_all(ComputeHost(name=name, last_heartbeat=service.now()) for name in hosts)
        mine = session.scalars(select(Instance).where(Instance.name.startswith(f"{prefix}-"))).all()
        for instance, host in zip(mine, hosts, strict=True):
            instance.host = host
    statements: list[str] = []

    def on_execute(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        page = detail(api_cloud, f"name=^{prefix}-", version="2.16")
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)
    assert {s["host_status"] for s in page["servers"]} == {"UP"}
    assert sum("FROM compute_hosts" in s for s in statements) == 1, statements
