"""``/v3/OS-OAUTH1/consumers``: the registry of OAuth 1.0a consumers (Keystone's OS-OAUTH1 extension), admin only.

The consumer's ``secret`` is in the creation response only; it is stored hashed (``identity.oauth1``). The
delegation endpoints of OS-OAUTH1 (request_token, authorize, access_token) are not served.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from api import policy
from api.identity.schemas import CONSUMER_CREATE, CONSUMER_UPDATE
from api.runtime import runtime
from api.urls import collection_links, self_link
from api.validation import validated_body
from identity import oauth1
from identity.models import OAuth1Consumer
from identity.passwords import hash_password

bp = Blueprint("identity_oauth1", __name__, url_prefix="/identity/v3/OS-OAUTH1/consumers")


def consumer_view(consumer: OAuth1Consumer) -> dict[str, Any]:
    return {
        **consumer.extra,
        "id": consumer.id,
        "description": consumer.description,
        "links": self_link(f"/OS-OAUTH1/consumers/{consumer.id}"),
    }


@bp.get("")
def list_consumers() -> Response:
    policy.enforce("identity:list_consumers")
    with runtime().db.session() as session:
        consumers = [consumer_view(c) for c in oauth1.list_all(session)]
    return jsonify({"consumers": consumers, "links": collection_links("/OS-OAUTH1/consumers")})


@bp.post("")
def create_consumer() -> tuple[Response, int]:
    policy.enforce("identity:create_consumer")
    body = validated_body(CONSUMER_CREATE)["consumer"]
    rt = runtime()
    secret = oauth1.generate_secret()
    secret_hash = hash_password(secret, rt.settings.password_hash_rounds)  # slow: outside any transaction
    with rt.db.session() as session:
        view = consumer_view(oauth1.create(session, body, secret_hash))
    return jsonify({"consumer": {**view, "secret": secret}}), 201


@bp.get("/<consumer_id>")
def get_consumer(consumer_id: str) -> Response:
    policy.enforce("identity:get_consumer")
    with runtime().db.session() as session:
        return jsonify({"consumer": consumer_view(oauth1.get(session, consumer_id))})


@bp.patch("/<consumer_id>")
def update_consumer(consumer_id: str) -> Response:
    policy.enforce("identity:update_consumer")
    body = validated_body(CONSUMER_UPDATE)["consumer"]
    with runtime().db.session() as session:
        view = consumer_view(oauth1.update(session, consumer_id, body))
    return jsonify({"consumer": view})


@bp.delete("/<consumer_id>")
def delete_consumer(consumer_id: str) -> Response:
    policy.enforce("identity:delete_consumer")
    with runtime().db.session() as session:
        oauth1.delete(session, consumer_id)
    return Response(status=204)
