"""``/metadata/<path>``: the signed guest's documents, GET and HEAD only."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, g, request

from api.metadata.servers import server_at
from api.runtime import runtime
from common import metadata_secret
from common.exceptions import Forbidden, NotFound
from compute.metadata import ServerMetadata

bp = Blueprint("metadata", __name__, url_prefix="/metadata")
LOG = logging.getLogger(__name__)

NETWORK_HEADER = "X-Stratus-Network-ID"
ADDRESS_HEADER = "X-Forwarded-For"
SIGNATURE_HEADER = "X-Stratus-Signature"
_SECRET = "stratus.metadata_secret"


def _secret() -> bytes:
    """Read once per process (made on first use when neither the setting nor the file gives one)."""
    if _SECRET not in current_app.extensions:
        current_app.extensions[_SECRET] = metadata_secret.metadata_secret(runtime().settings)
    return current_app.extensions[_SECRET]


def _signed_identity() -> tuple[str, str]:
    network_id = request.headers.get(NETWORK_HEADER, "")
    address = request.headers.get(ADDRESS_HEADER, "")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not (network_id and address and signature) or not metadata_secret.verify(
        _secret(), network_id, address, signature
    ):
        LOG.warning("[%s] metadata request with a missing or wrong signature", g.get("request_id"))
        raise Forbidden("The metadata request is not signed by a metadata proxy of this cloud.")
    return network_id, address


@bp.route("", defaults={"path": ""}, methods=["GET"])
@bp.route("/<path:path>", methods=["GET"])
def document(path: str) -> Response:
    network_id, address = _signed_identity()
    with runtime().db.session() as session:
        instance = server_at(session, network_id, address)
        if instance is None:
            raise NotFound(f"No server has the address {address} on network {network_id}.")
        try:
            found = ServerMetadata.load(session, instance).lookup(path)
        except LookupError:
            raise NotFound(f"No metadata at /{path}.") from None
    return Response(found.body, status=200, content_type=found.content_type)
