"""``make up``'s external network: ``deploy/bootstrap.py`` makes ``public`` (flat on physical network
``public``, the admin project's, not shared) with ``public-subnet`` from the settings, once; every project sees
it and takes floating IPs from it. Runs its own cloud: the bootstrap sets the accounts' passwords."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.harness import VENV_BIN, running_cloud

pytestmark = [pytest.mark.functional]


def test_make_up_creates_the_external_network_public_once(tmp_path: Path) -> None:
    clouds_yaml = tmp_path / "clouds.yaml"
    env = {"STRATUS_NETWORK_EXTERNAL_CIDR": "172.25.8.0/24", "STRATUS_NETWORK_EXTERNAL_HOST_ADDRESS": "172.25.8.9/24"}
    with running_cloud(tmp_path / "state", env) as cloud:
        command = [str(VENV_BIN / "python"), "deploy/bootstrap.py", "--clouds-yaml", str(clouds_yaml)]
        first = subprocess.run(command, env=cloud.env, capture_output=True, text=True, check=True)
        second = subprocess.run(command, env=cloud.env, capture_output=True, text=True, check=True)
        assert "created external network public" in first.stdout, first.stdout
        assert "network public exists" in second.stdout, second.stdout

        clouds = yaml.safe_load(clouds_yaml.read_text())["clouds"]
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
        # the demo project sees it and allocates a floating IP from it
        assert [n["id"] for n in demo.get(f"{base}/networks?name=public").json()["networks"]] == [public["id"]]
        made = demo.post(f"{base}/floatingips", json={"floatingip": {"floating_network_id": public["id"]}})
        assert made.json()["floatingip"]["floating_ip_address"].startswith("172.25.8.")
