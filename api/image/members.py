"""``/v2/images/{id}/members``: sharing an image with other projects, who accept or reject it."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.context import RequestContext, current
from api.image import access
from api.image.schemas import MEMBER_CREATE, MEMBER_UPDATE
from api.image.views import member_view
from api.runtime import runtime
from api.validation import validated_body
from common.exceptions import Conflict, Forbidden, NotFound
from image.models import Image, ImageMember
from image.states import MemberStatus, Visibility

bp = Blueprint("image_members", __name__, url_prefix="/image/v2/images/<image_id>/members")


def _shared_image(session: Session, ctx: RequestContext, image_id: str) -> Image:
    image = access.get_visible(session, ctx, image_id)
    if image.visibility != Visibility.SHARED:
        raise Forbidden(f"Only shared images have members; image {image_id} is {image.visibility}.")
    return image


def _member(session: Session, ctx: RequestContext, image: Image, member_id: str) -> ImageMember:
    member = session.get(ImageMember, (image.id, member_id))
    # Only the owner, the member itself and admins may see a membership.
    if member is None or not (ctx.is_admin or ctx.project_id in (image.owner, member_id)):
        raise NotFound(f"Member {member_id} not found for image {image.id}")
    return member


@bp.get("")
def list_members(image_id: str) -> Response:
    ctx = policy.enforce("image:get_members")
    with runtime().db.session() as session:
        image = _shared_image(session, ctx, image_id)
        query = select(ImageMember).where(ImageMember.image_id == image.id).order_by(ImageMember.created_at)
        if not ctx.is_admin and ctx.project_id != image.owner:
            query = query.where(ImageMember.member_id == ctx.project_id)
        members = [member_view(m) for m in session.scalars(query)]
    return jsonify({"members": members, "schema": "/v2/schemas/members"})


@bp.post("")
def add_member(image_id: str) -> Response:
    ctx = current()
    body = validated_body(MEMBER_CREATE)
    with runtime().db.session() as session:
        image = _shared_image(session, ctx, image_id)
        policy.enforce("image:add_member", {"project_id": image.owner})
        if session.get(ImageMember, (image.id, body["member"])) is not None:
            raise Conflict(f"Member {body['member']} already exists for image {image.id}")
        member = ImageMember(image_id=image.id, member_id=body["member"], status=MemberStatus.PENDING.value)
        session.add(member)
        session.flush()
        return jsonify(member_view(member))


@bp.get("/<member_id>")
def get_member(image_id: str, member_id: str) -> Response:
    ctx = policy.enforce("image:get_members")
    with runtime().db.session() as session:
        image = _shared_image(session, ctx, image_id)
        return jsonify(member_view(_member(session, ctx, image, member_id)))


@bp.put("/<member_id>")
def update_member(image_id: str, member_id: str) -> Response:
    ctx = current()
    body = validated_body(MEMBER_UPDATE)
    with runtime().db.session() as session:
        image = _shared_image(session, ctx, image_id)
        member = _member(session, ctx, image, member_id)
        policy.enforce("image:modify_member", {"member_id": member.member_id})
        member.status = body["status"]
        session.flush()
        return jsonify(member_view(member))


@bp.delete("/<member_id>")
def delete_member(image_id: str, member_id: str) -> Response:
    ctx = current()
    with runtime().db.session() as session:
        image = _shared_image(session, ctx, image_id)
        member = _member(session, ctx, image, member_id)
        policy.enforce("image:delete_member", {"project_id": image.owner})
        session.delete(member)
    return Response(status=204)
