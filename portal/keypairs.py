"""Key pairs: the user's list, importing a public key, and deleting one. A key pair belongs to the user, not
the project (Nova's rule), so it follows the user across the project switcher."""

from __future__ import annotations

from flask import Response

from portal.blueprint import api, bp, redirect_with, render, signed_in
from portal.deletion import Page, confirm_page, delete_then_redirect
from portal.forms import Form, empty

FIELDS = {"keypair.name": "name", "keypair.public_key": "public_key"}
KEYWORDS = {
    "public key": "public_key",
    "keypair data": "public_key",
    "name": "name",
    "quota": "name",
    "already exists": "name",
}


def _page(form: Form, status: int = 200) -> Response:
    keypairs = [k["keypair"] for k in api().get("/compute/v2.1/os-keypairs")["keypairs"]]
    return render("portal/keypairs.html", status=status, title="Key pairs", keypairs=keypairs, form=form)


@bp.get("/key-pairs")
@signed_in
def keypairs() -> Response:
    return _page(empty("keypair"))


@bp.post("/key-pairs")
@signed_in
def keypair_import() -> Response:
    form = Form.posted("keypair")
    form.require("name", "public_key")
    if form.ok:
        body = {"keypair": {"name": form.get("name"), "public_key": form.get("public_key"), "type": "ssh"}}
        if form.attempt(lambda: api().post("/compute/v2.1/os-keypairs", body), FIELDS, KEYWORDS) is not None:
            return redirect_with("portal.keypairs", f"Key pair {form.get('name')} imported.")
    return _page(form, 400)


@bp.get("/key-pairs/<name>/delete")
@signed_in
def keypair_delete(name: str) -> Response:
    return confirm_page("key pair", name, Page("portal.keypair_delete_submit", {"name": name}), Page("portal.keypairs"))


@bp.post("/key-pairs/<name>/delete")
@signed_in
def keypair_delete_submit(name: str) -> Response:
    listing = Page("portal.keypairs")
    return delete_then_redirect(f"/compute/v2.1/os-keypairs/{name}", listing, f"Key pair {name} deleted.", listing)
