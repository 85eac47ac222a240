"""api.network.unit_of_work: a write tells the network service which networks changed only once its transaction
has committed (a task run on the old rows would push the old wiring), and not at all when the write fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery.signals import before_task_publish
from sqlalchemy import select

from api.network.unit_of_work import unit_of_work
from network import client
from network.models import Network
from tests.unit.api.conftest import InProcessCloud

NETWORKS = "/network/v2.0/networks"


@contextmanager
def published() -> Iterator[list[tuple[str, list[Any]]]]:
    """(task name, args) of every task the API publishes inside the block, as the broker receives it."""
    sent: list[tuple[str, list[Any]]] = []

    def record(sender: str | None = None, body: Any = None, **_: Any) -> None:
        sent.append((sender or "", list(body[0])))

    before_task_publish.connect(record, weak=False)
    try:
        yield sent
    finally:
        before_task_publish.disconnect(record)


def _network(api_cloud: InProcessCloud, name: str) -> str:
    headers = {"X-Auth-Token": api_cloud.demo_token}
    created = api_cloud.client().post(NETWORKS, json={"network": {"name": name}}, headers=headers)
    assert created.status_code == 201, created.get_data(as_text=True)
    return created.json["network"]["id"]


def test_the_network_service_is_told_after_the_commit_and_sees_the_change(api_cloud: InProcessCloud):
    network_id = _network(api_cloud, "before")
    db = api_cloud.app.extensions["stratus"].db
    seen_by_the_task: list[str] = []

    def read_name(sender: str | None = None, **_: Any) -> None:
        with db.session() as session:  # another connection, as the network worker's
            seen_by_the_task.append(session.scalars(select(Network.name).where(Network.id == network_id)).one())

    before_task_publish.connect(read_name, weak=False)
    try:
        with published() as sent:
            answer = api_cloud.client().put(
                f"{NETWORKS}/{network_id}",
                json={"network": {"name": "after"}},
                headers={"X-Auth-Token": api_cloud.demo_token},
            )
    finally:
        before_task_publish.disconnect(read_name)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert sent == [(client.SYNC_NETWORK, [network_id])]
    assert seen_by_the_task == ["after"]


def test_a_write_that_fails_tells_nobody(api_cloud: InProcessCloud):
    network_id = _network(api_cloud, "kept")
    headers = {"X-Auth-Token": api_cloud.demo_token}
    with api_cloud.app.test_request_context(headers=headers):
        api_cloud.app.preprocess_request()  # the request id and the rest of what a real request starts with
        with published() as sent, pytest.raises(RuntimeError), unit_of_work() as work:
            work.notify(network_id)
            raise RuntimeError("the write failed after it asked for a notification")
    assert sent == []
