"""Every Stratus setting, declared once, with its help text and a default that works on one machine.

Values come from three layers, later ones winning: the defaults below, a TOML file (the path in
``STRATUS_CONFIG``, else ``<state_dir>/stratus.toml`` when it exists), and ``STRATUS_<NAME>`` environment
variables. Nothing else in the code base reads ``os.environ`` for configuration.

Two types, because two kinds of process read them. Host agents (``stratus-compute``, ``stratus-netagent``) load
:class:`HostSettings` with :func:`load_host`: it has no database field at all, and the database keys of a file or
environment it reads are dropped, so a host process never holds the database's address or credentials (DESIGN §1:
a compromised host cannot reach other tenants' records). The API and the control-side workers load
:class:`Settings` with :func:`load`: the host's settings plus the database.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from common.exceptions import ConfigError


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class HostSettings:
    """What every process may know, host agents included: no database field, by design (see the module's text)."""

    state_dir: str = _setting(
        ".stratus", "Directory for the database, keys, logs and pid files; relative paths are made absolute."
    )
    broker_url: str = _setting(
        "redis://127.0.0.1:6379/0",
        "Celery broker (Redis) URL. Another machine uses rediss://<control>:<broker_tls_port>/0 (TLS, checked "
        "against broker_ca_file). A password in the URL wins over broker_password_file (unless broker_user is set).",
    )
    broker_password_file: str = _setting(
        "",
        "File holding the broker's password (mode 600; made by `services up`). Empty: <state_dir>/broker-password, "
        "or with broker_user <queue_keys_dir>/hosts/<host>.broker-password (a host's own, beside its key file).",
    )
    broker_user: str = _setting(
        "",
        "Redis ACL user this process connects as, with the password in broker_password_file. Empty: Redis's "
        "default user (the control side). The launcher gives each host agent its own user, host-<host> "
        "(manage.broker_acl says what it may touch); `services host-keys` writes its password for another machine.",
    )
    broker_tls_port: int = _setting(
        6380, "TLS port the private Redis also listens on, for hosts on other machines (0: no TLS listener)."
    )
    broker_bind: str = _setting(
        "127.0.0.1",
        "Space-separated addresses the private Redis listens on (both ports). Add this node's address for hosts on "
        "other machines to reach its TLS port; the plain port answers there too (with the password).",
    )
    broker_ca_file: str = _setting(
        "", "CA certificate a rediss:// broker's certificate must chain to. Empty: <state_dir>/broker-tls/ca.pem."
    )
    broker_sentinels: str = _setting(
        "",
        "Space-separated address:port of the Redis Sentinels that watch the broker (the highly available shape, "
        "manage.redis_ha). Empty: the one Redis of broker_url. Set: every client asks the Sentinels which node is "
        "the primary, and broker_url gives only the credentials, the database and the first primary's port.",
    )
    broker_master_name: str = _setting("stratus", "Name the Sentinels (broker_sentinels) know the broker's primary by.")
    queue_keys_dir: str = _setting(
        "",
        "Keys that sign task messages: master.key on the control node (every key derives from it), "
        "hosts/<host>.keys on a host (its own only). Empty: <state_dir>/queue-keys.",
    )
    queue_message_max_age: float = _setting(
        7200.0,
        "Seconds after which a task message is refused as a replay. Longer than the broker's redelivery "
        "timeout (3600 s), so a message redelivered after a worker died still runs.",
    )
    api_host: str = _setting("127.0.0.1", "Address the API binds to. Loopback unless you mean to expose it.")
    api_port: int = _setting(8000, "TCP port of the one API server (all APIs and the portal).")
    api_workers: int = _setting(4, "gunicorn worker processes for the API.")
    api_threads: int = _setting(4, "Threads per API worker; password hashing releases the GIL.")
    public_url: str = _setting("", "Base URL clients use, written into the catalog. Empty: http://api_host:api_port.")
    region: str = _setting("RegionOne", "Region name in the service catalog.")
    token_expiration: int = _setting(3600, "Lifetime of a token in seconds.")
    fernet_key_repository: str = _setting("", "Directory of Fernet keys. Empty: <state_dir>/fernet-keys.")
    fernet_max_active_keys: int = _setting(3, "Keys kept by rotation: one staged, one primary, the rest secondary.")
    credential_key_repository: str = _setting(
        "",
        "Directory of the Fernet keys that encrypt stored credential blobs (Keystone's credential keys), apart from "
        "the token keys: `stratus-manage credential-rotate` re-encrypts every blob as it rotates them. Empty: "
        "<state_dir>/credential-keys.",
    )
    password_hash_rounds: int = _setting(12, "bcrypt cost factor for stored passwords (2^rounds iterations).")
    lockout_failure_attempts: int = _setting(
        6,
        "Failed password sign-ins within lockout_duration after which a user name is locked for lockout_duration "
        "(Keystone's [security_compliance] setting; an unknown name locks alike). 0: never lock. The cloud's "
        "service account is exempt, as Keystone's ignore_lockout_failure_attempts allows.",
    )
    lockout_duration: int = _setting(1800, "Seconds a locked user stays locked, and the period failures count in.")
    lockout_address_failure_attempts: int = _setting(
        30,
        "Failed password sign-ins from one client address within lockout_address_period after which every "
        "password sign-in from it gets 429 until lockout_address_period has passed. 0: no per-address limit.",
    )
    lockout_address_period: int = _setting(300, "Seconds of the per-address sign-in failure count and block.")
    max_request_body_bytes: int = _setting(1 << 20, "Largest JSON body accepted by the API.")
    image_store: str = _setting(
        "filesystem",
        "Where new image data goes: 'filesystem' (image_store_dir) or 'rbd' (Ceph, image_rbd_pool, as ceph_user: a "
        "volume from a raw image is then a copy-on-write clone). Images already stored elsewhere stay readable.",
    )
    image_store_dir: str = _setting(
        "", "Directory of the filesystem image store (and local staging of the rbd one). Empty: <state_dir>/images."
    )
    image_rbd_pool: str = _setting("images", "Ceph pool of the 'rbd' image store (Glance's rbd_store_pool).")
    image_size_cap: int = _setting(1 << 40, "Largest image accepted, in bytes (uploads beyond it get 413).")
    image_quota_count: int = _setting(-1, "Default limit of images per project; -1 means unlimited.")
    image_quota_bytes: int = _setting(-1, "Default limit of image bytes stored per project; -1 means unlimited.")
    image_import_target_format: str = _setting(
        "", "disk_format that interoperable imports convert to (qcow2, raw or vmdk). Empty: keep the format."
    )
    image_chunk_size: int = _setting(
        4 << 20,
        "Bytes read or written at a time when streaming image data; an upload holds two such buffers (one being "
        "received while the other is hashed and written).",
    )
    image_import_allowed_sources: str = _setting(
        "",
        "Web sources Glance's import tasks (POST /v2/tasks) may fetch image data from, comma-separated, each "
        "http(s)://host[:port] (e.g. 'https://cloud-images.example.org'). Any other scheme, host or port, and a "
        "redirect to one, ends the task in failure before anything is fetched from it: a tenant cannot make the "
        "image service fetch arbitrary URLs. Empty: no source, every import task fails.",
    )
    image_task_time_to_live: int = _setting(
        48, "Hours a finished image task (/v2/tasks) is kept before the image service removes it (Glance's)."
    )
    scheduler_strategy: str = _setting(
        "spread", "How the scheduler weighs hosts: 'spread' (most free first) or 'pack'."
    )
    scheduler_host_state_ttl: float = _setting(
        2.0, "Seconds the scheduler reuses its picture of the hosts between placement decisions (0: read every time)."
    )
    compute_fake_hosts: int = _setting(
        0, "With the fake driver, how many fake hosts one agent process serves (named <host>-1..N). 0: just <host>."
    )
    compute_fake_delay: float = _setting(0.0, "Seconds each fake-driver operation takes (to mimic a real hypervisor).")
    compute_fake_failing_hosts: str = _setting(
        "", "Comma-separated fake host names whose spawns always fail (to exercise rescheduling)."
    )
    compute_fake_failing_moves: str = _setting(
        "",
        "Comma-separated HOST:STEP pairs: the fake host HOST fails that step of a cold move "
        "(migrate_disk_and_power_off, finish_migration, confirm_migration, finish_revert_migration, destroy_moved), "
        "to exercise the roll-back.",
    )
    compute_report_interval: float = _setting(
        10.0,
        "Seconds between a host agent's looks at its capacity and its guests' power states: a report is sent when "
        "they changed since the last one sent, and at least every compute_full_report_interval.",
    )
    compute_full_report_interval: float = _setting(
        300.0,
        "Seconds after which a host reports even when nothing changed (the control side's drift: a server deleted "
        "while the host was cut off, a report lost with a broker). 0: a report every compute_report_interval.",
    )
    cpu_allocation_ratio: float = _setting(
        4.0, "vCPUs the scheduler places on this host per physical CPU (Nova's); reported with the host's capacity."
    )
    ram_allocation_ratio: float = _setting(1.0, "Memory the scheduler places per MiB of this host's RAM (Nova's).")
    disk_allocation_ratio: float = _setting(1.0, "Disk the scheduler places per GiB of this host's disk (Nova's).")
    host_heartbeat_interval: float = _setting(
        3.0, "Seconds between the liveness heartbeats of host agents (compute and network), sent beside their work."
    )
    compute_host_down_after: float = _setting(
        15.0,
        "Seconds without a heartbeat after which a host is down: nothing is scheduled to it, builds on it go to "
        "another host, its DHCP servers move to a live host, its servers show host_status DOWN. At least three "
        "host_heartbeat_interval.",
    )
    compute_build_take_timeout: float = _setting(
        8.0,
        "Seconds a host has to acknowledge a build sent to it (its agent received the spawn) before the build is "
        "scheduled again on another host; the late host is told to drop it. A move's step (an evacuation's spawn, a "
        "cold move's steps, a live migration's preparation) not acknowledged within it is sent again, three times "
        "in all, and then its move is given up.",
    )
    compute_sweep_interval: float = _setting(60.0, "Seconds between runs of the scheduler's stuck-task sweeper.")
    compute_task_timeout: float = _setting(1800.0, "Seconds after which a server task in flight is given up.")
    allow_resize_to_same_host: bool = _setting(
        True,
        "Nova's setting: a resize may stay on the server's own host when no other host has room (a one-machine "
        "cloud must still resize). A cold migration never stays.",
    )
    compute_resend_after: float = _setting(120.0, "Seconds after which a build still waiting for placement is resent.")
    reclaim_instance_interval: float = _setting(
        0.0,
        "Nova's setting: seconds a deleted server stays SOFT_DELETED (powered off, resources kept, 'restore' brings "
        "it back) before it is reclaimed. 0: deletes are immediate.",
    )
    shelved_offload_time: float = _setting(
        0.0,
        "Nova's setting: seconds a shelved server keeps its host before it is offloaded. 0: at once; -1: never.",
    )
    enable_instance_password: bool = _setting(
        True,
        "Nova's [api] enable_instance_password: whether rescue answers the server's admin password (adminPass).",
    )
    shelved_poll_interval: float = _setting(
        60.0, "Seconds between the scheduler's checks for shelved servers to offload and soft deletes to reclaim."
    )
    service_password: str = _setting(
        "", "Password of the 'stratus-service' user that host agents use to fetch and upload images."
    )
    compute_driver: str = _setting("libvirt", "Hypervisor driver of compute host agents: 'libvirt' or 'fake'.")
    libvirt_uri: str = _setting("qemu:///system", "libvirt connection URI of the compute host agent.")
    libvirt_pki_dir: str = _setting(
        "/etc/pki/libvirt",
        "This host's libvirt TLS files (cacert.pem, servercert.pem, serverkey.pem, clientcert.pem, clientkey.pem), "
        "written by `stratus-manage host setup`: its libvirtd's, and the client's a migration dials another host's "
        "libvirtd with (qemu+tls://<its underlay address>/system?pkipath=<this directory>).",
    )
    console_listen: str = _setting(
        "127.0.0.1",
        "Address the guests' serial consoles listen on (raw TCP), where the console proxy connects: the loopback when "
        "the proxy runs on the hosts' machine, else the host's address the control node reaches (its underlay's).",
    )
    libvirt_virt_type: str = _setting(
        "", "Domain type: 'kvm' or 'qemu'. Empty: probe (kvm only where the CPU advertises vmx/svm and /dev/kvm works)."
    )
    live_migration_with_native_tls: bool = _setting(
        True,
        "Nova's [libvirt] live_migration_with_native_tls: a live migration's QEMU streams (the guest's memory and the "
        "NBD copy of its local disks) go encrypted between the hosts, with QEMU's own TLS and the files in "
        "qemu_tls_dir on both hosts (VIR_MIGRATE_TLS). A host missing them refuses the migration; it never falls back "
        "to plain text. On by default: `stratus-manage host setup` and host machines install the files. False: the "
        "streams go in clear on the underlay (libvirt's own connection stays TLS).",
    )
    qemu_tls_dir: str = _setting(
        "/etc/pki/qemu",
        "This host's QEMU TLS files for migration streams (ca-cert.pem, server-cert.pem, server-key.pem, "
        "client-cert.pem, client-key.pem), where qemu.conf's migrate_tls_x509_cert_dir points: written by "
        "`stratus-manage host setup`, and checked before a live migration with live_migration_with_native_tls.",
    )
    libvirt_migration_uri: str = _setting(
        "qemu+tls://{address}/system",
        "How a host's libvirtd (and its agent) reaches another host's to move a guest there, {address} standing for "
        "the target's underlay address: TLS with the hosts' certificates. qemu+tcp (no authentication) only on a "
        "machine's private test underlay.",
    )
    instances_path: str = _setting(
        "", "Where instance disks, config drives and console logs live. Empty: <state_dir>/instances."
    )
    image_cache_path: str = _setting("", "Per-host cache of base images. Empty: <state_dir>/image-cache.")
    images_type: str = _setting(
        "qcow2",
        "Instance root disks (Nova's images_type): 'qcow2' overlays on the host's image cache, or 'rbd': RBD images "
        "in images_rbd_pool of the Ceph cluster, clones of the image's snapshot when the image is raw and stored in "
        "Ceph (image_store 'rbd'; other images still get a qcow2 overlay).",
    )
    images_rbd_pool: str = _setting("vms", "Ceph pool of instance root disks when images_type is 'rbd'.")
    volume_dir: str = _setting(
        "",
        "Directory of the file volume backend; hosts attach only volume files below it. Empty: <state_dir>/volumes.",
    )
    ceph_conf: str = _setting(
        "",
        "ceph.conf of the Ceph cluster volumes (backend 'rbd') and images (image_store 'rbd') live in. "
        "Empty: <state_dir>/ceph/ceph.conf.",
    )
    ceph_user: str = _setting(
        "stratus", "Ceph (cephx) user the volume service, the image store and the hosts' QEMU use."
    )
    ceph_keyring: str = _setting(
        "", "Keyring file of ceph_user. Empty: <state_dir>/ceph/ceph.client.<ceph_user>.keyring."
    )
    ceph_secret_uuid: str = _setting(
        "", "UUID of the libvirt secret that holds ceph_user's key on every host (Nova's rbd_secret_uuid)."
    )
    network_dataplane: str = _setting("linux", "Network dataplane driver of network host agents: 'linux' or 'fake'.")
    network_namespace: str = _setting(
        "", "Network namespace the host agent works in, standing for a separate host. Empty: the root namespace."
    )
    network_underlay_ip: str = _setting(
        "", "This host's VXLAN endpoint address. Empty: the address of the interface of the default route."
    )
    network_underlay_prefix: int = _setting(24, "Prefix length of network_underlay_ip (set on a namespaced host).")
    network_underlay_bridge: str = _setting(
        "stratus-ul", "Root-namespace bridge that namespaced hosts share as their underlay wire."
    )
    network_underlay_device: str = _setting(
        "", "Interface VXLAN devices are bound to on a real host. Empty: routed by network_underlay_ip."
    )
    network_underlay_mtu: int = _setting(1500, "MTU of the underlay; tenant networks get 50 bytes less (VXLAN).")
    network_dhcp_lease_time: int = _setting(86400, "DHCP lease time in seconds, given to dnsmasq.")
    network_resync_interval: float = _setting(
        30.0,
        "Seconds between a network agent's looks at its host: it applies the state in effect again (which repairs "
        "drift, such as a bridge deleted by hand), and at least every network_full_resync_interval asks the control "
        "side for the whole state instead.",
    )
    network_full_resync_interval: float = _setting(
        300.0,
        "Seconds after which a network agent asks the control side for its host's whole state again (a state lost "
        "with a broker). 0: at every network_resync_interval.",
    )
    network_simulated_underlay: str = _setting(
        "198.18.0.0/24",
        "With several hosts on one machine (hosts > 1): the underlay they share; host i gets address .(10+i).",
    )
    network_vni_min: int = _setting(1001, "Lowest VXLAN VNI given to tenant networks (admins may pick any 1..2^24-1).")
    network_vni_max: int = _setting(16000000, "Highest VXLAN VNI given to tenant networks.")
    network_physical_bridges: str = _setting(
        "public:stratus-ex",
        "Flat (external) physical networks of this host and the root-namespace bridge each one is, as "
        "'physnet:bridge[,physnet:bridge...]'. The agent creates a missing bridge; router gateways plug into it.",
    )
    network_external_cidr: str = _setting(
        "172.24.4.0/24", "Subnet of the external network `public` that `make up` creates (DevStack's range)."
    )
    network_external_host_address: str = _setting(
        "172.24.4.1/24",
        "The machine's own address on the bridge of physical network 'public' (the external subnet's gateway), so "
        "floating IPs are reachable from the machine. Empty: the bridge gets no address. Nothing is NATed beyond it.",
    )
    metadata_proxy_shared_secret: str = _setting(
        "",
        "Secret the metadata proxies on the hosts sign a guest's identity with and the metadata API checks. Empty: "
        "read from <state_dir>/metadata-secret (made by `make up`).",
    )
    metadata_url: str = _setting(
        "", "Where the hosts' metadata proxies send guests' requests. Empty: <public_url>/metadata."
    )
    host: str = _setting("", "Name of this host for host agents and their queues. Empty: the hostname.")
    hosts: int = _setting(
        1,
        "How many hosts this machine runs (`make up HOSTS=N`): each gets its own compute and network agent. With "
        "more than one, host i is named <host>-i and keeps its instances under <state_dir>/hosts/<host>-i/.",
    )
    api_copies: int = _setting(
        1,
        "How many API processes this machine runs. 1: the one process on api_host:api_port. More: that many, each "
        "on its own loopback address and api_backend_port, behind HAProxy on api_host:api_port (manage.api_proxy; "
        "`make up HA=1` runs three).",
    )
    control_copies: int = _setting(
        1,
        "How many copies of each control worker (scheduler, network, image, volume) this machine runs, all taking "
        "from the same queues (`make up HA=1` runs two): one may die and the cloud goes on. Each periodic job runs "
        "once per interval whichever copy's clock sends it (common.periodic).",
    )
    host_machines: bool = _setting(
        False,
        "With hosts > 1 and the libvirt driver: each host is a host machine (manage.host_machine) with its own "
        "namespaces and its own libvirtd, reached by its agent over its socket and by the other hosts' libvirtds "
        "over TLS on the underlay (live migration). False: the hosts share the machine's libvirtd.",
    )
    portal_idle_timeout: int = _setting(
        1800, "Seconds without a user action after which a portal session ends (its token is revoked)."
    )
    log_level: str = _setting("INFO", "Log level of every Stratus process.")

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)

    @property
    def effective_broker_url(self) -> str:
        """The broker URL with the password from broker_password_file added when the URL has none; with
        broker_user, that user and its password from the file, whatever the URL held."""
        url = with_password(self.broker_url, self.effective_broker_password_file, self.broker_user)
        return sentinel_url(url, self.broker_sentinels) if self.broker_sentinels else url

    @property
    def effective_broker_password_file(self) -> Path:
        if self.broker_password_file:
            return Path(self.broker_password_file)
        if self.broker_user:  # a host's own password, beside its message key file
            return self.effective_queue_keys_dir / "hosts" / f"{self.effective_host}.broker-password"
        return self.state_path / "broker-password"

    @property
    def effective_broker_ca_file(self) -> Path:
        return Path(self.broker_ca_file) if self.broker_ca_file else self.state_path / "broker-tls" / "ca.pem"

    @property
    def effective_queue_keys_dir(self) -> Path:
        return Path(self.queue_keys_dir) if self.queue_keys_dir else self.state_path / "queue-keys"

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def effective_key_repository(self) -> Path:
        return Path(self.fernet_key_repository) if self.fernet_key_repository else self.state_path / "fernet-keys"

    @property
    def effective_credential_key_repository(self) -> Path:
        if self.credential_key_repository:
            return Path(self.credential_key_repository)
        return self.state_path / "credential-keys"

    @property
    def effective_host(self) -> str:
        return self.host or socket.gethostname()

    @property
    def effective_instances_path(self) -> Path:
        return Path(self.instances_path) if self.instances_path else self.state_path / "instances"

    @property
    def effective_image_cache_path(self) -> Path:
        return Path(self.image_cache_path) if self.image_cache_path else self.state_path / "image-cache"

    @property
    def effective_volume_dir(self) -> Path:
        return Path(self.volume_dir) if self.volume_dir else self.state_path / "volumes"

    @property
    def effective_ceph_conf(self) -> Path:
        return Path(self.ceph_conf) if self.ceph_conf else self.state_path / "ceph" / "ceph.conf"

    @property
    def effective_ceph_keyring(self) -> Path:
        if self.ceph_keyring:
            return Path(self.ceph_keyring)
        return self.state_path / "ceph" / f"ceph.client.{self.ceph_user}.keyring"

    @property
    def log_dir(self) -> Path:
        return self.state_path / "log"

    @property
    def run_dir(self) -> Path:
        return self.state_path / "run"

    def replace(self, **changes: Any) -> Self:
        return _normalise(dataclasses.replace(self, **changes))


@dataclass(frozen=True)
class Settings(HostSettings):
    """The settings of the API and the control-side workers: the host's, plus the database they alone reach."""

    database_url: str = _setting(
        "", "SQLAlchemy URL. Empty means SQLite (WAL) at <state_dir>/stratus.db; PostgreSQL by URL."
    )
    broker_replica_ports: str = _setting(
        "6381 6382",
        "With broker_sentinels: space-separated loopback ports of the Redis replicas `services up` starts beside the "
        "primary (broker_url's port). Two, so that one lost still leaves the primary a replica to write to.",
    )
    broker_down_after: float = _setting(
        5.0, "With broker_sentinels: seconds the primary may not answer before the Sentinels fail it over."
    )
    api_trusted_proxies: str = _setting(
        "",
        "Space-separated addresses or networks of the load balancers (HAProxy) in front of the API: from them alone "
        "the last X-Forwarded-For address is taken as the client's (sign-in limits per address). Empty: none.",
    )
    api_backend_port: int = _setting(
        8100,
        "Port of each API process behind HAProxy (manage.api_proxy), on its own address; HAProxy alone listens on "
        "api_host:api_port then.",
    )
    console_proxy_host: str = _setting("127.0.0.1", "Address the console proxy (websockets) listens on.")
    console_proxy_port: int = _setting(6083, "Port of the console proxy.")
    console_public_url: str = _setting(
        "", "Base URL clients reach the console proxy at. Empty: ws://<console_proxy_host>:<console_proxy_port>."
    )
    console_token_ttl: int = _setting(600, "Seconds a console URL's single-use token stays valid (Nova's default).")
    console_allowed_origins: str = _setting(
        "",
        "Comma-separated extra Origins allowed to open console websockets. The portal's and the proxy's own are always "
        "allowed.",
    )
    volume_backends: str = _setting(
        "file", "Volume backends the volume service runs, comma-separated: 'file' (qcow2 files), 'rbd' (Ceph)."
    )
    volume_default_type: str = _setting(
        "__DEFAULT__", "Volume type of a volume created without one (Cinder's default type's name)."
    )
    volume_rbd_pool: str = _setting("volumes", "Ceph pool of the 'rbd' volume backend.")
    backup_store: str = _setting(
        "directory",
        "Where volume backups go: 'directory' (backup_store_dir) or 'rbd' (Ceph, backup_rbd_pool, as ceph_user).",
    )
    backup_store_dir: str = _setting("", "Directory of the volume backup store. Empty: <state_dir>/backups.")
    backup_rbd_pool: str = _setting("backups", "Ceph pool of the 'rbd' backup store (Cinder's backup_ceph_pool).")
    # Keystone's [security_compliance] password policies, each off by default as in Keystone (identity.password_policy).
    # The cloud's service account is exempt from all of them; a user's options exempt that user from some.
    password_expires_days: int = _setting(
        0,
        "Days a password stays valid after it is set; then sign-in gets Keystone's 401 'The password is expired' "
        "until the user changes it (POST /v3/users/{id}/password with the old one). 0: passwords never expire. "
        "Holds from each password set after it is turned on. User option ignore_password_expiry exempts a user.",
    )
    unique_last_password_count: int = _setting(
        0,
        "How many of a user's last passwords (the current one included) a self-service change may not reuse "
        "(400). 0: no history check. An admin's reset is not held to it, as in Keystone.",
    )
    minimum_password_age: int = _setting(
        0,
        "Days a password the user set themself must be kept before they may change it again (400); an admin can "
        "always reset it, and a password an admin set may be changed at once. 0: no minimum.",
    )
    password_regex: str = _setting(
        "",
        "Regular expression every new password (user create, admin reset, self-service change) must match from its "
        "start (Python re.match, as Keystone), e.g. '^(?=.*\\d)(?=.*[a-zA-Z]).{7,}$'. Empty: any password.",
    )
    password_regex_description: str = _setting(
        "", "What password_regex asks for, in words: the message of the 400 a password that does not match gets."
    )
    change_password_upon_first_use: bool = _setting(
        False,
        "A password an admin set (user create, or reset by PATCH /v3/users/{id}) must be changed by the user "
        "before any token is issued (Keystone's 401 'The password is expired'). User option "
        "ignore_change_password_upon_first_use exempts a user.",
    )
    disable_user_account_days_inactive: int = _setting(
        0,
        "Days without a password sign-in after which a user is disabled at their next one (401; an admin "
        "re-enables with `openstack user set --enable`). Counted in whole days from the last sign-in, or from "
        "the user's creation. 0: never. User option ignore_user_inactivity exempts a user.",
    )

    # Evacuation and HA restart (compute.control.fencing, compute.control.ha): a host's guests are evacuated only
    # once the host is fenced, never on a missed heartbeat alone (a live host cut off would run a second copy).
    fence_command: str = _setting(
        "",
        "Operator's fencing command: an argv (split like a shell would, but never run by a shell) the scheduler runs "
        "with the down host's name and underlay address appended as two more arguments; exit status 0 means the "
        "host is fenced (powered off, or cut from its storage and network). Run for a down host with servers "
        "marked HA (metadata HA_Enabled=True) once ha_grace_period has passed. Empty: only an operator's "
        "forced_down (`openstack compute service set --down`) fences a host.",
    )
    fence_timeout: float = _setting(30.0, "Seconds the fence_command may run before it is killed (then: not fenced).")
    ha_grace_period: float = _setting(
        30.0,
        "Seconds a host must stay down (after compute_host_down_after) before its HA servers (metadata "
        "HA_Enabled=True) are evacuated, the host fenced first. Checked every host_heartbeat_interval.",
    )

    @property
    def effective_backup_store_dir(self) -> Path:
        return Path(self.backup_store_dir) if self.backup_store_dir else self.state_path / "backups"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_path / 'stratus.db'}"


CONTROL_ONLY = frozenset(f.name for f in dataclasses.fields(Settings)) - {
    f.name for f in dataclasses.fields(HostSettings)
}
"""Settings a host never loads: :func:`load_host` drops them from the file and the environment it reads (on one
machine, host agents share the control side's file)."""

AnySettings = TypeVar("AnySettings", bound=HostSettings)


def with_password(url: str, password_file: Path, user: str = "") -> str:
    """``url`` with the password in ``password_file`` when the URL names none and the file exists (a broker
    started by `services up` has one; an external broker may have none). With ``user`` (a host's own ACL user)
    the URL's credentials are replaced by that user and the file's password: a host never uses the default's."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return url
    if user:  # without its file, no password at all: Redis refuses it rather than it using another's
        password = quote(password_file.read_text().strip(), safe="") if password_file.is_file() else ""
        return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{password}@{parts.netloc.rpartition('@')[2]}"))
    if parts.password or not password_file.is_file():
        return url
    password = quote(password_file.read_text().strip(), safe="")
    user = quote(parts.username, safe="") if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc.rpartition('@')[2]}"))


MASTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def sentinel_addresses(sentinels: str) -> list[tuple[str, int]]:
    """``broker_sentinels`` as (address, port) pairs: IP literals and ports only, so each is safe to write into a
    config file and to dial."""
    pairs = []
    for item in sentinels.split():
        host, _, port = item.rpartition(":")
        try:
            address = str(ipaddress.ip_address(host.strip("[]")))
            number = int(port)
        except ValueError:
            raise ConfigError(setting="broker_sentinels", reason=f"{item!r} is not address:port") from None
        if not 0 < number < 65536:
            raise ConfigError(setting="broker_sentinels", reason=f"{item!r}: no such port")
        pairs.append((address, number))
    return pairs


def sentinel_url(url: str, sentinels: str) -> str:
    """kombu's and Celery's Sentinel URL: one ``sentinel://`` URL per Sentinel, joined by ``;``, each with the
    data nodes' credentials and database of ``url`` (kombu and Celery take them from the first; the Sentinels'
    own credentials go in the transport options, ``common.queue.sentinel_options``)."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    prefix = f"{credentials}@" if credentials else ""
    path = parts.path if parts.path not in ("", "/") else "/0"
    hosts = [(f"[{host}]" if ":" in host else host, port) for host, port in sentinel_addresses(sentinels)]
    return ";".join(f"sentinel://{prefix}{host}:{port}{path}" for host, port in hosts)


def _check_sentinels(settings: HostSettings) -> None:
    """Refuse a Sentinel shape that cannot work: bad addresses, an odd master name, or TLS (not spoken yet)."""
    if not settings.broker_sentinels:
        return
    if len(sentinel_addresses(settings.broker_sentinels)) < 1:
        raise ConfigError(setting="broker_sentinels", reason="names no Sentinel")
    if not MASTER_NAME.fullmatch(settings.broker_master_name):
        raise ConfigError(setting="broker_master_name", reason="letters, digits, '.', '_', '-' (64 at most)")
    if urlsplit(settings.broker_url).scheme != "redis":
        reason = "the Sentinel shape speaks plain redis:// on loopback only (TLS through Sentinel is not done yet)"
        raise ConfigError(setting="broker_url", reason=reason)


def describe() -> list[tuple[str, Any, str]]:
    """(name, default, help) of every setting, for `stratus-manage config` and the docs."""
    return [(f.name, f.default, f.metadata["help"]) for f in dataclasses.fields(Settings)]


_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def _coerce(name: str, kind: type, raw: Any) -> Any:
    if kind is bool:  # a TOML boolean, or an environment variable's true/false (1/0, yes/no, on/off)
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _BOOLEANS:
            return _BOOLEANS[raw.strip().lower()]
        raise ConfigError(setting=name, reason=f"expected true or false, got {raw!r}")
    if kind in (int, float):
        try:
            return kind(raw)
        except (TypeError, ValueError):
            expected = "an integer" if kind is int else "a number"
            raise ConfigError(setting=name, reason=f"expected {expected}, got {raw!r}") from None
    if not isinstance(raw, str):
        raise ConfigError(setting=name, reason=f"expected a string, got {raw!r}")
    return raw


DOWN_AFTER_HEARTBEATS = 3
"""A host is declared down only after this many heartbeat intervals: one late or lost heartbeat is not a failure."""


def _check_liveness(settings: HostSettings) -> None:
    """Refuse timings that would declare live hosts down (or hand builds back before a host could take them)."""
    if settings.host_heartbeat_interval <= 0:
        raise ConfigError(setting="host_heartbeat_interval", reason="must be a positive number of seconds")
    least = DOWN_AFTER_HEARTBEATS * settings.host_heartbeat_interval
    if settings.compute_host_down_after < least:
        reason = f"{settings.compute_host_down_after:g} s is under {DOWN_AFTER_HEARTBEATS} heartbeats ({least:g} s)"
        raise ConfigError(setting="compute_host_down_after", reason=reason)
    if settings.compute_build_take_timeout <= 0:
        raise ConfigError(setting="compute_build_take_timeout", reason="must be a positive number of seconds")


def _check_password_policy(settings: Settings) -> None:
    """Refuse a password policy that cannot work: a negative count, or a regex Python cannot compile (Keystone finds
    out at the first password and answers every one with an error; the operator should hear it at start)."""
    for name in (
        "password_expires_days",
        "unique_last_password_count",
        "minimum_password_age",
        "disable_user_account_days_inactive",
    ):
        if getattr(settings, name) < 0:
            raise ConfigError(setting=name, reason="must be 0 (off) or a positive number")
    if settings.password_regex:
        try:
            re.compile(settings.password_regex)
        except re.error as exc:
            raise ConfigError(setting="password_regex", reason=f"not a valid regular expression: {exc}") from None


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _normalise(settings: AnySettings) -> AnySettings:
    if settings.log_level.upper() not in LOG_LEVELS:
        raise ConfigError(setting="log_level", reason=f"{settings.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    _check_liveness(settings)
    _check_sentinels(settings)
    if isinstance(settings, Settings):
        _check_password_policy(settings)
    state_dir = str(Path(settings.state_dir).expanduser().resolve())
    return dataclasses.replace(settings, state_dir=state_dir) if state_dir != settings.state_dir else settings


def load(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """The settings of the API and the control side, from defaults, the TOML file and the environment (``environ``
    for tests)."""
    return _load(Settings, environ, overrides)


def load_host(environ: dict[str, str] | None = None, **overrides: Any) -> HostSettings:
    """The settings of a host agent, from the same layers, without the database: its keys (:data:`CONTROL_ONLY`)
    in the file or the environment are skipped, never kept."""
    return _load(HostSettings, environ, overrides)


def _load(kind: type[AnySettings], environ: dict[str, str] | None, overrides: dict[str, Any]) -> AnySettings:
    env = os.environ if environ is None else environ
    fields = {f.name: f for f in dataclasses.fields(kind)}
    kinds = {name: type(f.default) for name, f in fields.items()}
    values: dict[str, Any] = {}

    state_dir = env.get("STRATUS_STATE_DIR", overrides.get("state_dir", HostSettings.state_dir))
    config_path = env.get("STRATUS_CONFIG") or str(Path(state_dir) / "stratus.toml")
    path = Path(config_path)
    if env.get("STRATUS_CONFIG") and not path.is_file():
        raise ConfigError(setting="STRATUS_CONFIG", reason=f"no such file: {path}")
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(setting=str(path), reason=str(exc)) from None
        for key, raw in data.items():
            if key in CONTROL_ONLY and key not in fields:
                continue  # the machine's file, read by a host agent: the database is not its business
            if key not in fields:
                raise ConfigError(setting=key, reason=f"unknown setting in {path}")
            values[key] = _coerce(key, kinds[key], raw)

    for name in fields:
        raw = env.get(f"STRATUS_{name.upper()}")
        if raw is not None:
            values[name] = _coerce(name, kinds[name], raw)
    for name, raw in overrides.items():
        if name not in fields:
            raise ConfigError(setting=name, reason=f"not a setting of {kind.__name__}")
        values[name] = _coerce(name, kinds[name], raw)
    return _normalise(kind(**values))
