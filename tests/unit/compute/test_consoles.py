"""Console targets are checked when made and when read back; console URLs have Nova's shapes on our proxy."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from common.settings import Settings
from compute import consoles

FIELDS: dict[str, Any] = {
    "instance_id": "0d8e5f2a-1c3b-4e6f-8a9b-7c6d5e4f3a21",
    "project_id": "p1",
    "compute_host": "compute-1",
    "address": "127.0.0.1",
    "port": 10042,
    "kind": "serial",
}


def test_a_target_survives_its_round_trip_through_the_store() -> None:
    target = consoles.ConsoleTarget(**FIELDS)
    assert consoles.ConsoleTarget.from_json(json.dumps(asdict(target))) == target


@pytest.mark.parametrize(
    "field, value",
    [
        ("instance_id", "../../etc"),
        ("instance_id", "0D8E5F2A-1C3B-4E6F-8A9B-7C6D5E4F3A21"),
        ("project_id", ""),
        ("compute_host", "host; rm -rf /"),
        ("address", "example.com"),
        ("address", "127.0.0.1:22"),
        ("address", None),
        ("port", 0),
        ("port", "22"),
        ("port", True),
        ("kind", "spice"),
    ],
)
def test_a_target_with_a_bad_field_is_refused(field: str, value: Any) -> None:
    with pytest.raises(consoles.InvalidConsoleTarget):
        consoles.ConsoleTarget(**{**FIELDS, field: value})
    with pytest.raises(consoles.InvalidConsoleTarget):  # also when it comes back from the store so
        consoles.ConsoleTarget.from_json(json.dumps({**FIELDS, field: value}))


@pytest.mark.parametrize("raw", [b"not json", b"[]", b"{}", json.dumps({**FIELDS, "port": None}).encode()])
def test_garbage_in_the_store_is_refused(raw: bytes) -> None:
    with pytest.raises(consoles.InvalidConsoleTarget):
        consoles.ConsoleTarget.from_json(raw)


def test_tokens_have_one_shape_and_their_keys_hide_them() -> None:
    assert consoles.is_token("A" * 43) and not consoles.is_token("A" * 42) and not consoles.is_token("*" * 43)
    assert not consoles.is_token(None)
    key = consoles.token_key("A" * 43)
    assert key.startswith(consoles.KEY_PREFIX) and "A" * 43 not in key


def test_serial_urls_are_the_websocket_and_novnc_urls_the_proxys_page() -> None:
    settings = Settings(console_proxy_host="10.0.0.5", console_proxy_port=6083)
    assert consoles.console_url(settings, "serial", "T" * 43) == f"ws://10.0.0.5:6083/serial?token={'T' * 43}"
    novnc = urlsplit(consoles.console_url(settings, "vnc", "T" * 43))
    assert (novnc.scheme, novnc.netloc, novnc.path) == ("http", "10.0.0.5:6083", "/vnc.html")
    assert parse_qs(novnc.query) == {"path": [f"vnc?token={'T' * 43}"]}


def test_a_public_wss_url_gives_https_pages() -> None:
    settings = Settings(console_public_url="wss://console.example.com/")
    assert consoles.console_url(settings, "serial", "t").startswith("wss://console.example.com/serial?token=")
    assert consoles.console_url(settings, "vnc", "t").startswith("https://console.example.com/vnc.html?path=")
