"""The hosts' account holds the ``host`` role, never admin: on a request signed as one host it sees another project's
image only while that host is building, rebuilding or resizing a server from it, uploads data only to the image of a
snapshot that host is taking, and is refused everything an admin or a project member may do; without a host
signature it gets none of that. Bootstrap takes back the admin role it once had. (What a request must carry to be
signed as a host is tests/unit/api/test_host_signature.py.)"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

import manage.models  # noqa: F401 - every table on the metadata
from api import policy
from api.context import RequestContext
from api.image import access
from common.accounts import HOST_ROLE, SERVICE_PROJECT, SERVICE_USER
from common.db import Database
from compute.models import Instance
from compute.states import TaskState, VmState
from identity.models import Role, RoleAssignment, User
from image.models import Image
from manage.bootstrap import Tenant, bootstrap

UNSIGNED = RequestContext(request_id="req-h", user_id="svc", project_id="service", roles=frozenset({HOST_ROLE}))
HOST = dataclasses.replace(UNSIGNED, host="h1")
OTHER_HOST = dataclasses.replace(UNSIGNED, host="h2")


def add_server(db: Database, image_id: str, task_state: TaskState | None, host: str | None = "h1") -> str:
    with db.session() as session:
        instance = Instance(
            name="vm", project_id="tenant-a", user_id="u", hostname="vm", reservation_id="r", flavor={},
            image_ref=image_id, host=host, vm_state=VmState.ACTIVE.value,
            task_state=task_state.value if task_state else None, requested_networks=[],
        )  # fmt: skip
        session.add(instance)
        session.flush()
        return instance.id


def add_image(db: Database, status: str = "active", **properties: str) -> str:
    with db.session() as session:
        image = Image(owner="tenant-a", visibility="private", status=status, disk_format="qcow2", properties=properties)
        session.add(image)
        session.flush()
        return image.id


def seen_by_host(db: Database, ctx: RequestContext = HOST) -> set[str]:
    with db.session() as session:
        return set(session.scalars(select(Image.id).where(access.visible(ctx))))


def test_a_host_sees_a_private_image_only_while_a_server_is_being_built_from_it(db):
    building, rebuilding, idle, unplaced, unused = (add_image(db) for _ in range(5))
    add_server(db, building, TaskState.SPAWNING)
    add_server(db, rebuilding, TaskState.REBUILDING)
    add_server(db, idle, None)
    add_server(db, unplaced, TaskState.SCHEDULING, host=None)
    assert seen_by_host(db) == {building, rebuilding}
    assert unused not in seen_by_host(db)


def test_a_host_sees_nothing_of_what_another_host_is_building_or_snapshotting(db):
    building, resizing = add_image(db), add_image(db)
    add_server(db, building, TaskState.SPAWNING, host="h1")
    add_server(db, resizing, TaskState.RESIZE_PREP, host="h1")
    snapshotting = add_server(db, add_image(db), TaskState.IMAGE_SNAPSHOT, host="h1")
    snapshot = add_image(db, "queued", image_type="snapshot", instance_uuid=snapshotting)
    assert seen_by_host(db, HOST) == {building, resizing, snapshot}
    assert seen_by_host(db, OTHER_HOST) == set()
    assert seen_by_host(db, UNSIGNED) == set()
    target = {"project_id": "tenant-a", "snapshot_host": "h1"}
    assert policy.allowed("image:upload_image", target, HOST)
    assert not policy.allowed("image:upload_image", target, OTHER_HOST)
    assert not policy.allowed("image:upload_image", target, UNSIGNED)


def test_a_host_may_upload_only_the_data_of_a_snapshot_being_taken(db):
    server = add_server(db, add_image(db), TaskState.IMAGE_SNAPSHOT)
    idle_server = add_server(db, add_image(db), None)
    snapshot = add_image(db, "queued", image_type="snapshot", instance_uuid=server)
    stale = add_image(db, "queued", image_type="snapshot", instance_uuid=idle_server)
    upload = add_image(db, "queued")  # a tenant's own queued image
    assert seen_by_host(db) == {snapshot}
    with db.session() as session:
        taken_by = {i: access.snapshot_host(session, session.get_one(Image, i)) for i in (snapshot, stale, upload)}
    assert taken_by == {snapshot: "h1", stale: None, upload: None}
    target = {"project_id": "tenant-a"}
    assert policy.allowed("image:upload_image", target | {"snapshot_host": "h1"}, HOST)
    assert not policy.allowed("image:upload_image", target | {"snapshot_host": None}, HOST)


@pytest.mark.parametrize(
    "action",
    [
        "compute:servers:index", "compute:servers:index:all_tenants", "compute:servers:delete", "compute:hypervisors",
        "identity:list_users", "identity:create_grant", "image:get_images", "image:get_image", "image:add_image",
        "image:modify_image", "image:publicize_image", "network:create_network", "network:port:binding",
    ],
)  # fmt: skip
def test_the_host_role_is_refused_what_admins_and_members_may_do(action):
    assert not policy.allowed(action, {"project_id": "service"}, HOST)
    assert not HOST.is_admin


def test_bootstrap_gives_the_hosts_account_the_host_role_and_takes_back_admin(db):
    admin_era = Tenant(SERVICE_PROJECT, SERVICE_USER, "service-secret", "admin")
    bootstrap(db, [admin_era], rounds=4)
    changes = bootstrap(db, [Tenant(SERVICE_PROJECT, SERVICE_USER, "service-secret", HOST_ROLE, only_role=True)], 4)
    assert "revoked 1 other role assignments of stratus-service" in changes
    with db.session() as session:
        user = session.scalars(select(User).filter_by(name=SERVICE_USER)).one()
        roles = session.scalars(
            select(Role.name)
            .join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(RoleAssignment.user_id == user.id)
        ).all()
    assert roles == [HOST_ROLE]
