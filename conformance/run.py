"""``make conformance``: OpenStack's own API suite, Tempest, run against the cloud ``make up`` started, as the judge of
how fully Stratus speaks OpenStack.

Tempest lives in a virtualenv of its own (``.stratus/conformance/venv``, from the pinned ``requirements.txt``), never
in ``.venv``: it brings its own versions of the OpenStack client libraries. Its ``tempest.conf`` is written for the
running cloud from what the cloud itself says (catalog, microversions, network extensions) and from
``clouds.yaml``'s admin: dynamic credentials (Tempest makes a project, users and a network per test class), the
public image ``tiny`` and a second copy ``tiny-alt``, flavors ``m1.tiny`` and ``m1.small``.

The tests Stratus does not pass yet are listed in ``expected-failures.txt``, each pattern with its reason; they are
left out of the run (``--all`` runs them too) and the summary counts them, so nothing is skipped silently. The
summary prints passed, skipped, failed and listed per suite; the command fails when a test outside the list fails.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import openstack
import yaml
from openstack.image.v2.image import Image

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "conformance"
WORK = REPO / ".stratus" / "conformance"
VENV = WORK / "venv"
WORKSPACE = WORK / "workspace"
REQUIREMENTS = HERE / "requirements.txt"
EXPECTED_FAILURES = HERE / "expected-failures.txt"
TINY_IMAGE = REPO / ".stratus" / "build" / "tiny.qcow2"

SUITES = {
    "identity": r"tempest\.api\.identity\.",
    "compute.flavors": r"tempest\.api\.compute\.flavors\.",
    "compute.servers.test_servers": r"tempest\.api\.compute\.servers\.test_servers",
    "compute.admin.migrations": (
        r"tempest\.api\.compute\.admin\.test_(live_migration|live_migration_negative|migrations)\."
    ),
    "image": r"tempest\.api\.image\.",
    "network": r"tempest\.api\.network\.",
    "volume": r"tempest\.api\.volume\.",
}
"""Each suite and the test ids it covers; ``--suites`` picks some (all by default)."""


def say(message: str) -> None:
    print(f"conformance: {message}", flush=True)


def ensure_tempest() -> Path:
    """The virtualenv with the pinned Tempest; made again only when ``requirements.txt`` changes."""
    stamp = VENV / ".requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return VENV / "bin"
    say(f"installing Tempest into {VENV.relative_to(REPO)} (log: {(WORK / 'pip.log').relative_to(REPO)})")
    WORK.mkdir(parents=True, exist_ok=True)
    subprocess.run(["python3", "-m", "venv", "--clear", str(VENV)], check=True)
    with (WORK / "pip.log").open("wb") as log:
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-r", str(REQUIREMENTS)], check=True, stdout=log,
                       stderr=subprocess.STDOUT)  # fmt: skip
    stamp.write_text(wanted + "\n")
    return VENV / "bin"


def admin_cloud(clouds_yaml: Path) -> dict:
    if not clouds_yaml.exists():
        sys.exit(f"conformance: {clouds_yaml} is missing: run `make up` first")
    return yaml.safe_load(clouds_yaml.read_text())["clouds"]["stratus-admin"]


def max_microversion(connection: openstack.connection.Connection, service_type: str) -> str:
    """The newest microversion the service's version document offers (``version`` of its current version)."""
    endpoint = connection.endpoint_for(service_type)
    root = endpoint.rstrip("/").rsplit("/", 1)[0] + "/"
    versions = connection.session.get(root, authenticated=False, raise_exc=False).json()
    listed = versions.get("versions") or [versions.get("version", {})]
    current = [v for v in listed if v.get("status") == "CURRENT"] or listed
    return current[0].get("version") or current[0].get("max_version") or ""


def ensure_alt_image(connection: openstack.connection.Connection) -> tuple[str, str]:
    """The ids of the public image ``tiny`` and of its copy ``tiny-alt`` (uploaded when missing)."""
    found = {image.name: image.id for image in connection.image.images(visibility="public") if image.status == "active"}
    if "tiny" not in found:
        sys.exit("conformance: the cloud has no active public image 'tiny': run `make up` first")
    if "tiny-alt" not in found:
        say("uploading the tiny image again as tiny-alt (Tempest's second image)")
        image = connection.image.create_image(
            name="tiny-alt", filename=str(TINY_IMAGE), disk_format="qcow2", container_format="bare",
            visibility="public", wait=True,
        )  # fmt: skip
        found["tiny-alt"] = image.id
    return found["tiny"], found["tiny-alt"]


def compute_hosts(connection: openstack.connection.Connection) -> list[str]:
    """The compute services that are up and enabled: the hosts a scheduler may place or move a server on."""
    return sorted(
        service.host for service in connection.compute.services(binary="nova-compute")
        if service.state == "up" and service.status == "enabled"
    )  # fmt: skip


def migration_options(hosts: list[str], image: Image, volumes: bool) -> str:
    """The ``[compute-feature-enabled]`` lines that tell Tempest which moves this cloud makes, each with why."""
    moves = len(hosts) >= 2
    # A root disk is shared (a clone in Ceph) only when the hosts make roots in Ceph and the image is raw; a root
    # from any other image is a file on its host, which a live migration must copy.
    block = image.disk_format != "raw"
    return f"""# {len(hosts)} compute hosts up and enabled ({", ".join(hosts)}): servers move when there are two or more
cold_migration = {str(moves).lower()}
live_migration = {str(moves).lower()}
# Tempest's image ({image.name}, {image.disk_format}) gives each server a root file on its host: a live migration
# copies it (block migration)
block_migration_for_live_migration = {str(block).lower()}
# The hosts are alike, all run the same code and reach each other's libvirtd: a server can go to any of them and
# come back (which needs the source to have let go of its copy)
can_migrate_between_any_hosts = true
live_migrate_back_and_forth = {str(moves).lower()}
# A server booted from a volume has no disk on its host: its live migration copies none
volume_backed_live_migration = {str(moves and volumes).lower()}
"""


def tempest_conf(cloud: dict, connection: openstack.connection.Connection) -> str:
    auth = cloud["auth"]
    image, image_alt = ensure_alt_image(connection)
    hosts = compute_hosts(connection)
    flavors = {flavor.name: flavor.id for flavor in connection.compute.flavors()}
    public = connection.network.find_network("public", ignore_missing=True)
    extensions = sorted(extension.alias for extension in connection.network.extensions())
    services = {
        entry["type"] for entry in connection.session.auth.get_access(connection.session).service_catalog.catalog
    }
    moves = migration_options(hosts, connection.image.get_image(image), "block-storage" in services)
    return f"""[DEFAULT]
log_file = tempest.log

[auth]
use_dynamic_credentials = true
create_isolated_networks = true
admin_username = {auth["username"]}
admin_password = {auth["password"]}
admin_project_name = {auth["project_name"]}
admin_domain_name = Default

[identity]
uri_v3 = {auth["auth_url"]}
auth_version = v3
region = {cloud.get("region_name", "RegionOne")}
admin_role = admin

[identity-feature-enabled]
api_v2 = false
api_v3 = true

[compute]
image_ref = {image}
image_ref_alt = {image_alt}
flavor_ref = {flavors.get("m1.tiny", "1")}
flavor_ref_alt = {flavors.get("m1.small", "2")}
min_microversion = 2.1
max_microversion = {max_microversion(connection, "compute")}
build_timeout = 180
region = {cloud.get("region_name", "RegionOne")}
# Tempest's multinode tests (migrations) run with at least two
min_compute_nodes = {len(hosts)}

[compute-feature-enabled]
change_password = false
console_output = true
resize = true
pause = true
shelve = true
suspend = true
{moves}metadata_service = true
vnc_console = false
serial_console = false
rescue = true
interface_attach = true
snapshot = true
personality = false
attach_encrypted_volume = false
config_drive = true
enable_instance_password = true

[image]
region = {cloud.get("region_name", "RegionOne")}
container_formats = bare
disk_formats = qcow2,raw

[image-feature-enabled]
api_v2 = true
import_image = false
os_glance_reserved = true

[network]
public_network_id = {public.id if public else ""}
floating_network_name = {public.name if public else ""}
project_network_cidr = 10.100.0.0/16
project_network_mask_bits = 28
project_networks_reachable = false
region = {cloud.get("region_name", "RegionOne")}

[network-feature-enabled]
api_extensions = {",".join(extensions)}
# Tempest's IPv6 variants are measured (subnets, ports, routers, security groups, address pairs, DHCP options on
# 2001:db8::/48), and with ipv6_subnet_attributes the SLAAC/DHCPv6 mode classes (NetworksIpV6TestAttrs,
# test_dhcp_ipv6): EUI-64 addresses, Neutron's mode rules, stateful allocation
ipv6 = true
ipv6_subnet_attributes = true
port_security = {str("port-security" in extensions).lower()}
floating_ips = true

[volume]
max_microversion = {max_microversion(connection, "block-storage") if "block-storage" in services else ""}
storage_protocol = file
backup = true
region = {cloud.get("region_name", "RegionOne")}

[volume-feature-enabled]
manage_volume = false
manage_snapshot = false

[service_available]
nova = {str("compute" in services).lower()}
neutron = {str("network" in services).lower()}
glance = {str("image" in services).lower()}
cinder = {str("block-storage" in services).lower()}
swift = false
horizon = false

[validation]
run_validation = false
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", default=",".join(SUITES), help=f"comma-separated, of: {', '.join(SUITES)}")
    parser.add_argument("--all", action="store_true", help="run the tests expected-failures.txt lists too")
    parser.add_argument("--clouds-yaml", type=Path, default=REPO / "clouds.yaml")
    args = parser.parse_args()
    suites = [suite.strip() for suite in args.suites.split(",") if suite.strip()]
    unknown = [suite for suite in suites if suite not in SUITES]
    if unknown or not suites:
        parser.error(f"unknown suites {unknown}; known: {', '.join(SUITES)}")

    bin_dir = ensure_tempest()
    cloud = admin_cloud(args.clouds_yaml)
    connection = openstack.connect(
        auth_url=cloud["auth"]["auth_url"], username=cloud["auth"]["username"], password=cloud["auth"]["password"],
        project_name=cloud["auth"]["project_name"], user_domain_name="Default", project_domain_name="Default",
        region_name=cloud.get("region_name", "RegionOne"),
    )  # fmt: skip
    if not (WORKSPACE / ".stestr.conf").exists():
        # Tempest refuses a non-empty directory (an interrupted init) and a name its registry already holds (a
        # workspace removed by hand): start clean, with a registry of our own instead of the user's ~/.tempest.
        shutil.rmtree(WORKSPACE, ignore_errors=True)
        registry = WORKSPACE.parent / "workspaces.yaml"
        registry.unlink(missing_ok=True)
        init = [str(bin_dir / "tempest"), "init", "--workspace-path", str(registry), str(WORKSPACE)]
        subprocess.run(init, check=True, stdout=subprocess.DEVNULL)
    (WORKSPACE / "etc" / "tempest.conf").write_text(tempest_conf(cloud, connection))
    regex = "^(" + "|".join(SUITES[suite] for suite in suites) + ")"
    command = [str(bin_dir / "tempest"), "run", "--concurrency", "1", "--regex", regex]
    if not args.all:
        command += ["--exclude-list", str(EXPECTED_FAILURES)]
    say(f"running {', '.join(suites)} (Tempest's log: {(WORKSPACE / 'logs' / 'tempest.log').relative_to(REPO)})")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OS_", "PYTHON"))}
    with (WORK / "run.log").open("wb") as log:
        subprocess.run(command, cwd=WORKSPACE, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    stestr = str(bin_dir / "stestr")
    stream = subprocess.run([stestr, "last", "--subunit"], cwd=WORKSPACE, env=env, capture_output=True,
                            check=True).stdout  # fmt: skip
    tests = WORK / "tests.txt"
    tests.write_bytes(subprocess.run([stestr, "list", regex], cwd=WORKSPACE, env=env, capture_output=True,
                                     check=True).stdout)  # fmt: skip
    summary = subprocess.run(
        [str(bin_dir / "python"), str(HERE / "summarize.py"), "--suites", ",".join(suites), "--tests", str(tests),
         "--expected", str(EXPECTED_FAILURES), *(["--all"] if args.all else [])],
        input=stream, check=False,
    )  # fmt: skip
    sys.exit(summary.returncode)


if __name__ == "__main__":
    main()
