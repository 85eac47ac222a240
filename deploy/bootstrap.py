"""Create the accounts of a one-machine cloud, write a ``clouds.yaml`` for them, give the demo project a network,
make the external network ``public`` (for routers' gateways and floating IPs), upload the tiny image.

Run twice by ``make up``: ``--prepare`` before ``stratus-manage services up`` (it makes sure the passwords exist
and gives the services the one they need, the host agents' service account, in ``<state_dir>/stratus.toml``),
then without it once the services answer. The passwords are generated on the first run and kept in
``<state_dir>/passwords`` (mode 600), so every later run bootstraps with the same ones and ``clouds.yaml`` stays
valid; ``stratus-manage bootstrap`` itself is idempotent.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from common.settings import Settings, load
from manage import host_machine
from manage.clouds import write_clouds_yaml

ACCOUNTS = {"stratus-admin": "admin", "stratus": "demo"}  # cloud name -> user (and project) name
SECRETS = ("admin", "demo", "service")


def ensure_passwords(path: Path) -> dict[str, str]:
    """Read ``NAME_PASSWORD=...`` lines, adding a fresh random password for any that is missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as handle:
        entries = dict(line.split("=", 1) for line in handle.read().splitlines() if "=" in line)
        for name in SECRETS:
            key = f"{name.upper()}_PASSWORD"
            if key not in entries:
                entries[key] = secrets.token_urlsafe(18)
                handle.write(f"{key}={entries[key]}\n")
    path.chmod(0o600)
    return {name: entries[f"{name.upper()}_PASSWORD"] for name in SECRETS}


def ensure_service_setting(config: Path, password: str) -> None:
    """Give the services their service-account password through the settings file (mode 600)."""
    text = config.read_text() if config.exists() else ""
    if any(line.split("=", 1)[0].strip() == "service_password" for line in text.splitlines()):
        return
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        handle.write(("\n" if text and not text.endswith("\n") else "") + f'service_password = "{password}"\n')
    config.chmod(0o600)


def set_hosts(config: Path, hosts: int) -> None:
    """Remember ``make up HOSTS=N`` in the settings file, so a later plain ``make up`` runs the same hosts. Several
    hosts are host machines (each its own namespaces and libvirtd, ``manage.host_machine``) unless the file says
    ``host_machines = false``."""
    if hosts < 1:
        raise SystemExit(f"HOSTS must be at least 1, not {hosts}")
    lines = config.read_text().splitlines() if config.exists() else []
    kept = [line for line in lines if line.split("=", 1)[0].strip() != "hosts"]
    if hosts > 1 and not any(line.split("=", 1)[0].strip() == "host_machines" for line in kept):
        kept.append("host_machines = true")
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join([*kept, f"hosts = {hosts}"]) + "\n")


VOLUMES = {"file": "file", "ceph": "file,rbd"}
"""``make up VOLUMES=...`` -> the volume backends the cloud runs (the file backend stays with Ceph)."""


def set_volumes(config: Path, volumes: str) -> None:
    """Remember ``make up VOLUMES=ceph|file`` in the settings file (``volume_backends``), so a later plain ``make up``
    runs the same backends; with Ceph, also the uuid of the libvirt secret holding the cephx key on the hosts
    (``ceph_secret_uuid``), made once and kept, new images stored in Ceph (``image_store = "rbd"``) and root disks
    made there (``images_type = "rbd"``), so that a volume or a server from a raw image is a clone, and backups kept
    in Ceph's ``backups`` pool (``backup_store = "rbd"``). ``VOLUMES=file`` leaves those three as they are: images,
    root disks and backups already in Ceph stay there (and Ceph keeps running for them, see ``local_ceph``)."""
    if volumes not in VOLUMES:
        raise SystemExit(f"VOLUMES must be one of {', '.join(VOLUMES)}, not {volumes!r}")
    lines = config.read_text().splitlines() if config.exists() else []
    keys = {line.split("=", 1)[0].strip(): line for line in lines if "=" in line}
    in_ceph = {"volume_backends", "image_store", "images_type", "backup_store"}
    replaced = in_ceph if volumes == "ceph" else {"volume_backends"}
    kept = [line for line in lines if line.split("=", 1)[0].strip() not in replaced]
    kept.append(f'volume_backends = "{VOLUMES[volumes]}"')
    if volumes == "ceph":
        kept += ['image_store = "rbd"', 'images_type = "rbd"', 'backup_store = "rbd"']
    if volumes == "ceph" and "ceph_secret_uuid" not in keys:
        kept.append(f'ceph_secret_uuid = "{uuid.uuid4()}"')
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(kept) + "\n")


HA_SETTINGS = {"control_copies": "2", "api_copies": "3"}
"""What ``make up HA=1`` runs more than one of on this machine (besides the broker's Sentinel shape and the
PostgreSQL pair): two copies of each control worker, three API processes behind HAProxy."""


def set_ha(config: Path, settings: Settings, on: bool) -> None:
    """Remember ``make up HA=1`` (or ``HA=0``) in the settings file, so a later plain ``make up`` keeps the shape.

    HA=1: several copies of the control services (``HA_SETTINGS``), the broker as a Redis primary, two replicas and
    three Sentinels (``manage.redis_ha``), and the database on a PostgreSQL primary with a streaming standby
    (``manage.postgres_ha``, made and started here); a cloud that ran on its SQLite file before has its records
    moved there (``manage.database_move``). HA=0: one copy of each service and the one Redis again; the database
    stays on the pair (its records live there now). A running cloud whose shape changes is stopped first: the
    new shape's processes take the old ones' ports."""
    from manage import database_move, postgres_ha, redis_ha

    lines = config.read_text().splitlines() if config.exists() else []
    keys = {line.split("=", 1)[0].strip(): line.split("=", 1)[1].strip() for line in lines if "=" in line}
    shaped = {*HA_SETTINGS, "broker_sentinels"}
    wanted = {**HA_SETTINGS, "broker_sentinels": f'"{redis_ha.environment()["STRATUS_BROKER_SENTINELS"]}"'}
    if {key: keys[key] for key in shaped if key in keys} != (wanted if on else {}):
        manage("services", "down")
    kept = [line for line in lines if line.split("=", 1)[0].strip() not in shaped]
    if on:
        pair = postgres_ha.ensure_pair((settings.state_path / postgres_ha.PAIR_DIR).resolve())
        sqlite_file = settings.state_path / "stratus.db"
        if not settings.database_url and sqlite_file.exists():
            copied = database_move.move(settings, sqlite_file, pair.url())
            print(f"moved {sum(copied.values())} records of {len(copied)} tables from {sqlite_file} to PostgreSQL")
        kept = [line for line in kept if line.split("=", 1)[0].strip() != "database_url"]
        kept += [f"database_url = {json.dumps(pair.url())}", *(f"{key} = {value}" for key, value in wanted.items())]
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(kept) + "\n")


def manage(*command: str, env: dict[str, str] | None = None) -> None:
    """``stratus-manage COMMAND`` of this state directory, its output shown."""
    subprocess.run([str(Path(sys.executable).with_name("stratus-manage")), *command], check=True, env=env)


def local_ceph(settings: Settings) -> bool:
    """Whether ``make up`` runs the single-node Ceph of ``deploy/ceph/``: the rbd volume backend, the rbd image
    store, root disks or backups in Ceph are on, and no ``ceph_conf`` points at a cluster of its own."""
    volumes_in_ceph = "rbd" in [name.strip() for name in settings.volume_backends.split(",")]
    in_ceph = volumes_in_ceph or "rbd" in (settings.image_store, settings.images_type, settings.backup_store)
    return in_ceph and not settings.ceph_conf


def ceph_address(settings: Settings) -> str:
    """The address the single-node Ceph binds: the machine's loopback, or with host machines the control node's
    underlay address (made here when missing), which is all of the control node a host machine reaches."""
    if not host_machine.enabled(settings):
        return "127.0.0.1"
    host_machine.ensure_control_address(settings)
    return host_machine.control_address(settings)


def run_bootstrap(passwords: dict[str, str]) -> None:
    """Passwords go through the environment, not the command line, where ``ps`` would show them."""
    env = os.environ | {
        "STRATUS_ADMIN_PASSWORD": passwords["admin"],
        "STRATUS_DEMO_PASSWORD": passwords["demo"],
        "STRATUS_SERVICE_PASSWORD": passwords["service"],
    }
    manage("bootstrap", env=env)


def ensure_public_image(auth_url: str, admin_password: str, name: str, path: Path) -> str:
    """Upload ``path`` as the public qcow2 image ``name`` unless an active one with the same data exists."""
    auth = v3.Password(
        auth_url=auth_url,
        username="admin",
        password=admin_password,
        project_name="admin",
        user_domain_id="default",
        project_domain_id="default",
    )
    session = ks_session.Session(auth=auth)
    images_url = session.get_endpoint(service_type="image", interface="public").rstrip("/") + "/v2/images"
    md5 = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            md5.update(chunk)
    existing = session.get(images_url, params={"name": name, "visibility": "public"}).json()["images"]
    if any(i["status"] == "active" and i["checksum"] == md5.hexdigest() for i in existing):
        return f"image {name} is up to date"
    body = {
        "name": name,
        "disk_format": "qcow2",
        "container_format": "bare",
        "visibility": "public",
        "min_disk": 1,
        "hw_qemu_guest_agent": "no",
        "os_distro": "stratus-tiny",
    }
    image = session.post(images_url, json=body).json()
    with path.open("rb") as handle:
        session.put(
            f"{images_url}/{image['id']}/file", data=handle, headers={"Content-Type": "application/octet-stream"}
        )
    for old in existing:
        if not old.get("protected"):
            session.delete(f"{images_url}/{old['id']}")
    return f"uploaded {path} as public image {name} ({image['id']})"


def ensure_demo_network(auth_url: str, demo_password: str) -> str:
    """The demo project's ``demo-net`` (10.0.0.0/24, DHCP), so ``server create --network demo-net`` works at once."""
    auth = v3.Password(
        auth_url=auth_url,
        username="demo",
        password=demo_password,
        project_name="demo",
        user_domain_id="default",
        project_domain_id="default",
    )
    session = ks_session.Session(auth=auth)
    url = session.get_endpoint(service_type="network", interface="public").rstrip("/") + "/v2.0"
    if session.get(f"{url}/networks", params={"name": "demo-net"}).json()["networks"]:
        return "network demo-net exists"
    network = session.post(f"{url}/networks", json={"network": {"name": "demo-net"}}).json()["network"]
    subnet = {"name": "demo-subnet", "network_id": network["id"], "ip_version": 4, "cidr": "10.0.0.0/24"}
    session.post(f"{url}/subnets", json={"subnet": subnet})
    return f"created network demo-net ({network['id']}) with subnet 10.0.0.0/24"


def _session(auth_url: str, user: str, password: str) -> ks_session.Session:
    auth = v3.Password(
        auth_url=auth_url,
        username=user,
        password=password,
        project_name=user,
        user_domain_id="default",
        project_domain_id="default",
    )
    return ks_session.Session(auth=auth)


def public_subnet(settings: Settings) -> dict[str, object]:
    """``public-subnet``: ``network_external_cidr`` with the machine's own address on the bridge as its gateway
    (the API's default pools then run from the first address upward around it), no DHCP: routers' gateways and
    floating IPs get their addresses from the API, never by asking."""
    subnet: dict[str, object] = {
        "name": "public-subnet",
        "ip_version": 4,
        "cidr": str(ipaddress.ip_network(settings.network_external_cidr)),
        "enable_dhcp": False,
    }
    if settings.network_external_host_address:
        subnet["gateway_ip"] = str(ipaddress.ip_interface(settings.network_external_host_address).ip)
    return subnet


def ensure_public_network(auth_url: str, admin_password: str, settings: Settings) -> str:
    """The admin project's external network ``public``: flat on physical network ``public``, not shared (every
    project sees an external network and may take floating IPs from it), with ``public-subnet``. Finishes a run
    that stopped between the network and its subnet."""
    session = _session(auth_url, "admin", admin_password)
    url = session.get_endpoint(service_type="network", interface="public").rstrip("/") + "/v2.0"
    found = session.get(f"{url}/networks", params={"name": "public"}).json()["networks"]
    if found:
        network = found[0]
    else:
        body = {
            "name": "public",
            "router:external": True,
            "shared": False,
            "provider:network_type": "flat",
            "provider:physical_network": "public",
        }
        network = session.post(f"{url}/networks", json={"network": body}).json()["network"]
    if network["subnets"]:
        return f"network public exists ({network['id']})"
    subnet = {**public_subnet(settings), "network_id": network["id"]}
    session.post(f"{url}/subnets", json={"subnet": subnet})
    return f"created external network public ({network['id']}) with subnet {subnet['cidr']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clouds-yaml", type=Path, default=Path("clouds.yaml"), help="Where to write it.")
    parser.add_argument("--tiny-image", type=Path, help="A built tiny image to upload as the public image 'tiny'.")
    parser.add_argument("--prepare", action="store_true", help="Only make the passwords and the settings file.")
    parser.add_argument("--hosts", type=int, help="With --prepare: how many hosts this machine runs from now on.")
    parser.add_argument("--volumes", choices=sorted(VOLUMES), help="With --prepare: the volume backends from now on.")
    parser.add_argument("--ha", choices=("0", "1"), help="With --prepare: the highly available shape (1) or not (0).")
    parser.add_argument(
        "--local-ceph", action="store_true", help="Print the state directory when the single-node Ceph should run."
    )
    parser.add_argument("--ceph-address", action="store_true", help="Print the address the single-node Ceph binds.")
    args = parser.parse_args()
    settings = load()
    if args.local_ceph:
        if local_ceph(settings):
            print(settings.state_path)
        return
    if args.ceph_address:
        print(ceph_address(settings))
        return
    passwords = ensure_passwords(settings.state_path / "passwords")
    if args.prepare:
        ensure_service_setting(settings.state_path / "stratus.toml", passwords["service"])
        if args.hosts is not None:
            set_hosts(settings.state_path / "stratus.toml", args.hosts)
        if args.volumes is not None:
            set_volumes(settings.state_path / "stratus.toml", args.volumes)
        if args.ha is not None:
            set_ha(settings.state_path / "stratus.toml", settings, args.ha == "1")
        return
    run_bootstrap(passwords)
    accounts = {cloud: (user, passwords[user]) for cloud, user in ACCOUNTS.items()}
    write_clouds_yaml(args.clouds_yaml, f"{settings.effective_public_url}/identity/v3", settings.region, accounts)
    print(f"wrote {args.clouds_yaml}: clouds {', '.join(ACCOUNTS)}")
    print(ensure_demo_network(f"{settings.effective_public_url}/identity/v3", passwords["demo"]))
    print(ensure_public_network(f"{settings.effective_public_url}/identity/v3", passwords["admin"], settings))
    if args.tiny_image:
        auth_url = f"{settings.effective_public_url}/identity/v3"
        print(ensure_public_image(auth_url, passwords["admin"], "tiny", args.tiny_image))


if __name__ == "__main__":
    main()
