"""Cinder's attachments API (3.27): reserve, connect, complete (3.44) and delete an attachment record through
openstacksdk; the volume's status follows each step, and the volume's view lists the attachment once attached."""

from __future__ import annotations

import uuid

import pytest

from tests.functional.volume.api_support import available_volume, block_storage, call, fault, sdk, show

__all__ = ["block_storage"]
pytestmark = pytest.mark.usefixtures("block_storage")

CONNECTOR = {"host": "fake-host-1", "initiator": "iqn.2026-01.test:client", "platform": "x86_64", "os_type": "linux"}


def test_sdk_attachment_reserve_connect_complete_delete(cloud, unique):
    token = cloud.demo().get_token()
    volume = available_volume(cloud, token, unique)
    bs = sdk(cloud).block_storage
    server = str(uuid.uuid4())
    attachment = bs.create_attachment(volume["id"], instance=server)
    assert attachment.status == "reserved" and show(cloud, token, volume["id"])["status"] == "reserved"
    again = call(cloud, "POST", "/attachments", token, "3.44",
                 json={"attachment": {"volume_uuid": volume["id"], "instance_uuid": server}})  # fmt: skip
    fault(again, "badRequest", 400)
    bs.update_attachment(attachment, connector=CONNECTOR)
    assert show(cloud, token, volume["id"])["status"] == "attaching"
    bs.complete_attachment(attachment)
    attached = show(cloud, token, volume["id"])
    assert attached["status"] == "in-use"
    (listed,) = attached["attachments"]
    assert (listed["attachment_id"], listed["server_id"], listed["host_name"]) == (attachment.id, server, None)
    detail = bs.get_attachment(attachment)
    assert detail.status == "attached" and detail.connection_info
    assert attachment.id in [a.id for a in bs.attachments()]
    in_use = call(cloud, "DELETE", f"/volumes/{volume['id']}", token)
    fault(in_use, "badRequest", 400)
    bs.delete_attachment(attachment)
    assert show(cloud, token, volume["id"])["status"] == "available"
    old = call(cloud, "GET", f"/attachments/{attachment.id}", token, "3.26")
    fault(old, "itemNotFound", 404)
