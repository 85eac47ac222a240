"""The launch dialog: name, boot source, flavor, network, key pair, security groups, user data and count, in one
form; the request is Nova's server create, and its refusal (over quota, an image that is not active, a bad
name) is shown next to the field it is about.

The boot source is the image (a local root disk), an existing bootable volume, or the image on a new volume of
a chosen size: Nova's ``block_device_mapping_v2`` with ``boot_index`` 0 (``imageRef`` empty), and
``delete_on_termination`` as the user ticks it (Nova's default, false, when not)."""

from __future__ import annotations

import base64
from typing import Any

from flask import Response

from portal.block_storage import BlockStorage
from portal.blueprint import api, bp, redirect_with, render, signed_in
from portal.client import ApiClient
from portal.forms import Form, empty

FIELDS = {
    "server.name": "name",
    "server.imageRef": "image",
    "server.flavorRef": "flavor",
    "server.networks": "network",
    "server.key_name": "key_name",
    "server.user_data": "user_data",
    "server.security_groups": "security_groups",
    "server.min_count": "count",
    "server.max_count": "count",
    "server.block_device_mapping_v2": "volume",
    "volume_size": "volume_size",
    "delete_on_termination": "delete_on_termination",
}
# Messages that name no field path: the words that tell which field they are about (the volume's first: a
# message about a boot volume's size also names the image it is made from).
KEYWORDS = {
    "volume size": "volume_size",
    "gigabytes": "volume_size",
    "block device": "volume",
    "volume": "volume",
    "quota": "count",
    "keypair": "key_name",
    "key pair": "key_name",
    "flavor": "flavor",
    "image": "image",
    "network": "network",
    "security group": "security_groups",
}
MAX_COUNT = 50
BOOT_SOURCES = [("image", "Image"), ("volume", "Volume"), ("new-volume", "Image on a new volume")]
VOLUME_SIZE_LIMIT = 16384  # GB, Nova's bound on volume_size


def _choices(client: ApiClient) -> dict[str, Any]:
    """What the form offers: active images, the project's available bootable volumes, flavors, networks, key pairs,
    security groups."""
    images = client.get("/image/v2/images", status="active", limit=1000)["images"]
    flavors = client.get("/compute/v2.1/flavors/detail")["flavors"]
    networks = client.get("/network/v2.0/networks")["networks"]
    keypairs = client.get("/compute/v2.1/os-keypairs")["keypairs"]
    groups = client.get("/network/v2.0/security-groups")["security_groups"]
    volumes = BlockStorage(client).get("/volumes/detail", status="available", bootable="true")["volumes"]
    return {
        "boot_sources": BOOT_SOURCES,
        "volumes": [(v["id"], f"{v.get('name') or v['id']} ({v['size']} GB)") for v in volumes],
        "images": [(i["id"], i.get("name") or i["id"]) for i in images],
        "flavors": [(f["id"], f"{f['name']} ({f['vcpus']} vCPU, {f['ram']} MiB RAM, {f['disk']} GB)") for f in flavors],
        "networks": [(n["id"], n["name"] or n["id"]) for n in networks],
        "keypairs": [(k["keypair"]["name"], k["keypair"]["name"]) for k in keypairs],
        "groups": sorted({g["name"] for g in groups}),
    }


def _page(form: Form, status: int = 200) -> Response:
    return render("portal/launch.html", status=status, title="Launch instances", form=form, **_choices(api()))


@bp.get("/instances/launch")
@signed_in
def instance_launch() -> Response:
    return _page(empty("launch", count="1", security_groups="default", boot_source="image"))


def boot_mapping(form: Form, volume_size: int | None) -> list[dict[str, Any]]:
    """Nova's ``block_device_mapping_v2`` for the chosen boot source: none for the image (a local root disk),
    else the root volume (boot_index 0): the chosen volume, or a new one of ``volume_size`` GB from the image."""
    source = form.get("boot_source", "image")
    if source == "image":
        return []
    root: dict[str, Any] = {
        "boot_index": 0,
        "destination_type": "volume",
        "delete_on_termination": form.get("delete_on_termination") == "1",
    }
    if source == "volume":
        return [root | {"source_type": "volume", "uuid": form.get("volume")}]
    return [root | {"source_type": "image", "uuid": form.get("image"), "volume_size": volume_size}]


def check_boot_source(form: Form) -> int | None:
    """What the chosen boot source needs (an image, a volume, a size), checked before the API; returns the new
    volume's size when there is one."""
    source = form.get("boot_source", "image")
    if source not in {value for value, _ in BOOT_SOURCES}:
        form.errors["boot_source"] = "Choose a boot source from the list."
        return None
    if source == "volume":
        form.require("volume")
        return None
    form.require("image")
    if source == "new-volume":
        form.require("volume_size")
        return form.integer("volume_size", minimum=1, maximum=VOLUME_SIZE_LIMIT)
    return None


def server_body(form: Form, count: int, volume_size: int | None = None) -> dict[str, Any]:
    mapping = boot_mapping(form, volume_size)
    server: dict[str, Any] = {
        "name": form.get("name"),
        "imageRef": "" if mapping else form.get("image"),
        "flavorRef": form.get("flavor"),
        "min_count": count,
        "max_count": count,
    }
    if mapping:
        server["block_device_mapping_v2"] = mapping
    if form.get("network"):
        server["networks"] = [{"uuid": form.get("network")}]
    else:
        server["networks"] = "auto"
    if form.get("key_name"):
        server["key_name"] = form.get("key_name")
    groups = form.getlist("security_groups")
    if groups:
        server["security_groups"] = [{"name": g} for g in groups]
    user_data = form.values.get("user_data", "")
    if user_data.strip():
        server["user_data"] = base64.b64encode(user_data.encode()).decode()
    return {"server": server}


@bp.post("/instances/launch")
@signed_in
def instance_launch_submit() -> Response:
    form = Form.posted("launch")
    form.require("name", "flavor")
    volume_size = check_boot_source(form)
    count = form.integer("count", minimum=1, maximum=MAX_COUNT) or 1
    if not form.ok:
        return _page(form, 400)
    body = server_body(form, count, volume_size)
    launched = form.attempt(lambda: api().post("/compute/v2.1/servers", body), FIELDS, KEYWORDS)
    if launched is None:
        return _page(form, form.status)
    what = f"{count} instances" if count > 1 else f"Instance {form.get('name')}"
    return redirect_with("portal.instances", f"{what} launching.")
