"""A simulated compute host that is a machine in all that matters: its own namespaces and its own libvirtd.

Why: hosts simulated by network namespaces alone share the machine's libvirtd, filesystem and loopback with the
control node, so nothing proves a guest can move from one host to another, nor that a host on another machine
could work. A host machine here has what a real one has (``MACHINE-NOTES.md`` says what was checked):

- a network namespace (``stratus-<name>``) whose only way out is its underlay veth into the machine's underlay
  bridge (``network.host.dataplane.linux.host`` makes it, as for any simulated host);
- a mount namespace in which ``/run/libvirt``, ``/var/lib/libvirt``, ``/var/log/libvirt``, ``/var/cache/libvirt``
  and ``/etc/libvirt`` are directories of its own below ``<root>``, sysfs is mounted again (libvirtd sees the
  namespace's interfaces, not the machine's) and so are the cgroup hierarchies (rooted at its own cgroup);
- a UTS namespace with its name as hostname, and a libvirtd with a ``host_uuid`` of its own (libvirt refuses to
  migrate between hosts with the same name or UUID);
- a cgroup namespace rooted at ``stratus-hosts/<name>`` in every hierarchy: each libvirtd puts its guests in its
  own ``/machine`` tree, and every process of the host is found by its cgroup (``stop`` kills them all).

The namespaces outlive their processes as bind mounts of their ``nsfs`` files in ``<root>/ns`` (a private mount),
so a process joins the host with ``nsenter`` (``argv``), after moving itself into the host's cgroups. Only
checked values reach a command line: a host name of hostname syntax, an IP address, paths of our own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common.exceptions import StratusError
from common.hostnames import machine_hosts
from common.settings import HostSettings, Settings
from manage import host_join, hypervisor_tls
from network.host.dataplane import physical_bridges
from network.host.dataplane.base import HostUnderlay
from network.host.dataplane.linux.host import SHARED_TAG, HostNamespace
from network.host.dataplane.linux.inspect import owner_tag
from network.host.dataplane.linux.links import Namespace, ensure_veth
from network.host.dataplane.linux.runner import Runner

CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids")
NAMED_HIERARCHIES = ("systemd",)
"""Named cgroup v1 hierarchies (``name=systemd``) mounted again inside, as libvirt looks for them."""
CGROUP_PARENT = "stratus-hosts"
NAMESPACES = ("mnt", "uts", "cgroup")
LIBVIRT_DIRS = {
    "run/libvirt": "/run/libvirt",
    "lib/libvirt": "/var/lib/libvirt",
    "log/libvirt": "/var/log/libvirt",
    "cache/libvirt": "/var/cache/libvirt",
    "etc/libvirt": "/etc/libvirt",
    "run/netns": "/run/netns",
}
"""Each host's own copy (below its root) of what libvirt keeps on a machine, bound over the machine's path, and its
own ``/run/netns``: the namespaces its network agent makes (DHCP servers, routers) are its own, gone with it."""
_HOSTNAME = re.compile(r"^(?=.{1,63}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class HostMachineError(StratusError):
    msg_fmt = "host machine {name}: {reason}"


@dataclass(frozen=True)
class HostMachine:
    """One simulated host: its name, its directory and its address on the underlay bridge."""

    name: str
    root: Path
    underlay_ip: str
    underlay_prefix: int = 24
    underlay_bridge: str = "stratus-ul"
    underlay_mtu: int = 1500
    physical_bridges: tuple[tuple[str, str], ...] = ()
    """The machine's flat physical networks (``physnet``, bridge): the host gets a bridge of the same name wired
    to the machine's, as a real host plugged into the same switch (its routers' gateways reach the network)."""
    external_host_address: str = ""
    """The machine's own address on the external network's bridge (made with it, in the root namespace)."""

    def __post_init__(self) -> None:
        if not _HOSTNAME.fullmatch(self.name):
            raise HostMachineError(name=self.name, reason="a host name is lower-case letters, digits and hyphens")
        ipaddress.ip_address(self.underlay_ip)  # ValueError for anything else
        if not 0 < int(self.underlay_prefix) <= 128:
            raise HostMachineError(name=self.name, reason=f"bad underlay prefix {self.underlay_prefix}")
        if not self.root.is_absolute():
            raise HostMachineError(name=self.name, reason="its root must be an absolute path")

    @property
    def netns(self) -> str:
        return f"stratus-{self.name}"

    @property
    def ns_dir(self) -> Path:
        return self.root / "ns"

    @property
    def libvirt_socket(self) -> Path:
        return self.root / "run" / "libvirt" / "libvirt-sock"

    @property
    def qemu_tls_dir(self) -> Path:
        """Its QEMU's TLS files for migration streams (its ``/etc/pki/qemu``; its qemu.conf points there)."""
        return self.root / "pki-qemu"

    @property
    def libvirt_uri(self) -> str:
        """Its libvirtd, reached from the machine's namespaces over the daemon's unix socket."""
        return f"qemu+unix:///system?socket={self.libvirt_socket}"

    def argv(self, command: Sequence[str]) -> list[str]:
        """``command`` run inside every namespace of the host (use with ``popen``/``run``, which also move the
        process into the host's cgroups first)."""
        ns = self.ns_dir
        return [
            "nsenter",
            f"--net=/run/netns/{self.netns}",
            f"--mount={ns / 'mnt'}",
            f"--uts={ns / 'uts'}",
            f"--cgroup={ns / 'cgroup'}",
            "--",
            *command,
        ]

    def cgroup_dirs(self) -> list[Path]:
        """The host's cgroup in each hierarchy, as the machine's namespaces see them."""
        return [hierarchy_dir(name) / CGROUP_PARENT / self.name for name in (*CONTROLLERS, *NAMED_HIERARCHIES)]

    def join_cgroups(self) -> None:
        """Move the calling process into the host's cgroups (a child's ``preexec_fn``, before ``nsenter``)."""
        pid = str(os.getpid())
        for directory in self.cgroup_dirs():
            (directory / "cgroup.procs").write_text(pid)

    def popen(self, command: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv(command), preexec_fn=self.join_cgroups, **kwargs)  # type: ignore[call-overload]

    def run(self, command: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(command), preexec_fn=self.join_cgroups, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip

    def pids(self) -> set[int]:
        """Every process of the host (its daemons, agents and guests), from its cgroups."""
        found: set[int] = set()
        for directory in self.cgroup_dirs():
            for procs in directory.rglob("cgroup.procs") if directory.exists() else ():
                found |= {int(line) for line in procs.read_text().split() if line.strip()}
        return found


RECORD = "machine.json"
"""What a host machine is, kept in its root when it starts, so that it can be found and fenced by its directory."""


def record(machine: HostMachine) -> None:
    data = {
        "name": machine.name,
        "underlay_ip": machine.underlay_ip,
        "underlay_prefix": machine.underlay_prefix,
        "underlay_bridge": machine.underlay_bridge,
        "underlay_mtu": machine.underlay_mtu,
    }
    (machine.root / RECORD).write_text(json.dumps(data))


def recorded(root: Path) -> HostMachine:
    """The host machine whose root is ``root`` (checked again as any other: a record is not trusted as syntax)."""
    data = json.loads((root / RECORD).read_text())
    return HostMachine(
        str(data["name"]),
        root,
        str(data["underlay_ip"]),
        underlay_prefix=int(data["underlay_prefix"]),
        underlay_bridge=str(data["underlay_bridge"]),
        underlay_mtu=int(data["underlay_mtu"]),
    )


def hierarchy_dir(name: str) -> Path:
    """Where this process's cgroup of hierarchy ``name`` is: the mount point plus our own path in it (the machine
    may run us in a cgroup of its own, e.g. ``memory:/process_api/<id>``)."""
    wanted = name if name in CONTROLLERS else f"name={name}"
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if wanted in controllers.split(","):
            own = path.split(f"/{CGROUP_PARENT}/", 1)[0].strip("/")
            return CGROUP_ROOT / name / own if own else CGROUP_ROOT / name
    raise HostMachineError(name="-", reason=f"this machine has no cgroup hierarchy {name}")


def _sh(argv: Sequence[str], check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise HostMachineError(name="-", reason=f"{' '.join(argv[:3])}: {result.stderr.strip() or result.stdout}")
    return result


def _is_mountpoint(path: Path) -> bool:
    return _sh(["mountpoint", "-q", str(path)], check=False).returncode == 0


def _make_cgroups(machine: HostMachine) -> None:
    for name in (*CONTROLLERS, *NAMED_HIERARCHIES):
        parent = hierarchy_dir(name) / CGROUP_PARENT
        own = parent / machine.name
        own.mkdir(parents=True, exist_ok=True)
        if name == "cpuset":  # a new cpuset has no CPUs nor memory nodes until given its parent's
            for directory in (parent, own):
                for key in ("cpuset.cpus", "cpuset.mems"):
                    if not (directory / key).read_text().strip():
                        (directory / key).write_text((directory.parent / key).read_text())


def _network(machine: HostMachine) -> HostNamespace:
    """Its network namespace and underlay veth, handled by the dataplane's own code for simulated hosts."""
    underlay = HostUnderlay(
        underlay_ip=machine.underlay_ip,
        underlay_prefix=machine.underlay_prefix,
        namespace=machine.netns,
        underlay_bridge=machine.underlay_bridge,
        underlay_mtu=machine.underlay_mtu,
        physical_bridges=machine.physical_bridges,
        external_host_address=machine.external_host_address,
    )
    return HostNamespace(Runner(), machine.name, underlay)


def _physical_wires(machine: HostMachine) -> None:
    """Each physical network's bridge inside the host, wired by a veth to the machine's bridge of that name (which
    ``_network`` makes, with the machine's address on the external one). Tagged as the host's underlay, which its
    network agent leaves alone."""
    runner = Runner()
    root, inner = Namespace(runner, None).refresh(), Namespace(runner, machine.netns).refresh()
    tag = owner_tag(machine.name, "underlay")
    for index, (physnet, bridge) in enumerate(machine.physical_bridges):
        inner.ensure(bridge, ["bridge"], mtu=1500, tag=tag)
        if not inner.refresh().get(bridge).up:  # type: ignore[union-attr]
            inner.ip("link", "set", "dev", bridge, "up")
        ensure_veth(root, _physical_veth(machine, physnet), inner, f"px{index}", mtu=1500, tag=tag,
                    a_master=bridge, b_master=bridge)  # fmt: skip


def _physical_veth(machine: HostMachine, physnet: str) -> str:
    """The machine's end of the host's wire to physical network ``physnet`` (a digest: names are 15 bytes)."""
    return "px-" + hashlib.sha256(f"{machine.netns}/{physnet}".encode()).hexdigest()[:12]


LISTEN_MARK = "# stratus: how this host's libvirtd listens (rewritten at every start)"


def _libvirt_config(machine: HostMachine, listen: str, tls_dir: Path | None, qemu_tls: bool = False) -> bool:
    """Its ``/etc/libvirt``: the machine's, once, with a host UUID of its own (kept across restarts), and how its
    libvirtd listens on the underlay: ``tls`` (x509 both ways with the files in ``tls_dir``: what hosts use to
    reach each other for migrations), ``tcp`` (no authentication: only for tests of a machine's private underlay)
    or ``none`` (the unix socket only). ``qemu_tls``: its qemu.conf points QEMU's migration TLS at
    ``machine.qemu_tls_dir`` (QEMU runs as the machine's QEMU user: the files are installed readable by its group).
    Returns whether either file changed (a running libvirtd must start again to read it)."""
    etc = machine.root / "etc" / "libvirt"
    if not etc.exists():
        shutil.copytree("/etc/libvirt", etc, symlinks=True)
    conf = etc / "libvirtd.conf"
    before = [path.read_bytes() if path.exists() else b"" for path in (conf, etc / "qemu.conf")]
    text = conf.read_text().split(f"\n{LISTEN_MARK}\n", 1)[0]
    if "\nhost_uuid = " not in text:
        text = f'{text.rstrip()}\nhost_uuid = "{uuid.uuid4()}"\n'
    lines = [f'listen_addr = "{ipaddress.ip_address(machine.underlay_ip)}"']
    if listen == "tls":
        if tls_dir is None:
            raise HostMachineError(name=machine.name, reason="TLS needs the directory of its certificates")
        lines = hypervisor_tls.libvirtd_conf(machine.underlay_ip, tls_dir).splitlines()
    elif listen == "tcp":
        lines += ["listen_tls = 0", "listen_tcp = 1", 'auth_tcp = "none"']
    elif listen == "none":
        lines += ["listen_tls = 0", "listen_tcp = 0"]
    else:
        raise HostMachineError(name=machine.name, reason=f"unknown listen mode {listen!r}")
    conf.write_text(f"{text.rstrip()}\n{LISTEN_MARK}\n" + "\n".join(lines) + "\n")
    if qemu_tls:
        hypervisor_tls.write_qemu_conf(etc / "qemu.conf", machine.qemu_tls_dir)
    return [path.read_bytes() if path.exists() else b"" for path in (conf, etc / "qemu.conf")] != before


SETUP_SCRIPT = """
set -eu
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
for c in {controllers}; do mkdir -p /sys/fs/cgroup/$c; mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c; done
for n in {named}; do mkdir -p /sys/fs/cgroup/$n; mount -t cgroup -o none,name=$n cgroup /sys/fs/cgroup/$n; done
{binds}
name="$1"; hide="$2"; shift 2
if [ -n "$hide" ]; then  # the control node's state directory, seen empty but for what stays (the host's own)
    i=0
    for kept in "$@"; do
        i=$((i + 1)); mkdir -p "/run/stratus-keep-$name-$i"; mount --rbind "$kept" "/run/stratus-keep-$name-$i"
    done
    mount -t tmpfs -o mode=711 stratus-hidden "$hide"
    i=0
    for kept in "$@"; do
        i=$((i + 1)); mkdir -p "$kept"; mount --move "/run/stratus-keep-$name-$i" "$kept"
        rmdir "/run/stratus-keep-$name-$i"
    done
fi
hostname "$name"
"""


def _setup_script(machine: HostMachine) -> str:
    binds = "\n".join(
        f'mkdir -p "{path}" && mount --bind "{machine.root / own}" "{path}"' for own, path in LIBVIRT_DIRS.items()
    )
    return SETUP_SCRIPT.format(controllers=" ".join(CONTROLLERS), named=" ".join(NAMED_HIERARCHIES), binds=binds)


def _make_namespaces(machine: HostMachine, hide: Path | None, shared: tuple[Path, ...] = ()) -> None:
    """The mount, UTS and cgroup namespaces, made once and kept by their bind-mounted files. ``hide``: a directory
    (the control node's state) the host sees as an empty one but for the host's own directory (its root's parent),
    which must be below it."""
    hidden = [""]
    if hide is not None:
        if not machine.root.is_relative_to(hide):
            raise HostMachineError(name=machine.name, reason=f"its root is not below {hide}")
        kept = [machine.root.parent, *(path for path in shared if path.is_relative_to(hide))]
        hidden = [hypervisor_tls.check_path(path) for path in (hide, *kept)]
    ns = machine.ns_dir
    ns.mkdir(parents=True, exist_ok=True)
    if all(_is_mountpoint(ns / kind) for kind in NAMESPACES):
        return
    if not _is_mountpoint(ns):  # a persistent mount namespace's file must sit on a private mount
        _sh(["mount", "--bind", str(ns), str(ns)])
        _sh(["mount", "--make-private", str(ns)])
    for kind in NAMESPACES:
        (ns / kind).touch()
    for own in LIBVIRT_DIRS:
        (machine.root / own).mkdir(parents=True, exist_ok=True)
    command = [
        "nsenter", f"--net=/run/netns/{machine.netns}", "--",
        "unshare", f"--mount={ns / 'mnt'}", f"--uts={ns / 'uts'}", f"--cgroup={ns / 'cgroup'}",
        "--propagation", "slave", "--",
        "sh", "-c", _setup_script(machine), "setup", machine.name, *hidden,
    ]  # fmt: skip
    result = subprocess.run(
        command, preexec_fn=machine.join_cgroups, capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0:
        raise HostMachineError(name=machine.name, reason=f"its namespaces could not be made: {result.stderr.strip()}")


def _pid_alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
        return False
    return True


def _stop_libvirtd(machine: HostMachine, timeout: float = 15) -> None:
    """Its libvirtd only (SIGTERM): the guests' QEMU processes run on, and libvirtd takes them back when it starts
    again, reading its configuration then (as ``systemctl restart libvirtd`` on a real host)."""
    pid_file = machine.root / "run" / "libvirt" / "libvirtd.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid_file) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid_alive(pid_file):
        raise HostMachineError(
            name=machine.name, reason=f"libvirtd (pid {pid}) did not stop to read its new configuration"
        )
    machine.libvirt_socket.unlink(missing_ok=True)


def _start_daemons(machine: HostMachine) -> None:
    run = machine.root / "run" / "libvirt"
    for daemon, extra in (("virtlogd", []), ("libvirtd", ["-l"] if listens_tcp(machine) else [])):
        pid_file = run / f"{daemon}.pid"
        if _pid_alive(pid_file):
            continue
        result = machine.run([daemon, "-d", *extra, "-p", f"/run/libvirt/{daemon}.pid"])
        if result.returncode != 0:
            raise HostMachineError(name=machine.name, reason=f"{daemon} did not start: {result.stderr.strip()}")
    deadline = time.monotonic() + 15
    while not machine.libvirt_socket.exists():
        if time.monotonic() > deadline:
            raise HostMachineError(name=machine.name, reason="libvirtd's socket did not appear within 15 s")
        time.sleep(0.1)


def listens_tcp(machine: HostMachine) -> bool:
    """Whether its libvirtd is configured to listen on the network (TLS for migrations between hosts)."""
    conf = machine.root / "etc" / "libvirt" / "libvirtd.conf"
    lines = conf.read_text().splitlines() if conf.exists() else []
    return any(re.fullmatch(r"\s*listen_(tls|tcp)\s*=\s*1\s*", line) for line in lines)


def start(
    machine: HostMachine,
    listen: str = "none",
    tls_dir: Path | None = None,
    hide: Path | None = None,
    shared: tuple[Path, ...] = (),
    qemu_tls: bool = False,
) -> HostMachine:
    """Make the host and start its libvirtd and virtlogd; what exists already is kept (idempotent). ``listen`` and
    ``qemu_tls`` (QEMU's files are in ``machine.qemu_tls_dir``: :func:`install_qemu_tls`, or its bundle's): see
    ``_libvirt_config`` (a running libvirtd keeps its configuration until it is restarted). ``hide``: a directory
    the host sees empty (the control node's state) but for the host's own directory (its root's parent) and the
    ``shared`` directories below it (a store all hosts mount, as over NFS), fixed when its namespaces are made."""
    machine.root.mkdir(parents=True, exist_ok=True)
    record(machine)
    _network(machine).ensure()
    _physical_wires(machine)
    _make_cgroups(machine)
    changed = _libvirt_config(machine, listen, tls_dir, qemu_tls)
    _make_namespaces(machine, hide, shared)
    if changed and running(machine):  # a newer release's settings (QEMU's migration TLS, say) take effect now
        _stop_libvirtd(machine)
    _start_daemons(machine)
    return machine


def running(machine: HostMachine) -> bool:
    return _pid_alive(machine.root / "run" / "libvirt" / "libvirtd.pid")


def kill_processes(machine: HostMachine, timeout: float = 15) -> None:
    """Stop every process of the host, its guests included (SIGTERM, then SIGKILL): what a power cut leaves."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in machine.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 5)
        while machine.pids() and time.monotonic() < deadline:
            time.sleep(0.1)
    if machine.pids():
        raise HostMachineError(name=machine.name, reason=f"processes {sorted(machine.pids())} did not stop")


def stop(machine: HostMachine, remove: bool = False) -> None:
    """Stop the host's processes (guests too) and release its namespaces; ``remove`` also deletes its network
    namespace, cgroups and directory."""
    kill_processes(machine)
    ns = machine.ns_dir
    for kind in NAMESPACES:
        if _is_mountpoint(ns / kind):
            _sh(["umount", str(ns / kind)])
    if _is_mountpoint(ns):
        _sh(["umount", str(ns)])
    if not remove:
        return
    for directory in machine.cgroup_dirs():
        for child in (
            sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True) if directory.exists() else ()
        ):
            if child.is_dir():
                child.rmdir()
        if directory.exists():
            directory.rmdir()
    root = Namespace(Runner(), None).refresh()
    for physnet, _ in machine.physical_bridges:  # first: the namespace's own go asynchronously, after the check
        root.delete(_physical_veth(machine, physnet))  # whether the machine's bridges are still in use
    _network(machine).remove()
    shutil.rmtree(machine.root, ignore_errors=True)


def enabled(settings: Settings) -> bool:
    """Whether this machine's hosts are host machines (``host_machines``, several libvirt hosts)."""
    return settings.host_machines and settings.hosts > 1 and settings.compute_driver == "libvirt"


def underlay_address(settings: Settings, host: str) -> str:
    """The underlay address of simulated host ``host`` of this machine: .(10+i) of ``network_simulated_underlay``."""
    underlay = ipaddress.ip_network(settings.network_simulated_underlay)
    return str(underlay.network_address + 10 + machine_hosts(settings).index(host) + 1)


def of_host(settings: Settings, host: str) -> HostMachine:
    underlay = ipaddress.ip_network(settings.network_simulated_underlay)
    return HostMachine(
        host,
        settings.state_path / "hosts" / host / "machine",
        underlay_address(settings, host),
        underlay_prefix=underlay.prefixlen,
        underlay_bridge=settings.network_underlay_bridge,
        underlay_mtu=settings.network_underlay_mtu,
        physical_bridges=physical_bridges(settings.network_physical_bridges),
        external_host_address=settings.network_external_host_address,
    )


def control_address(settings: Settings) -> str:
    """The control node's address on the simulated underlay (its first address): what the host machines dial for
    the broker, the API and the metadata service, as a real host dials its control node."""
    return str(next(ipaddress.ip_network(settings.network_simulated_underlay).hosts()))


def ensure_control_address(settings: Settings) -> None:
    """The underlay bridge, with the control node's address on it: made before Redis and the API bind there."""
    underlay = ipaddress.ip_network(settings.network_simulated_underlay)
    runner, bridge = Runner(), settings.network_underlay_bridge
    if not Path("/sys/class/net", bridge).exists():
        runner.write(["ip", "link", "add", "name", bridge, "mtu", str(settings.network_underlay_mtu), "type", "bridge"])
        runner.write(["ip", "link", "set", "dev", bridge, "alias", SHARED_TAG])
    runner.write(["ip", "link", "set", "dev", bridge, "up"])
    address = f"{control_address(settings)}/{underlay.prefixlen}"
    shown = runner.read(["ip", "-o", "addr", "show", "dev", bridge])
    if f" {address} " not in shown:
        runner.write(["ip", "addr", "add", address, "dev", bridge])


def control_environment(settings: Settings) -> dict[str, str]:
    """What the control side's processes are told when the hosts are host machines: Redis listens on the control
    node's underlay address too, and the API's address in the catalog is that one (hosts fetch images there)."""
    address = control_address(settings)
    bind = settings.broker_bind.split()
    env = {"STRATUS_BROKER_BIND": " ".join([*bind, address] if address not in bind else bind)}
    if not settings.public_url:
        env["STRATUS_PUBLIC_URL"] = f"http://{address}:{settings.api_port}"
    return env


def host_state_dir(settings: Settings, host: str) -> Path:
    """A host machine's own state directory (its settings, keys, instances, image cache and logs)."""
    return settings.state_path / "hosts" / host / "state"


def join(settings: Settings, host: str) -> Path:
    """Join ``host`` as any host is joined (``host join``, then ``host setup`` of its bundle), into its own state
    directory and PKI directories (libvirt's, and QEMU's in ``machine.qemu_tls_dir``); returns the PKI directory
    (its libvirt TLS files)."""
    machine = of_host(settings, host)
    machine.root.mkdir(parents=True, exist_ok=True)
    bundle = machine.root / "join.tar"
    host_join.join(settings, host, machine.underlay_ip, out=bundle, control=control_address(settings))
    pki = machine.root / "pki"
    paths = host_join.HostPaths(
        state_dir=host_state_dir(settings, host), pki_dir=pki, libvirtd_conf=None, systemd_dir=None, env_file=None,
        qemu_pki_dir=machine.qemu_tls_dir,  # its qemu.conf: _libvirt_config's, in its own /etc/libvirt
    )  # fmt: skip
    host_join.setup(bundle, paths)
    bundle.unlink()
    return pki


LOCATED = frozenset(
    {
        "state_dir", "config", "host", "hosts", "host_machines", "broker_url", "broker_user", "broker_password_file",
        "broker_ca_file", "broker_bind", "broker_tls_port", "public_url", "metadata_url", "instances_path",
        "image_cache_path", "volume_dir", "libvirt_uri", "libvirt_migration_uri", "console_listen",
        "network_namespace", "network_underlay_ip", "network_underlay_prefix",
        "network_underlay_bridge", "network_underlay_device", "network_simulated_underlay", "queue_keys_dir",
        "network_external_host_address", "qemu_tls_dir",
    }
)  # fmt: skip
"""Host settings that say where things are: a host machine has its own (from its bundle), never the launcher's."""


def agent_environment(settings: Settings, host: str, launcher: dict[str, str]) -> dict[str, str]:
    """The whole environment of a host machine's agent: its own state directory and settings file (its bundle's),
    its console address and its client certificate for the other hosts' libvirtds; of the launcher's settings
    only those that are not about places (timings, drivers, log level)."""
    machine = of_host(settings, host)
    fields = {f.name for f in dataclasses.fields(HostSettings)}
    state = host_state_dir(settings, host)
    env = {
        key: value
        for key, value in launcher.items()
        if not key.startswith("STRATUS_") or (key[8:].lower() in fields and key[8:].lower() not in LOCATED)
    }
    pki = hypervisor_tls.check_path(machine.root / "pki")
    return env | {
        "STRATUS_STATE_DIR": str(state),
        "STRATUS_CONFIG": str(state / "stratus.toml"),
        "STRATUS_HOST": host,
        "STRATUS_CONSOLE_LISTEN": machine.underlay_ip,
        "STRATUS_LIBVIRT_MIGRATION_URI": f"qemu+tls://{{address}}/system?pkipath={pki}",
        # The file volume store every host mounts (kept visible in its namespace, as over NFS), at the control's path.
        "STRATUS_VOLUME_DIR": str(settings.effective_volume_dir),
    }


_QEMU_CONF = Path("/etc/libvirt/qemu.conf")
"""The machine's qemu.conf, which a host machine's is a copy of: QEMU's group is the same."""


def install_qemu_tls(settings: Settings, machine: HostMachine) -> Path:
    """QEMU's TLS files of ``machine``, issued by the hypervisor CA of ``settings`` and installed in its
    ``qemu_tls_dir`` as ``host setup`` installs a bundle's: for a host machine started without a bundle (tests and
    benchmarks). Returns the directory."""
    issued = hypervisor_tls.issue_qemu(settings, machine.name, machine.underlay_ip)
    files = {name: (issued / name).read_bytes() for name in hypervisor_tls.QEMU_FILES}
    gid = hypervisor_tls.qemu_gid(_QEMU_CONF.read_text() if _QEMU_CONF.exists() else "")
    return hypervisor_tls.install_qemu(files, machine.qemu_tls_dir, gid)


def start_all(settings: Settings) -> list[HostMachine]:
    """Join and start every host machine of this machine (idempotent): each libvirtd on TLS with its own
    certificate, each seeing the control node's state directory as an empty one (its own directory kept)."""
    machines = []
    for host in machine_hosts(settings):
        machine = of_host(settings, host)
        pki = join(settings, host)
        volumes = settings.effective_volume_dir  # the file volume backend's store: shared, as over NFS
        volumes.mkdir(parents=True, exist_ok=True)
        machines.append(
            start(machine, listen="tls", tls_dir=pki, hide=settings.state_path, shared=(volumes,), qemu_tls=True)
        )
    return machines


def stop_all(settings: Settings, remove: bool = False) -> None:
    """Stop every host machine this state directory made (and with ``remove``, delete them)."""
    for root in sorted((settings.state_path / "hosts").glob(f"*/machine/{RECORD}")):
        stop(recorded(root.parent), remove=remove)


def fence(hosts_dir: Path, name: str, address: str) -> HostMachine:
    """Power off the host machine ``name`` below ``hosts_dir`` (every process of it: agents, libvirtd, guests),
    refusing unless ``address`` is its underlay address. What the scheduler's fence command does on a machine of
    simulated hosts: it runs with nothing but its arguments (no settings), so the machine is found by its record."""
    if not _HOSTNAME.fullmatch(name):
        raise HostMachineError(name=name, reason="not a host name")
    root = hosts_dir / name / "machine"
    if not (root / RECORD).is_file():
        raise HostMachineError(name=name, reason=f"no host machine in {root}")
    machine = recorded(root)
    if machine.name != name or str(ipaddress.ip_address(address)) != machine.underlay_ip:
        raise HostMachineError(name=name, reason=f"{address} is not its underlay address")
    kill_processes(machine)
    return machine
