"""Volumes in a real browser against the whole cloud (the volume service on its file backend, fake hosts): a
volume created, watched from ``creating`` to ``available`` without a reload, extended, snapshotted, attached to
an instance (``in-use`` on ``/dev/vdb``) and detached, a volume made from its snapshot, and all of it deleted;
a volume backed up in full and incrementally, the incremental backup restored to a new volume; then instances
launched from a volume made from an image, and from the image on a new volume that goes with the
instance, each ACTIVE with its volume listed as attached on ``/dev/vda``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.harness import wait_until
from tests.portal.conftest import DEMO_PASSWORD, PortalCloud, sign_in

VOLUME = {"OpenStack-API-Version": "volume 3.67"}
SETTLE = 30_000  # ms: a volume's or an instance's change, seen by the page's own polling


def volume_row(page: Any, name: str) -> Any:
    return page.locator("#volumes tr").filter(has=page.locator("td.volume-name", has_text=re.compile(f"^{name}$")))


def backup_row(page: Any, name: str) -> Any:
    return page.locator("#backups tr").filter(has=page.locator("td.backup-name", has_text=re.compile(f"^{name}$")))


def snapshot_row(page: Any, name: str) -> Any:
    return page.locator("#snapshots tr").filter(has=page.locator("td.snapshot-name", has_text=re.compile(f"^{name}$")))


def _active_server(cloud: PortalCloud, token: str, name: str) -> str:
    body = {"server": {"name": name, "imageRef": cloud.image_id, "flavorRef": "1", "networks": "none"}}
    created = cloud.call("POST", "/compute/v2.1/servers", token, json=body)
    assert created.status_code == 202, created.text
    server_id = created.json()["server"]["id"]
    wait_until(
        lambda: cloud.call("GET", f"/compute/v2.1/servers/{server_id}", token).json()["server"]["status"],
        30,
        message=f"{name} never became ACTIVE",
        until=lambda status: status == "ACTIVE",
    )
    return server_id


def _problems(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def _unlabelled(page: Any) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)"""
    )


def test_create_extend_snapshot_attach_detach_and_delete_a_volume(
    page: Any, portal_cloud: PortalCloud, artefacts: Path
) -> None:
    demo = portal_cloud.token("demo", DEMO_PASSWORD, "demo")
    server_id = _active_server(portal_cloud, demo, "vol-host")
    problems = _problems(page)
    sign_in(page)

    page.get_by_role("link", name="Volumes", exact=True).click()
    page.get_by_label("Volume name").fill("data-1")
    page.get_by_label("Size (GB)").fill("1")
    page.get_by_role("button", name="Create volume").click()
    page.get_by_text("Volume data-1 is being created.").wait_for()
    row = volume_row(page, "data-1")
    page.evaluate("window.__stillTheSamePage = true")
    row.locator(".status-available").wait_for(timeout=SETTLE)
    assert page.evaluate("window.__stillTheSamePage") is True  # it became available without a reload
    assert "1 GB" in row.inner_text() and "__DEFAULT__" in row.inner_text()
    assert _unlabelled(page) == []

    row.locator("summary").click()
    page.get_by_label("New size of data-1 (GB)").fill("2")
    page.get_by_role("button", name="Extend data-1").click()
    page.get_by_text("The volume is being extended to 2 GB.").wait_for()
    row.locator(".status-available").wait_for(timeout=SETTLE)
    assert row.locator(".volume-size").inner_text() == "2 GB"

    row.locator("summary").click()
    page.get_by_label("Snapshot of data-1 named").fill("data-1-snap")
    page.get_by_role("button", name="Snapshot data-1").click()
    page.get_by_text("Snapshot data-1-snap is being created.").wait_for()
    snapshot_row(page, "data-1-snap").locator(".status-available").wait_for(timeout=SETTLE)

    page.get_by_label("Instance to attach data-1 to").select_option(label="vol-host")
    page.get_by_role("button", name="Attach data-1").click()
    page.get_by_text("The volume is being attached as /dev/vdb.").wait_for()
    row.locator(".status-in-use").wait_for(timeout=SETTLE)
    assert row.locator(".volume-attached").inner_text() == "vol-host on /dev/vdb"
    page.screenshot(path=artefacts / "volumes.png", full_page=True)
    page.get_by_role("button", name="Detach data-1").click()
    page.get_by_text("The volume is being detached.").wait_for()
    row.locator(".status-available").wait_for(timeout=SETTLE)
    assert row.locator(".volume-attached").inner_text() == ""

    page.get_by_role("link", name="New volume from data-1-snap").click()
    page.get_by_label("Volume name").fill("from-snap")
    page.get_by_role("button", name="Create volume").click()
    page.get_by_text("Volume from-snap is being created.").wait_for()
    copy = volume_row(page, "from-snap")
    copy.locator(".status-available").wait_for(timeout=SETTLE)
    assert copy.locator(".volume-size").inner_text() == "2 GB"  # the snapshot's size, none given

    page.get_by_role("link", name="Delete data-1").click()
    page.get_by_role("button", name="Delete volume data-1").click()
    error = page.locator(".notice-error")  # Cinder keeps a volume that has snapshots
    assert "snapshots" in error.inner_text()
    for name in ("from-snap",):
        page.get_by_role("link", name=f"Delete {name}").click()
        page.get_by_role("button", name=f"Delete volume {name}").click()
        page.get_by_text("The volume is being deleted.").wait_for()
        volume_row(page, name).wait_for(state="detached", timeout=SETTLE)
    page.get_by_role("link", name="Delete snapshot data-1-snap").click()
    page.get_by_role("button", name="Delete snapshot data-1-snap").click()
    page.get_by_text("The snapshot is being deleted.").wait_for()
    snapshot_row(page, "data-1-snap").wait_for(state="detached", timeout=SETTLE)
    page.get_by_role("link", name="Delete data-1").click()
    page.get_by_role("button", name="Delete volume data-1").click()
    page.get_by_text("The volume is being deleted.").wait_for()
    volume_row(page, "data-1").wait_for(state="detached", timeout=SETTLE)
    portal_cloud.call("DELETE", f"/compute/v2.1/servers/{server_id}", demo)
    assert problems == []  # no script error and nothing the Content-Security-Policy had to block


def _back_up(page: Any, volume: str, name: str, kind: str) -> Any:
    volume_row(page, volume).locator("summary").click()
    page.get_by_label(f"Backup of {volume} named").fill(name)
    page.get_by_label(f"Kind of backup of {volume}").select_option(kind)
    page.get_by_role("button", name=f"Back up {volume}").click()
    row = backup_row(page, name)
    row.locator(".status-available").wait_for(timeout=SETTLE)
    volume_row(page, volume).locator(".status-available").wait_for(timeout=SETTLE)
    return row


def test_back_up_fully_and_incrementally_then_restore_to_a_new_volume(page: Any, portal_cloud: PortalCloud) -> None:
    problems = _problems(page)
    sign_in(page)
    page.goto("/volumes")
    page.get_by_label("Volume name").fill("kept-1")
    page.get_by_label("Size (GB)").fill("1")
    page.get_by_role("button", name="Create volume").click()
    volume_row(page, "kept-1").locator(".status-available").wait_for(timeout=SETTLE)

    full = _back_up(page, "kept-1", "kept-1-full", "full")
    assert page.get_by_text("A full backup kept-1-full is being made.").count() == 1
    incremental = _back_up(page, "kept-1", "kept-1-incr", "incremental")
    assert full.locator(".backup-kind").inner_text() == "full"
    assert incremental.locator(".backup-kind").inner_text() == "incremental"

    page.get_by_role("link", name="Delete backup kept-1-full").click()
    page.get_by_role("button", name="Delete backup kept-1-full").click()
    assert page.locator(".notice-error").inner_text() == "Invalid backup: Incremental backups exist for this backup."

    page.get_by_label("Name of the volume restored from kept-1-incr").fill("restored-1")
    page.get_by_role("button", name="Restore kept-1-incr").click()
    page.get_by_text("The backup is being restored to volume restored-1.").wait_for()
    restored = volume_row(page, "restored-1")
    restored.locator(".status-available").wait_for(timeout=SETTLE)
    incremental.locator(".status-available").wait_for(timeout=SETTLE)
    assert restored.locator(".volume-size").inner_text() == "1 GB"

    for name in ("kept-1-incr", "kept-1-full"):
        page.get_by_role("link", name=f"Delete backup {name}").click()
        page.get_by_role("button", name=f"Delete backup {name}").click()
        page.get_by_text("The backup is being deleted.").wait_for()
        backup_row(page, name).wait_for(state="detached", timeout=SETTLE)
    for name in ("restored-1", "kept-1"):
        page.get_by_role("link", name=f"Delete {name}").click()
        page.get_by_role("button", name=f"Delete volume {name}").click()
        volume_row(page, name).wait_for(state="detached", timeout=SETTLE)
    assert problems == []


def _launch(page: Any, name: str, boot: str, **choices: str) -> None:
    page.get_by_role("link", name="Instances", exact=True).click()
    page.get_by_role("link", name="Launch instances").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Boot from").select_option(label=boot)
    if "volume" in choices:
        page.get_by_label("Bootable volume").select_option(label=choices["volume"])
    if "image" in choices:
        page.get_by_label("Image").select_option(label=choices["image"])
    if "size" in choices:
        page.get_by_label("Size of the new volume (GB)").fill(choices["size"])
        page.get_by_label("Delete the volume when the instance is deleted").check()
    page.get_by_label("Flavor").select_option(index=1)
    page.get_by_label("Network").select_option(label="demo-net")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url("**/instances")
    page.locator("#instances tr", has_text=name).locator(".status-ACTIVE").wait_for(timeout=SETTLE)


def test_launch_from_a_volume_and_from_an_image_on_a_new_volume(
    page: Any, portal_cloud: PortalCloud, artefacts: Path
) -> None:
    problems = _problems(page)
    sign_in(page)
    page.goto("/volumes")
    page.get_by_label("Volume name").fill("boot-vol")
    page.get_by_label("Source").select_option(label="tiny")
    page.get_by_role("button", name="Create volume").click()
    boot_vol = volume_row(page, "boot-vol")
    boot_vol.locator(".status-available").wait_for(timeout=SETTLE)
    assert "yes" in boot_vol.inner_text()  # made from an image: bootable

    _launch(page, "from-vol", "Volume", volume="boot-vol (1 GB)")
    _launch(page, "on-new-vol", "Image on a new volume", image="tiny", size="1")
    page.screenshot(path=artefacts / "instances-on-volumes.png", full_page=True)

    page.get_by_role("link", name="Volumes", exact=True).click()
    assert boot_vol.locator(".status-in-use").count() == 1
    assert boot_vol.locator(".volume-attached").inner_text() == "from-vol on /dev/vda"
    root = volume_row(page, "on-new-vol-root")
    assert root.locator(".status-in-use").count() == 1
    assert root.locator(".volume-attached").inner_text() == "on-new-vol on /dev/vda"

    demo = portal_cloud.token("demo", DEMO_PASSWORD, "demo")
    servers = portal_cloud.call("GET", "/compute/v2.1/servers", demo).json()["servers"]
    for server in servers:
        if server["name"] in ("from-vol", "on-new-vol"):
            assert portal_cloud.call("DELETE", f"/compute/v2.1/servers/{server['id']}", demo).status_code == 204
    # The new volume goes with its instance (delete on termination); the chosen one stays, available again.
    volumes = wait_until(
        lambda: portal_cloud.call("GET", "/volume/v3/volumes/detail", demo, headers=VOLUME).json()["volumes"],
        30,
        message="the instances' volumes never settled",
        until=lambda found: (
            [(v["name"], v["status"]) for v in found if v["name"] in ("boot-vol", "on-new-vol-root")]
            == [("boot-vol", "available")]
        ),
    )
    boot_id = next(v["id"] for v in volumes if v["name"] == "boot-vol")
    assert portal_cloud.call("DELETE", f"/volume/v3/volumes/{boot_id}", demo, headers=VOLUME).status_code == 202
    assert problems == []
