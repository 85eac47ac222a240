"""Request schemas of the QoS API (``api.network.qos``): what Neutron's ``qos``, ``qos-default`` and
``qos-bw-limit-direction`` accept on create and update.

Bodies are converted first (``api.network.common.resource_body``: "true" is a boolean, "1000" an integer), so
the types here are strict; an attribute outside a schema is a 400 naming it. The ranges are Neutron's: rates
and bursts from 0 to its database integer's maximum.
"""

from __future__ import annotations

from typing import Any

from api.network.schemas import BOOL, DESCRIPTION, NAME, PROJECT, TAGS, _document
from network.qos import DIRECTIONS, MAX_KBPS

KBPS = {"type": "integer", "minimum": 0, "maximum": MAX_KBPS}
DIRECTION = {"enum": list(DIRECTIONS)}

POLICY_FIELDS: dict[str, Any] = {"name": NAME, "description": DESCRIPTION, "shared": BOOL, "is_default": BOOL}
POLICY_CREATE = _document("policy", {**POLICY_FIELDS, "project_id": PROJECT, "tenant_id": PROJECT, "tags": TAGS})
POLICY_UPDATE = _document("policy", POLICY_FIELDS)
POLICY_BOOLS = ("shared", "is_default")

RULE_FIELDS: dict[str, Any] = {"max_kbps": KBPS, "max_burst_kbps": KBPS, "direction": DIRECTION}
RULE_CREATE = _document("bandwidth_limit_rule", RULE_FIELDS, required=("max_kbps",))
RULE_UPDATE = _document("bandwidth_limit_rule", RULE_FIELDS)
RULE_INTS = ("max_kbps", "max_burst_kbps")
