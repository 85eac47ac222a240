"""What ``manage.postgres_ha`` hands to others: the services' URL names every member and reaches SQLAlchemy and
libpq as meant (the password file's path however odd), connection strings quote what they carry, and a member's
address and port are checked before they reach pg_ctl's options (which a shell reads)."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import make_url

from manage.postgres_ha import Member, PostgresHAError, PostgresPair, conninfo

ODD = Path("/tmp/a dir/with 'quotes' & ?query=1#frag")


def test_the_services_url_names_both_members_and_asks_for_the_writable_one() -> None:
    pair = PostgresPair(ODD, (Member("pg1", "127.0.0.1", 5432), Member("pg2", "127.0.0.2", 5433)), "pg1")
    url = make_url(pair.url())
    assert url.drivername == "postgresql+psycopg" and url.username == "stratus" and url.database == "stratus"
    assert url.query["host"] == ("127.0.0.1:5432", "127.0.0.2:5433")
    assert url.query["target_session_attrs"] == "read-write"
    assert url.query["passfile"] == str(ODD / "pgpass")
    assert make_url(pair.member_url("pg2")).query["passfile"] == str(ODD / "pgpass")


def test_a_connection_string_carries_each_value_whole() -> None:
    values = {"host": "127.0.0.1", "passfile": str(ODD) + "\\end", "application_name": "pg2"}
    assert conninfo_to_dict(conninfo(**values)) == values


@pytest.mark.parametrize(
    ("host", "port"),
    [("127.0.0.1 -c shared_preload_libraries=x", 5432), ("localhost", 5432), ("::1", 5432), ("127.0.0.1", "5432"),
     ("127.0.0.1", 0), ("127.0.0.1", 70000)],
)  # fmt: skip
def test_a_member_is_an_ipv4_address_and_a_port(host: object, port: object) -> None:
    with pytest.raises(PostgresHAError):
        Member("pg1", host, port)  # type: ignore[arg-type]
