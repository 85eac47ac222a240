"""What the big listings build per record, which is read in bulk and so easy to get subtly wrong: JSON columns
decoded from plain rows, timestamps (a record never updated shows its creation as its update), and ``fields=``
read once per request but applied exactly as Neutron does."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from flask import Flask
from sqlalchemy import create_engine, literal, select

from api.network.common import field_filter, selected
from api.network.records import _records
from api.network.views import network_view

CREATED = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _network(**changes: object) -> SimpleNamespace:
    values = {
        "id": "n1", "name": "net", "project_id": "p1", "admin_state_up": True, "status": "ACTIVE", "subnets": [],
        "shared": False, "mtu": 1450, "router_external": False, "port_security_enabled": True, "description": "",
        "tags": None, "created_at": CREATED, "updated_at": None, "revision_number": 1, "network_type": "vxlan",
        "segmentation_id": 1001, "qos_policy_id": None,
    }  # fmt: skip
    return SimpleNamespace(**(values | changes))


def test_a_record_never_updated_shows_its_creation_as_its_update():
    view = network_view(_network(), show_provider=False)
    assert view["created_at"] == view["updated_at"] == "2026-01-02T03:04:05Z"


def test_an_updated_record_shows_when_it_was_updated():
    view = network_view(_network(updated_at=datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)), show_provider=False)
    assert (view["created_at"], view["updated_at"]) == ("2026-01-02T03:04:05Z", "2026-02-03T04:05:06Z")


def test_records_from_plain_rows_decode_only_their_json_columns():
    engine = create_engine("sqlite://")
    query = select(literal("n1").label("id"), literal('["a","b"]').label("tags"), literal("[]").label("name"))
    empty = select(literal("n2").label("id"), literal(None).label("tags"), literal("[]").label("name"))
    with engine.connect() as connection:
        rows = [*connection.execute(query), *connection.execute(empty)]
    found = _records(rows, ("tags",))
    assert [(r.id, r.tags, r.name) for r in found] == [("n1", ["a", "b"], "[]"), ("n2", None, "[]")]
    assert _records([], ("tags",)) == []


def test_fields_are_read_once_and_kept_as_neutron_keeps_them():
    view = {"id": "x", "name": "n", "mtu": 1450}
    with Flask(__name__).test_request_context("/?fields=id,mtu&fields=unknown&fields="):
        pick = field_filter()
        assert pick(view) == {"id": "x", "mtu": 1450}
        assert selected(view) == {"id": "x", "mtu": 1450}
    with Flask(__name__).test_request_context("/"):
        assert field_filter()(view) is view
