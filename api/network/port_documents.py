"""Port documents rendered by the database, for listings that ask for every attribute.

``GET /v2.0/ports`` of a project with thousands of ports spent about 25 µs of Python per port: reading ~25
columns and two relations into records, building the view dict, and encoding it. Here the database gives each
port's whole document as JSON text, and the API only joins the texts. PostgreSQL keeps every port's document,
rebuilt by triggers whenever the port, its fixed IPs or its security groups change (migration 0041: building
them per request took 77 ms of 5,000 ports' listing). On SQLite one query has ``json_object`` build each
document in C, with its fixed IPs and security groups from correlated subqueries (35 ms).

``api.network.views.port_view`` stays the definition of a port on the wire (single ports, ``fields=``
listings, creates and updates use it); a test renders the same ports both ways on both databases, after every
kind of change, and requires the same documents, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from sqlalchemy import Select, Text, case, cast, func, literal, or_, select

from network.models import IPAllocation, Port, PortSecurityGroup


class _Sqlite:
    """JSON building blocks in SQLite: values from subqueries and stored JSON text go through ``json()`` so
    that ``json_object`` embeds them as JSON, not as strings; booleans are stored as 0/1. ``json()`` of a
    constant is computed once per query, so the cheap spellings below use it (a 5,000-port listing: 43 ms of
    SQLite's time, then 35 ms)."""

    def document(self, pairs: list[tuple[str, Any]]) -> Any:
        return func.json_object(*[part for key, value in pairs for part in (literal(key), value)])

    def boolean(self, column: Any) -> Any:
        return case((column, self.constant("true")), else_=self.constant("false"))

    def stored(self, column: Any, empty: str) -> Any:
        """A JSON column, with SQL NULL or a stored JSON ``null`` shown as ``empty`` (as the Python view does)."""
        text = cast(column, Text)
        return case((or_(column.is_(None), text == "null"), self.constant(empty)), else_=func.json(text))

    def constant(self, text: str) -> Any:
        return func.json(literal(text, literal_execute=True))

    def time(self, column: Any) -> Any:
        """Stored as "YYYY-MM-DD HH:MM:SS.ffffff": cut, as ``views.neutron_time`` cuts the same text."""
        return func.substr(column, 1, 10).op("||")("T").op("||")(func.substr(column, 12, 8)).op("||")("Z")

    def fixed_ips(self) -> Any:
        rows = (
            select(IPAllocation.subnet_id, IPAllocation.ip_address)
            .where(IPAllocation.port_id == Port.id)
            .order_by(IPAllocation.id)
            .correlate(Port)
            .subquery()
        )
        entry = func.json_object(literal("subnet_id"), rows.c.subnet_id, literal("ip_address"), rows.c.ip_address)
        return func.json(select(func.json_group_array(entry)).select_from(rows).scalar_subquery())

    def security_groups(self) -> Any:
        rows = (
            select(PortSecurityGroup.security_group_id)
            .where(PortSecurityGroup.port_id == Port.id)
            .order_by(PortSecurityGroup.position)
            .correlate(Port)
            .subquery()
        )
        return func.json(select(func.json_group_array(rows.c.security_group_id)).select_from(rows).scalar_subquery())


def port_document_query(dialect: str, show_binding: bool) -> Select[Any]:
    """``select(Port.id, document)``: each port as the text of ``port_view(port, show_binding)``'s JSON."""
    if dialect == "postgresql":
        return _stored_documents(show_binding)
    sql = _Sqlite()
    created = sql.time(Port.created_at)
    pairs: list[tuple[str, Any]] = [
        ("id", Port.id),
        ("name", Port.name),
        ("network_id", Port.network_id),
        ("tenant_id", Port.project_id),
        ("project_id", Port.project_id),
        ("mac_address", Port.mac_address),
        ("admin_state_up", sql.boolean(Port.admin_state_up)),
        ("status", Port.status),
        ("device_id", Port.device_id),
        ("device_owner", Port.device_owner),
        ("fixed_ips", sql.fixed_ips()),
        ("allowed_address_pairs", sql.stored(Port.allowed_address_pairs, "[]")),
        ("extra_dhcp_opts", sql.stored(Port.extra_dhcp_opts, "[]")),
        ("security_groups", sql.security_groups()),
        ("port_security_enabled", sql.boolean(Port.port_security_enabled)),
        ("binding:vnic_type", Port.binding_vnic_type),
        ("ip_allocation", literal("immediate")),
        ("dns_name", literal("")),
        ("dns_assignment", sql.constant("[]")),
        ("qos_policy_id", Port.qos_policy_id),
        ("description", Port.description),
        ("tags", sql.stored(Port.tags, "[]")),
        ("created_at", created),
        ("updated_at", sql.time(func.coalesce(Port.updated_at, Port.created_at))),
        ("revision_number", Port.revision_number),
    ]
    if show_binding:
        pairs += [
            ("binding:host_id", Port.binding_host_id),
            ("binding:profile", sql.stored(Port.binding_profile, "{}")),
            ("binding:vif_type", Port.binding_vif_type),
            ("binding:vif_details", sql.stored(Port.binding_vif_details, "{}")),
        ]
    return select(Port.id, cast(sql.document(pairs), Text).label("document"))


def _stored_documents(show_binding: bool) -> Select[Any]:
    """PostgreSQL's triggers keep each port's document (migration 0041); the caller's is put together from its
    parts."""
    if show_binding:
        document = Port.document_head.op("||")(literal(",")).op("||")(Port.binding_document).op("||")(literal("}"))
    else:
        document = Port.document_head.op("||")(literal("}"))
    return select(Port.id, document.label("document"))


def joined_documents(collection: str, documents: list[str], links: list[dict[str, str]]) -> Response:
    """``{"<collection>": [...], "<collection>_links": [...]}`` from documents that are JSON text already."""
    body = f'{{"{collection}":[{",".join(documents)}]'
    if links:
        body += f',"{collection}_links":{orjson.dumps(links).decode()}'
    return Response(body + "}", mimetype="application/json")
