"""Hostile input to the Block Storage API is a 400 or a 413 in Cinder's fault format, never a 500, and leaves
nothing made."""

from __future__ import annotations

import pytest

from tests.functional.volume.api_support import block_storage, call, fault

__all__ = ["block_storage"]
pytestmark = pytest.mark.usefixtures("block_storage")
ZERO = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    "volume",
    [
        {"size": 0},
        {"size": -1},
        {"size": "abc"},
        {"size": "1.5"},
        {"size": 1.5},
        {"size": 2**40},
        {"size": "9" * 30},
        {"size": None},
        {"size": True},
        {"size": 1, "name": "n" * 256},
        {"size": 1, "description": "d" * 256},
        {"size": 1, "metadata": {"ключ": "v"}},
        {"size": 1, "metadata": {"k": "v" * 256}},
        {"size": 1, "metadata": {"k": 1}},
        {"size": 1, "metadata": {f"k{i}": "v" for i in range(10_000)}},
        {"size": 1, "snapshot_id": "not-a-uuid"},
        {"size": 1, "source_volid": "../../etc/passwd"},
        {"size": 1, "bootable": True},
        {"size": 1, "multiattach": True},
        {"size": 1, "imageRef": ZERO, "snapshot_id": ZERO},
        {"size": 1, "unknown": "field"},
        {"size": 1, "volume_type": "no-such-type"},
    ],
)
def test_hostile_volume_creates_are_refused_cleanly(cloud, volume):
    token = cloud.demo().get_token()
    before = len(call(cloud, "GET", "/volumes?all_tenants=0", token).json()["volumes"])
    response = call(cloud, "POST", "/volumes", token, json={"volume": volume})
    assert response.status_code in (400, 404, 413), response.text
    (name,) = response.json()
    assert name in ("badRequest", "itemNotFound", "overLimit")
    assert len(call(cloud, "GET", "/volumes", token).json()["volumes"]) == before


def test_unicode_names_are_kept(cloud, unique):
    token = cloud.demo().get_token()
    name = f"тест-☃-{unique}"
    made = call(cloud, "POST", "/volumes", token, json={"volume": {"size": 1, "name": name, "metadata": {"k": "é☃"}}})
    assert made.status_code == 202 and made.json()["volume"]["name"] == name
    assert made.json()["volume"]["metadata"] == {"k": "é☃"}


def test_hostile_bodies_and_paths(cloud):
    token = cloud.demo().get_token()
    for body in (b"", b"{", b"[]", b'{"volume": []}', b'{"volume": null}', b"\xff\xfe"):
        response = call(cloud, "POST", "/volumes", token, data=body, headers={"Content-Type": "application/json"})
        fault(response, "badRequest", 400)
    too_big = call(cloud, "POST", "/volumes", token, json={"volume": {"size": 1, "name": "x" * (20 << 20)}})
    assert too_big.status_code == 413 and "overLimit" in too_big.json()
    for path in ("/volumes/%ff%fe", "/volumes/" + "9" * 300, "/volumes/..%2f..", "/snapshots/-1", "/types/x" * 3):
        assert call(cloud, "GET", path, token).status_code in (400, 404)
    bad_version = call(cloud, "GET", "/volumes", token, "3.1000")
    assert fault(bad_version, "computeFault", 406).startswith("Version 3.1000 is not supported")
