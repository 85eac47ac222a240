"""The launch dialog: name, image, flavor, network, key pair, security groups, user data and count, in one
form; the request is Nova's server create, and its refusal (over quota, an image that is not active, a bad
name) is shown next to the field it is about."""

from __future__ import annotations

import base64
from typing import Any

from flask import Response

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
}
# Messages that name no field path: the words that tell which field they are about.
KEYWORDS = {
    "quota": "count",
    "keypair": "key_name",
    "key pair": "key_name",
    "flavor": "flavor",
    "image": "image",
    "network": "network",
    "security group": "security_groups",
}
MAX_COUNT = 50


def _choices(client: ApiClient) -> dict[str, Any]:
    """What the form offers: active images, flavors, the project's networks, key pairs, security groups."""
    images = client.get("/image/v2/images", status="active", limit=1000)["images"]
    flavors = client.get("/compute/v2.1/flavors/detail")["flavors"]
    networks = client.get("/network/v2.0/networks")["networks"]
    keypairs = client.get("/compute/v2.1/os-keypairs")["keypairs"]
    groups = client.get("/network/v2.0/security-groups")["security_groups"]
    return {
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
    return _page(empty("launch", count="1", security_groups="default"))


def server_body(form: Form, count: int) -> dict[str, Any]:
    server: dict[str, Any] = {
        "name": form.get("name"),
        "imageRef": form.get("image"),
        "flavorRef": form.get("flavor"),
        "min_count": count,
        "max_count": count,
    }
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
    form.require("name", "image", "flavor")
    count = form.integer("count", minimum=1, maximum=MAX_COUNT) or 1
    if not form.ok:
        return _page(form, 400)
    launched = form.attempt(lambda: api().post("/compute/v2.1/servers", server_body(form, count)), FIELDS, KEYWORDS)
    if launched is None:
        return _page(form, form.status)
    what = f"{count} instances" if count > 1 else f"Instance {form.get('name')}"
    return redirect_with("portal.instances", f"{what} launching.")
