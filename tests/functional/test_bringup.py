"""``stratus-manage services up|down|status``: the whole cloud comes up, goes down, and keeps its data."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.harness import VENV_BIN, Cloud, free_port, running_cloud

pytestmark = pytest.mark.functional

ADMIN_PASSWORD = "bringup-admin"
DEMO_PASSWORD = "bringup-demo"


def admin_session(cloud: Cloud) -> ks_session.Session:
    auth = v3.Password(
        auth_url=cloud.auth_url,
        username="admin",
        password=ADMIN_PASSWORD,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    return ks_session.Session(auth=auth)


def project_names(cloud: Cloud, token: str) -> set[str]:
    """Projects listed with a bare token: no re-authentication can hide a token the restart invalidated."""
    response = ks_session.Session().get(f"{cloud.auth_url}/projects", headers={"X-Auth-Token": token})
    return {project["name"] for project in response.json()["projects"]}


def status_states(cloud: Cloud) -> tuple[int, dict[str, str]]:
    """Exit code of ``services status`` and the state column of each row."""
    result = cloud.manage("services", "status", check=False)
    rows = [line.split() for line in result.stdout.splitlines()[1:] if line.strip()]
    return result.returncode, {row[0]: row[2] for row in rows}


def test_up_down_up_keeps_projects_and_tokens(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    # A broker port nothing answers on: the launcher starts (and later stops) its own persistent Redis.
    env = {"STRATUS_API_PORT": str(free_port()), "STRATUS_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}

    with running_cloud(state_dir, env) as cloud:
        cloud.manage("bootstrap", "--admin-password", ADMIN_PASSWORD, "--demo-password", DEMO_PASSWORD)
        admin = admin_session(cloud)
        admin.post(f"{cloud.auth_url}/projects", json={"project": {"name": "bringup", "domain_id": "default"}})
        token = admin.get_token()
        assert token
        assert "bringup" in project_names(cloud, token)

    code, states = status_states(cloud)
    assert code != 0
    assert set(states.values()) <= {"stopped", "absent"}, states

    with running_cloud(state_dir, env) as cloud:
        assert "bringup" in project_names(cloud, token), "the project or the Fernet keys did not survive"
        code, states = status_states(cloud)
        assert code == 0, states
        assert states["api"] == states["redis"] == "running"
        assert "stopped" not in states.values()
        assert any((state_dir / "redis").iterdir()), "Redis kept no append-only file"

    code, states = status_states(cloud)
    assert code != 0
    assert "running" not in states.values()


def test_external_broker_is_used_and_left_running(tmp_path: Path, redis_url: str) -> None:
    with running_cloud(tmp_path / "state", {"STRATUS_BROKER_URL": redis_url}) as cloud:
        code, states = status_states(cloud)
        assert code == 0, states
        assert states["redis"] == "external"
        assert not (cloud.state_dir / "run" / "redis.pid").exists()

    code, states = status_states(cloud)
    assert states["redis"] == "external", "services down stopped a Redis it did not start"
    assert states["api"] == "stopped"


def test_make_up_bootstrap_writes_clouds_yaml_and_uploads_the_tiny_image_once(tmp_path: Path) -> None:
    """What ``make up`` runs after ``services up``: accounts, clouds.yaml, and the public image ``tiny``."""
    image = tmp_path / "tiny.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(image), "16M"], check=True, capture_output=True)
    clouds_yaml = tmp_path / "clouds.yaml"
    with running_cloud(tmp_path / "state") as cloud:
        command = [
            str(VENV_BIN / "python"),
            "deploy/bootstrap.py",
            "--clouds-yaml",
            str(clouds_yaml),
            "--tiny-image",
            str(image),
        ]
        first = subprocess.run(command, env=cloud.env, capture_output=True, text=True, check=True)
        second = subprocess.run(command, env=cloud.env, capture_output=True, text=True, check=True)

        assert "uploaded" in first.stdout and "image tiny is up to date" in second.stdout
        assert clouds_yaml.stat().st_mode & 0o077 == 0
        clouds = yaml.safe_load(clouds_yaml.read_text())["clouds"]
        auth = clouds["stratus"]["auth"]
        session = ks_session.Session(auth=v3.Password(**auth))
        images = session.get(f"{cloud.url}/image/v2/images?name=tiny").json()["images"]
        assert [(i["visibility"], i["status"], i["disk_format"]) for i in images] == [("public", "active", "qcow2")]
