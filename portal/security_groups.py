"""Security groups and their rule editor: groups listed and created, rules added (direction, protocol, port
range, remote CIDR or group) and removed, each through Neutron's API."""

from __future__ import annotations

from typing import Any

from flask import Response

from portal.blueprint import api, bp, redirect_with, render, signed_in
from portal.deletion import Page, confirm_page, delete_then_redirect
from portal.forms import Form, empty

PROTOCOLS = (("", "Any"), ("tcp", "TCP"), ("udp", "UDP"), ("icmp", "ICMP"))
RULE_FIELDS = {
    "port_range_min": "port_min",
    "port_range_max": "port_max",
    "remote_ip_prefix": "remote_cidr",
    "protocol": "protocol",
    "direction": "direction",
    "ethertype": "ethertype",
}
RULE_KEYWORDS = {
    "port": "port_min",
    "cidr": "remote_cidr",
    "prefix": "remote_cidr",
    "protocol": "protocol",
    "quota": "",
    "already exists": "",
}


def _groups_page(form: Form, status: int = 200) -> Response:
    groups = api().get("/network/v2.0/security-groups")["security_groups"]
    return render("portal/security_groups.html", status=status, title="Security groups", groups=groups, form=form)


@bp.get("/security-groups")
@signed_in
def security_groups() -> Response:
    return _groups_page(empty("sg"))


@bp.post("/security-groups")
@signed_in
def security_group_create() -> Response:
    form = Form.posted("sg")
    form.require("name")
    if form.ok:
        body = {"security_group": {"name": form.get("name"), "description": form.get("description")}}
        fields = {"name": "name", "description": "description"}
        created = form.attempt(lambda: api().post("/network/v2.0/security-groups", body), fields, {"quota": "name"})
        if created is not None:
            group = created.json()["security_group"]
            return redirect_with(
                "portal.security_group_detail", f"Security group {group['name']} created.", group_id=group["id"]
            )
    return _groups_page(form, 400)


def _detail_page(group_id: str, form: Form, status: int = 200) -> Response:
    client = api()
    group = client.get(f"/network/v2.0/security-groups/{group_id}")["security_group"]
    others = client.get("/network/v2.0/security-groups")["security_groups"]
    names = {g["id"]: g["name"] for g in others}
    return render(
        "portal/security_group_detail.html",
        status=status,
        title=group["name"],
        group=group,
        rules=sorted(group.get("security_group_rules", []), key=_rule_order),
        names=names,
        form=form,
        protocols=PROTOCOLS,
        remote_groups=[(g["id"], g["name"]) for g in others],
    )


def _rule_order(rule: dict[str, Any]) -> tuple[str, str, int]:
    return rule["direction"], rule.get("ethertype", ""), rule.get("port_range_min") or 0


@bp.get("/security-groups/<group_id>")
@signed_in
def security_group_detail(group_id: str) -> Response:
    return _detail_page(group_id, empty("rule", direction="ingress", ethertype="IPv4", protocol="tcp"))


def rule_body(form: Form, group_id: str) -> dict[str, Any] | None:
    """Neutron's rule from the form; None (with the form's errors set) when a port is not a number."""
    port_min = form.integer("port_min", minimum=0, maximum=65535)
    port_max = form.integer("port_max", minimum=0, maximum=65535)
    if not form.ok:
        return None
    rule: dict[str, Any] = {
        "security_group_id": group_id,
        "direction": form.get("direction", "ingress"),
        "ethertype": form.get("ethertype", "IPv4"),
    }
    if form.get("protocol"):
        rule["protocol"] = form.get("protocol")
    if port_min is not None:
        rule["port_range_min"] = port_min
        rule["port_range_max"] = port_max if port_max is not None else port_min
    if form.get("remote_cidr"):
        rule["remote_ip_prefix"] = form.get("remote_cidr")
    elif form.get("remote_group"):
        rule["remote_group_id"] = form.get("remote_group")
    return {"security_group_rule": rule}


@bp.post("/security-groups/<group_id>/rules")
@signed_in
def security_group_rule_create(group_id: str) -> Response:
    form = Form.posted("rule")
    body = rule_body(form, group_id)
    if body is not None:
        added = form.attempt(
            lambda: api().post("/network/v2.0/security-group-rules", body), RULE_FIELDS, RULE_KEYWORDS, (401, 404)
        )
        if added is not None:
            return redirect_with("portal.security_group_detail", "Rule added.", group_id=group_id)
    return _detail_page(group_id, form, 400)


@bp.post("/security-groups/<group_id>/rules/<rule_id>/delete")
@signed_in
def security_group_rule_delete(group_id: str, rule_id: str) -> Response:
    detail = Page("portal.security_group_detail", {"group_id": group_id})
    return delete_then_redirect(f"/network/v2.0/security-group-rules/{rule_id}", detail, "Rule removed.", detail)


@bp.get("/security-groups/<group_id>/delete")
@signed_in
def security_group_delete(group_id: str) -> Response:
    group = api().get(f"/network/v2.0/security-groups/{group_id}")["security_group"]
    here = {"group_id": group_id}
    submit, cancel = Page("portal.security_group_delete_submit", here), Page("portal.security_group_detail", here)
    return confirm_page("security group", group["name"], submit, cancel)


@bp.post("/security-groups/<group_id>/delete")
@signed_in
def security_group_delete_submit(group_id: str) -> Response:
    return delete_then_redirect(
        f"/network/v2.0/security-groups/{group_id}",
        done=Page("portal.security_groups"),
        message="Security group deleted.",
        failed=Page("portal.security_group_detail", {"group_id": group_id}),
    )
