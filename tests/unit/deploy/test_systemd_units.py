"""The systemd units of ``deploy/systemd``: they parse, they run modules that exist, and each runs the command line
``stratus-manage services up`` runs for the same service (so the two ways of running the cloud never drift)."""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from common.settings import load
from manage import host_join
from manage.services import (
    api_service,
    console_proxy_service,
    metadata_proxy_services,
    redis_service,
    worker_services,
)

UNITS = host_join.UNITS_DIR
ALL_UNITS = sorted([*UNITS.glob("control/*"), *UNITS.glob("host/*")])
SERVICES = [unit for unit in ALL_UNITS if unit.suffix == ".service"]
LAUNCHER_NAMES = {
    "stratus-api.service": "api",
    "stratus-console-proxy.service": "console-proxy",
    "stratus-scheduler.service": "compute-worker",
    "stratus-network.service": "network-worker",
    "stratus-image.service": "image-worker",
    "stratus-volume.service": "volume-worker",
    "stratus-redis.service": "redis",
    "stratus-compute.service": "compute-agent",
    "stratus-netagent.service": "network-agent",
    "stratus-metadata-proxy.service": "metadata-proxy",
}
"""Each long-running unit and the service of ``manage.services`` it stands for."""
HOST = "node-1"


def parse(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A unit file as systemd reads it: sections of ``key=value`` lines (keys may repeat), comments skipped.
    Anything else is a syntax error."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        if match := re.fullmatch(r"\[([A-Za-z]+)\]", line):
            current = sections.setdefault(match[1], [])
        elif current is not None and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*=.*", line):
            key, value = line.split("=", 1)
            current.append((key, value))
        else:
            raise AssertionError(f"{path}:{number}: not a unit file line: {line!r}")
    return sections


def values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [value for name, value in unit.get(section, []) if name == key]


def environment(unit: dict[str, list[tuple[str, str]]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in values(unit, "Service", "Environment"):
        env |= dict(item.split("=", 1) for item in shlex.split(line))
    return env


def command_line(path: Path, host: str | None = None) -> list[str]:
    """ExecStart as systemd would run it with the unit's own environment (``${VAR}`` one word, ``$VAR`` split),
    ``%H`` the machine's name, and ``STRATUS_HOST`` as ``host setup`` writes it."""
    unit = parse(path)
    env = environment(unit) | ({"STRATUS_HOST": host} if host else {})
    (line,) = values(unit, "Service", "ExecStart")
    argv = []
    for word in shlex.split(line.replace("%H", socket.gethostname())):
        if re.fullmatch(r"\$[A-Z_]+", word):
            argv += env[word[1:]].split()
        else:
            argv.append(re.sub(r"\$\{([A-Z_]+)\}", lambda m: env[m[1]], word))
    return argv


def test_every_unit_parses_with_the_sections_systemd_needs():
    assert {unit.name for unit in SERVICES} >= set(LAUNCHER_NAMES)
    for path in ALL_UNITS:
        unit = parse(path)
        assert values(unit, "Unit", "Description"), path
        assert values(unit, "Install", "WantedBy"), path
        if path.suffix == ".service":
            assert len(values(unit, "Service", "ExecStart")) == 1, path


@pytest.mark.parametrize("path", SERVICES, ids=lambda path: path.name)
def test_every_units_command_names_a_module_or_program_that_exists(path):
    argv = command_line(path, HOST)
    program = argv[0].replace(host_join.UNIT_CODE_ROOT, str(host_join.CODE_ROOT))
    assert Path(program).name in ("python", "redis-server", "stratus-manage"), argv
    if Path(program).name == "redis-server":
        return
    assert Path(program).parent == host_join.CODE_ROOT / ".venv" / "bin"
    modules = [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == "-m"]
    modules += [argv[i + 1].split(":")[0] for i, word in enumerate(argv[:-1]) if word == "-A"]
    modules += [word.split(":")[0] for word in argv if re.fullmatch(r"[a-z_.]+:application", word)]
    for module in modules:
        assert importlib.util.find_spec(module) is not None, f"{path.name}: no module {module}"
    if Path(program).name == "stratus-manage":
        assert argv[1:] == ["host", "prepare-control"]


@pytest.mark.parametrize("unit_name", sorted(LAUNCHER_NAMES), ids=str)
def test_each_unit_runs_what_services_up_runs_for_its_service(unit_name):
    path = next(path for path in SERVICES if path.name == unit_name)
    on_host = path.parent.name == "host"
    env = {"STRATUS_STATE_DIR": host_join.UNIT_STATE_DIR, **({"STRATUS_HOST": HOST} if on_host else {})}
    settings = load(environ=env)
    launched = {
        service.name: service
        for service in [
            api_service(settings), console_proxy_service(settings), redis_service(settings),
            *worker_services(settings), *metadata_proxy_services(settings),
        ]
    }  # fmt: skip
    expected = list(launched[LAUNCHER_NAMES[unit_name]].argv)
    argv = command_line(path, HOST if on_host else None)
    assert Path(argv[0]).name == Path(expected[0]).name or expected[0].endswith("/python")
    assert argv[1:] == expected[1:]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_every_unit_as_host_setup_installs_them(tmp_path):
    """Installed with this checkout's path (as ``host setup`` does), so the programs they run exist here."""
    for path in ALL_UNITS:
        text = path.read_text().replace(host_join.UNIT_CODE_ROOT, str(host_join.CODE_ROOT))
        (tmp_path / path.name).write_text(text.replace(host_join.UNIT_STATE_DIR, str(tmp_path / "state")))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in tmp_path.glob("stratus-*"))],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Unknown key" not in result.stderr and "Unknown section" not in result.stderr, result.stderr


def test_host_setup_installs_the_host_units_with_the_real_paths(tmp_path):
    names = host_join.install_units(tmp_path / "systemd", tmp_path / "state")
    assert set(names) == {"stratus-compute.service", "stratus-netagent.service", "stratus-metadata-proxy.service"}
    compute = (tmp_path / "systemd" / "stratus-compute.service").read_text()
    assert host_join.UNIT_CODE_ROOT not in compute and str(host_join.CODE_ROOT / ".venv/bin/python") in compute
    assert f"{tmp_path / 'state'}/run/compute-agent-beat-schedule" in compute
    assert (tmp_path / "systemd" / "stratus-host.target").exists()
