"""A delete claims its task through the same compare-and-swap as every action, so racing requests end
consistent over real HTTP: concurrent deletes of one server all succeed (or find it already gone) and it is
deleted once; a delete racing a stop wins whatever the order, and the stop is accepted or refused, never a 500."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.functional.compute.conftest import action, create_server, wait_for_status, wait_until_gone

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]


def _active_servers(cloud, token: str, image: str, name: str, count: int) -> list[str]:
    ids = [create_server(cloud, token, image, f"{name}-{i}")["id"] for i in range(count)]
    for server_id in ids:
        wait_for_status(cloud, token, server_id, "ACTIVE")
    return ids


def test_concurrent_deletes_of_one_server_all_succeed_and_delete_it_once(cloud, server_image, unique):
    token = cloud.demo().get_token()
    (server_id,) = _active_servers(cloud, token, server_image, unique, 1)
    path = f"/compute/v2.1/servers/{server_id}"
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: cloud.request("DELETE", path, token).status_code, range(4)))
    assert 204 in codes and set(codes) <= {204, 404}, codes
    wait_until_gone(cloud, token, server_id)


def test_a_delete_racing_a_stop_deletes_the_server(cloud, server_image, unique):
    token = cloud.demo().get_token()
    servers = _active_servers(cloud, token, server_image, unique, 2)

    def race(server_id: str) -> tuple[int, int]:
        with ThreadPoolExecutor(2) as pool:
            stop = pool.submit(action, cloud, token, server_id, {"os-stop": None})
            gone = pool.submit(cloud.request, "DELETE", f"/compute/v2.1/servers/{server_id}", token)
            return stop.result().status_code, gone.result().status_code

    for server_id in servers:
        stop, gone = race(server_id)
        # 404: the delete had ended before the stop looked the server up (a fake host deletes in milliseconds)
        assert stop in (202, 404, 409) and gone == 204, (stop, gone)
    for server_id in servers:
        wait_until_gone(cloud, token, server_id)
