"""network: each port's listing document kept by PostgreSQL (``ports.document_head``, ``ports.binding_document``)

A whole ``GET /v2.0/ports`` of 5,000 ports had PostgreSQL build every document per request, about 13 µs a port
(its fixed IPs and security groups from two correlated subqueries, ``json_build_object`` of 29 values, two
``to_char``): 77 ms of the database's time, the 100 ms goal missed. A port's document changes only when its row,
its fixed IPs or its security groups do, so triggers rebuild it then, in the writing transaction, whichever code
writes (an API, an agent's status, a migration, the SQLite-to-PostgreSQL move), and the listing reads the stored
texts. ``document_head`` is the member's document without its closing brace; ``binding_document`` the admin's
four ``binding:`` members, without braces: a listing joins what its caller may see.

SQLite builds the documents in each listing's query instead (``api.network.port_documents``, 35 ms for the same
ports): its columns stay empty there. The definition of a port on the wire stays ``api.network.views.port_view``;
a functional test on PostgreSQL requires the stored documents to equal it after every kind of change.

Revision ID: 0041_port_documents
Revises: 0040_compute_report_wanted
Create Date: 2026-12-07 16:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0041_port_documents"
down_revision = "0040_compute_report_wanted"
branch_labels = None
depends_on = None

NEUTRON_TIME = """'YYYY-MM-DD"T"HH24:MI:SS"Z"'"""


def _stored(column: str, empty: str) -> str:
    """A JSON column, SQL NULL or a stored JSON ``null`` shown as ``empty`` (as ``port_view`` does)."""
    null = f"NEW.{column} IS NULL OR json_typeof(NEW.{column}) = 'null'"
    return f"CASE WHEN {null} THEN '{empty}'::json ELSE NEW.{column} END"


PORT_DOCUMENT = f"""
CREATE OR REPLACE FUNCTION stratus_port_document() RETURNS trigger LANGUAGE plpgsql AS $function$
DECLARE
    binding text;
BEGIN
    NEW.document_head := left(json_build_object(
        'id', NEW.id, 'name', NEW.name, 'network_id', NEW.network_id, 'tenant_id', NEW.project_id,
        'project_id', NEW.project_id, 'mac_address', NEW.mac_address, 'admin_state_up', NEW.admin_state_up,
        'status', NEW.status, 'device_id', NEW.device_id, 'device_owner', NEW.device_owner,
        'fixed_ips', coalesce(
            (SELECT json_agg(json_build_object('subnet_id', a.subnet_id, 'ip_address', a.ip_address) ORDER BY a.id)
             FROM ip_allocations a WHERE a.port_id = NEW.id),
            '[]'::json),
        'allowed_address_pairs', {_stored("allowed_address_pairs", "[]")},
        'extra_dhcp_opts', {_stored("extra_dhcp_opts", "[]")},
        'security_groups', coalesce(
            (SELECT json_agg(g.security_group_id ORDER BY g.position)
             FROM port_security_groups g WHERE g.port_id = NEW.id),
            '[]'::json),
        'port_security_enabled', NEW.port_security_enabled, 'binding:vnic_type', NEW.binding_vnic_type,
        'ip_allocation', 'immediate', 'dns_name', '', 'dns_assignment', '[]'::json,
        'qos_policy_id', NEW.qos_policy_id, 'description', NEW.description, 'tags', {_stored("tags", "[]")},
        'created_at', to_char(NEW.created_at, {NEUTRON_TIME}),
        'updated_at', to_char(coalesce(NEW.updated_at, NEW.created_at), {NEUTRON_TIME}),
        'revision_number', NEW.revision_number
    )::text, -1);
    binding := json_build_object(
        'binding:host_id', NEW.binding_host_id, 'binding:profile', {_stored("binding_profile", "{}")},
        'binding:vif_type', NEW.binding_vif_type, 'binding:vif_details', {_stored("binding_vif_details", "{}")}
    )::text;
    NEW.binding_document := substr(binding, 2, length(binding) - 2);
    RETURN NEW;
END
$function$
"""

# A change to a port's fixed IPs or security groups rewrites its document: the port's row is updated, and its
# own trigger builds the document from the rows as they are now.
PORT_PART_CHANGED = """
CREATE OR REPLACE FUNCTION stratus_port_part_changed() RETURNS trigger LANGUAGE plpgsql AS $function$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE ports SET document_head = NULL WHERE id = OLD.port_id;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.port_id IS DISTINCT FROM OLD.port_id) THEN
        UPDATE ports SET document_head = NULL WHERE id = NEW.port_id;
    END IF;
    RETURN NULL;
END
$function$
"""

PARTS = ("ip_allocations", "port_security_groups")


def upgrade() -> None:
    with op.batch_alter_table("ports") as batch:
        batch.add_column(sa.Column("document_head", sa.Text(), nullable=True))
        batch.add_column(sa.Column("binding_document", sa.Text(), nullable=True))
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(PORT_DOCUMENT)
    op.execute(PORT_PART_CHANGED)
    op.execute(
        "CREATE TRIGGER port_document BEFORE INSERT OR UPDATE ON ports "
        "FOR EACH ROW EXECUTE FUNCTION stratus_port_document()"
    )
    for table in PARTS:
        op.execute(
            f"CREATE TRIGGER port_document AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION stratus_port_part_changed()"
        )
    op.execute("UPDATE ports SET document_head = NULL")  # every port's document, written by its trigger


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("ports", *PARTS):
            op.execute(f"DROP TRIGGER IF EXISTS port_document ON {table}")
        op.execute("DROP FUNCTION IF EXISTS stratus_port_part_changed()")
        op.execute("DROP FUNCTION IF EXISTS stratus_port_document()")
    with op.batch_alter_table("ports") as batch:
        batch.drop_column("binding_document")
        batch.drop_column("document_head")
