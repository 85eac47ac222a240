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


def pids(cloud: Cloud) -> dict[str, str]:
    rows = [line.split() for line in cloud.manage("services", "status").stdout.splitlines()[1:] if line.strip()]
    return {row[0]: row[1] for row in rows}


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

        before = pids(cloud)
        cloud.manage("services", "restart", "api")
        after = pids(cloud)
        assert after["api"] != before["api"] and {**after, "api": 0} == {**before, "api": 0}
        assert "bringup" in project_names(cloud, token)
        refused = cloud.manage("services", "restart", "api", "no-such-service", check=False)
        assert refused.returncode == 2 and "unknown no-such-service" in refused.stderr
        assert pids(cloud) == after

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


def test_make_up_bootstrap_writes_clouds_yaml_uploads_tiny_and_makes_public_once(tmp_path: Path) -> None:
    """What ``make up`` runs after ``services up`` (``deploy/bootstrap.py``), twice: accounts, clouds.yaml, the
    public image ``tiny`` and the external network ``public`` are made once."""
    image = tmp_path / "tiny.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(image), "16M"], check=True, capture_output=True)
    clouds_yaml = tmp_path / "clouds.yaml"
    env = {"STRATUS_NETWORK_EXTERNAL_CIDR": "172.25.8.0/24", "STRATUS_NETWORK_EXTERNAL_HOST_ADDRESS": "172.25.8.9/24"}
    with running_cloud(tmp_path / "state", env) as cloud:
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
        assert "created external network public" in first.stdout, first.stdout
        assert "network public exists" in second.stdout, second.stdout
        check_external_network(cloud, clouds)


def check_external_network(cloud: Cloud, clouds: dict) -> None:
    """``public``: flat on physical network ``public``, the admin project's, not shared, with ``public-subnet``
    from the settings; every project sees it and takes floating IPs from it."""
    admin = ks_session.Session(auth=v3.Password(**clouds["stratus-admin"]["auth"]))
    demo = ks_session.Session(auth=v3.Password(**clouds["stratus"]["auth"]))
    base = f"{cloud.url}/network/v2.0"
    (public,) = admin.get(f"{base}/networks?name=public").json()["networks"]
    assert public["router:external"] is True and public["shared"] is False
    assert (public["provider:network_type"], public["provider:physical_network"]) == ("flat", "public")
    assert public["provider:segmentation_id"] is None
    (subnet,) = admin.get(f"{base}/subnets?network_id={public['id']}").json()["subnets"]
    assert subnet["name"] == "public-subnet" and subnet["cidr"] == "172.25.8.0/24"
    assert subnet["gateway_ip"] == "172.25.8.9" and subnet["enable_dhcp"] is False
    assert subnet["allocation_pools"] == [
        {"start": "172.25.8.1", "end": "172.25.8.8"},
        {"start": "172.25.8.10", "end": "172.25.8.254"},
    ]
    assert [n["id"] for n in demo.get(f"{base}/networks?name=public").json()["networks"]] == [public["id"]]
    made = demo.post(f"{base}/floatingips", json={"floatingip": {"floating_network_id": public["id"]}})
    assert made.json()["floatingip"]["floating_ip_address"].startswith("172.25.8.")
