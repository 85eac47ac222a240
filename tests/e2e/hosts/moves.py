"""What the modules that move real guests between host machines share: a cloud of ``make up HOSTS=N``'s kind
(``host_machines``: each host in its own namespaces with its own libvirtd, its agents inside, reaching the control
node only by its underlay address) seen through the openstack and stratus CLIs, its guests where the cloud says
they run, and the checks every move ends with (nothing left on the source, the guest never booted again, the
pings a peer lost).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from manage import host_machine
from manage.clouds import write_clouds_yaml
from manage.host_machine import HostMachine
from network.devicenames import vif_names
from tests.e2e.guests import Guest, OpenStack
from tests.harness import VENV_BIN, Cloud, running_cloud, wait_until

BOOT_TIMEOUT = 240.0
MOVE_TIMEOUT = 240.0
LIVE = ("--os-compute-api-version", "2.30")
"""``server migrate --live-migration --host`` (the host named, checked by the scheduler)."""
PING_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) packets received")
HOST_MACHINE_SETTINGS = {
    "STRATUS_HOST_MACHINES": "true",
    # A host is down after 8 s without a heartbeat, and its HA servers leave 2 s later, once it is fenced.
    "STRATUS_HOST_HEARTBEAT_INTERVAL": "2",
    "STRATUS_COMPUTE_HOST_DOWN_AFTER": "8",
    "STRATUS_HA_GRACE_PERIOD": "2",
    "STRATUS_COMPUTE_REPORT_INTERVAL": "3",
}
"""Host machines, and timings that let a test see a host's power cut in seconds."""


@dataclass
class World:
    cloud: Cloud
    openstack: OpenStack
    network: str
    guests: dict[str, Guest]
    ports: dict[str, str]

    def machine(self, host: str) -> HostMachine:
        return host_machine.recorded(self.cloud.state_dir / "hosts" / host / "machine")

    def uri(self, host: str) -> str:
        return self.machine(host).libvirt_uri

    def domains(self, host: str) -> list[str]:
        result = subprocess.run(["virsh", "-c", self.uri(host), "list", "--all", "--name"], capture_output=True,
                                text=True, timeout=60, check=False)  # fmt: skip
        return result.stdout.split()

    def server(self, name: str) -> dict:
        return self.openstack.json("admin", "server", "show", self.guests[name].server_id)

    def follow(self, name: str) -> Guest:
        """The guest where the cloud says it runs now (host, console log, libvirtd)."""
        guest, host = self.guests[name], self.server(name)["OS-EXT-SRV-ATTR:host"]
        guest.host, guest.libvirt_uri = host, self.uri(host)
        guest.console_log = instance_dir(self.cloud, host, guest.server_id) / "console.log"
        return guest

    def wait_for(self, name: str, status: str, host: str | None = None, timeout: float = MOVE_TIMEOUT) -> dict:
        def settled(server: dict) -> bool:
            placed = host is None or server["OS-EXT-SRV-ATTR:host"] == host
            return server["status"] == status and server["OS-EXT-STS:task_state"] is None and placed

        return wait_until(lambda: self.server(name), timeout, interval=2, message=f"{name} never {status} on "
                          f"{host or 'any host'}", until=settled)  # fmt: skip

    def left_nothing_on(self, host: str, name: str) -> None:
        """No domain, no instance directory, no device of its port on ``host``. The domain and the directory are
        gone when the move ends; the devices go when the host's network agent applies the state the move's switch
        pushed to it, which a loaded machine may take a few seconds more to do (a full CI run checked while the
        push was still on its way): waited for, within a bound far below the agents' full resync (300 s), so a
        push that never comes still fails here."""
        guest = self.guests[name]
        assert f"stratus-{guest.server_id}" not in self.domains(host)
        assert not instance_dir(self.cloud, host, guest.server_id).exists()
        names = vif_names(self.ports[name])
        devices = {names.bridge, names.qvb, names.qvo, names.tap}

        def links() -> str:
            return self.machine(host).run(["ip", "-br", "link"]).stdout

        wait_until(links, 20, interval=0.5, message=f"the port of {name} left devices on {host}",
                   until=lambda found: not devices & {line.split("@")[0] for line in found.split()})  # fmt: skip

    def boot(self, name: str, host: str, *extra: str, image: str = "tiny") -> Guest:
        """``name`` booted on ``host`` and logged in on its serial console."""
        command = ("server", "create", "--image", image, "--flavor", "m1.tiny", "--network", self.network,
                   "--availability-zone", f"nova:{host}", *extra, "--wait", name)  # fmt: skip
        created = self.openstack.json("admin", *command, project="demo")
        (port,) = self.openstack.json("admin", "port", "list", "--device-id", created["id"])
        ip = port["Fixed IP Addresses"][0]["ip_address"]
        console = instance_dir(self.cloud, host, created["id"]) / "console.log"
        guest = Guest(name, created["id"], host, self.network, port["ID"], port["MAC Address"], ip, console,
                      self.uri(host))  # fmt: skip
        self.guests[name], self.ports[name] = guest, port["ID"]
        guest.wait_for_shell(BOOT_TIMEOUT)
        return guest

    def migrations(self, name: str) -> list[dict]:
        listing = ("--os-compute-api-version", "2.59", "server", "migration", "list", "--server")
        return self.openstack.json("admin", *listing, self.guests[name].server_id)

    def live_migration_figures(self, name: str) -> str:
        """What the live migration's event says it cost (copy, downtime), as admins read it in the actions."""
        server = self.guests[name].server_id
        events = self.openstack.json("admin", "server", "event", "list", server)
        request = next(e["Request ID"] for e in events if e["Action"] == "live-migration")
        shown = self.openstack.json("admin", "server", "event", "show", server, request)
        done = [e for e in shown["events"] if e["event"] == "compute_live_migration"]
        return str(done[0].get("traceback")) if done else f"no compute_live_migration event in {shown['events']}"

    def live_migrate(self, name: str, target: str, peer: str, *options: str) -> tuple[float, list[int], str]:
        """Live-migrate ``name`` to ``target`` while ``peer`` pings it every 0.2 s: seconds from the request to
        ACTIVE on the target, the pings lost, the move's figures."""
        mover, pinger = self.guests[name], self.guests[peer]
        pinger.run(f"(ping -i 0.2 {mover.ip} > /tmp/during.log 2>&1 &)")
        started = time.monotonic()
        self.openstack("admin", *LIVE, "server", "migrate", "--live-migration", "--host", target, *options,
                       mover.server_id)  # fmt: skip
        self.wait_for(name, "ACTIVE", target)
        moved_in = time.monotonic() - started
        time.sleep(2)
        _, out = pinger.run("kill -INT $(pidof ping); sleep 1; cat /tmp/during.log")
        summary = PING_SUMMARY.search(out)
        assert summary, out
        sent = int(summary[1])
        assert sent >= 5, out
        missing = sorted(set(range(sent)) - {int(n) for n in re.findall(r"seq=(\d+)", out)})
        return moved_in, missing, self.live_migration_figures(name)

    def stratus(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The ``stratus`` CLI as the admin."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env |= {"OS_CLIENT_CONFIG_FILE": str(self.openstack.clouds_yaml), "OS_CLOUD": "admin"}
        return subprocess.run([str(VENV_BIN / "stratus"), *args], env=env, capture_output=True, text=True,
                              timeout=600, check=False)  # fmt: skip


def instance_dir(cloud: Cloud, host: str, server_id: str) -> Path:
    return cloud.state_dir / "hosts" / host / "state" / "instances" / server_id


def uptime(guest: Guest) -> float:
    rc, out = guest.run("cut -d' ' -f1 /proc/uptime")
    assert rc == 0, out
    return float(out.strip().splitlines()[-1])


@contextmanager
def host_machine_cloud(
    state: Path, env: dict[str, str], hosts: int, subnet: str, images: dict[str, tuple[str, Path]], kept: Path
) -> Iterator[World]:
    """A cloud of ``hosts`` host machines on ``env``'s settings: the admin and demo accounts and a clouds.yaml,
    the public ``images`` (name: disk format and file), demo's network ``moves`` on ``subnet``, every host
    reporting. On exit the cloud and its host machines go; the services' and hosts' logs are kept in ``kept`` (for
    a failed run)."""
    try:
        with running_cloud(state, env) as cloud:
            cloud.bootstrap("e2e-admin", "e2e-demo")
            clouds_yaml = state / "clouds.yaml"
            accounts = {"admin": ("admin", "e2e-admin"), "demo": ("demo", "e2e-demo")}
            write_clouds_yaml(clouds_yaml, cloud.auth_url, "RegionOne", accounts)
            openstack = OpenStack(clouds_yaml)
            openstack("admin", "role", "add", "--project", "demo", "--user", "admin", "admin")  # places demo's servers
            for name, (disk_format, path) in images.items():
                openstack("admin", "image", "create", "--public", "--disk-format", disk_format, "--container-format",
                          "bare", "--file", str(path), name)  # fmt: skip
            openstack("admin", "network", "create", "--project", "demo", "moves")
            openstack("admin", "subnet", "create", "--project", "demo", "--network", "moves", "--subnet-range",
                      subnet, "moves-v4")  # fmt: skip
            wait_until(lambda: openstack.json("admin", "hypervisor", "list"), 120, interval=2,
                       message=f"{hosts} hosts never reported", until=lambda found: len(found) == hosts)  # fmt: skip
            yield World(cloud, openstack, "moves", {}, {})
    finally:
        for logs in [state / "log", *state.glob("hosts/*/state/log")]:
            shutil.copytree(logs, kept / logs.relative_to(state), dirs_exist_ok=True)
