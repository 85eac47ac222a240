"""What every test of the package knows about the world: this run's names and addresses, and the ``World`` the
package's fixture builds (the cloud, its CLI, both projects' networks and the three guests)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.guests import Guest, OpenStack
from tests.harness import Cloud

RUN = secrets.token_hex(2)
HOST = f"e2e{RUN}"
HOSTS = (f"{HOST}-1", f"{HOST}-2")
UNDERLAY_BRIDGE = f"ul{HOST}"
UNDERLAY = f"198.19.{secrets.randbelow(256)}.0/24"
VTEPS = {host: UNDERLAY.rsplit(".", 1)[0] + f".{11 + i}" for i, host in enumerate(HOSTS)}
"""The underlay address the launcher gives each host (network address + 10 + its index)."""
PASSWORDS = {"admin": "e2e-admin", "demo": "e2e-demo", "other": "e2e-other"}
RESYNC_INTERVAL = 5.0
BOOT_TIMEOUT = 180.0
DEVICE_PREFIXES = ("brq", "vxlan-", "qbr", "qvb", "qvo", "tap")
UNUSED_IP = "10.0.0.99"
"""An address of the subnet that no port has (the spoofing guest takes it, pings to it must fail)."""


@dataclass
class World:
    """The running cloud, its CLI, the two projects' networks and the three guests."""

    cloud: Cloud
    openstack: OpenStack
    networks: dict[str, str]  # name -> id
    groups: dict[str, str]  # project -> id of its "icmp-in" group
    guests: dict[str, Guest] = field(default_factory=dict)

    @property
    def a1(self) -> Guest:
        return self.guests["a1"]

    @property
    def a2(self) -> Guest:
        return self.guests["a2"]

    @property
    def b1(self) -> Guest:
        return self.guests["b1"]

    def vni(self, network: str) -> int:
        return int(self.openstack.json("admin", "network", "show", self.networks[network])["provider:segmentation_id"])

    def agent_log(self, host: str) -> Path:
        return self.cloud.log_dir / f"network-agent-{host}.log"

    def agent_pid(self, host: str) -> int:
        return int((self.cloud.state_dir / "run" / f"network-agent-{host}.pid").read_text().split()[0])
