"""HAProxy's configuration and the services of the API behind it (``manage.api_proxy``)."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

import pytest

from common.exceptions import ConfigError
from common.settings import load
from manage import api_proxy
from manage.services import binds

HAPROXY = shutil.which("haproxy")


def _settings(tmp_path: Path, **env: str):
    return load({"STRATUS_STATE_DIR": str(tmp_path), **{f"STRATUS_{k.upper()}": v for k, v in env.items()}})


def _check(path: Path) -> None:
    result = subprocess.run([HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")
def test_the_configuration_is_valid_for_haproxy_on_ipv4_and_ipv6(tmp_path):
    settings = _settings(tmp_path, api_port="18000", api_backend_port="18100")
    settings.run_dir.mkdir()
    path = api_proxy.write_config(settings, api_proxy.local_backends(settings, 3))
    _check(path)
    text = path.read_text()
    assert "    bind 127.0.0.1:18000\n" in text and "    source 127.0.1.1\n" in text
    assert [line.split()[1:] for line in text.splitlines() if line.startswith("    server ")] == [
        ["api-1", "127.0.0.2:18100"], ["api-2", "127.0.0.3:18100"], ["api-3", "127.0.0.4:18100"],
    ]  # fmt: skip
    assert path.stat().st_mode & 0o777 == 0o600
    six = _settings(tmp_path, api_host="::1", api_port="18000")
    backends = [api_proxy.Backend("api-1", ipaddress.ip_address("::1"), 18101)]
    path = api_proxy.write_config(six, backends, source=None)
    _check(path)
    assert "bind ipv6@::1:18000" in path.read_text() and "source" not in path.read_text()


def test_no_value_reaches_the_configuration_as_syntax(tmp_path):
    address = ipaddress.ip_address("127.0.0.2")
    for name in ("api 1", "api-1\n    server evil 10.0.0.1:80", "API", ""):
        with pytest.raises(ConfigError):
            api_proxy.Backend(name, address, 8100)
    with pytest.raises(ConfigError):
        api_proxy.Backend("api-1", "127.0.0.2", 8100)  # type: ignore[arg-type]
    for port in (0, 65536):
        with pytest.raises(ConfigError):
            api_proxy.Backend("api-1", address, port)
    with pytest.raises(ConfigError):
        api_proxy.frontend_addresses(_settings(tmp_path, api_host="localhost"))
    odd = tmp_path / "state dir\nglobal"
    with pytest.raises(ConfigError):
        api_proxy.write_config(_settings(odd), [api_proxy.Backend("api-1", address, 8100)])
    with pytest.raises(ConfigError):
        api_proxy.local_backends(_settings(tmp_path), 0)
    with pytest.raises(ConfigError):
        api_proxy.render_config([address], 8000, [], None, tmp_path / "s")


def test_each_api_copy_listens_on_its_own_address_only_and_trusts_haproxy_alone(tmp_path):
    settings = _settings(tmp_path, api_backend_port="18100", api_trusted_proxies="10.0.0.5")
    copies = api_proxy.api_services(settings, 2)
    assert [c.name for c in copies] == ["api-1", "api-2"]
    assert [binds(c.argv) for c in copies] == [{"127.0.0.2:18100"}, {"127.0.0.3:18100"}]
    assert all(c.argv[-1] == "api.wsgi:application" for c in copies)
    assert all(c.marker in " ".join(c.argv) for c in copies) and copies[0].marker not in " ".join(copies[1].argv)
    assert all(dict(c.env)["STRATUS_API_TRUSTED_PROXIES"] == "10.0.0.5 127.0.1.1" for c in copies)
    assert copies[0].ready_url == "http://127.0.0.2:18100/identity/v3"


def test_haproxy_writes_its_configuration_right_before_it_starts(tmp_path):
    settings = _settings(tmp_path, api_port="18000")
    service = api_proxy.haproxy_service(settings, api_proxy.local_backends(settings, 2))
    assert not api_proxy.config_path(settings).exists()  # building the service (status, down) writes nothing
    assert service.prepare is not None
    service.prepare(settings)
    assert "server api-2 127.0.0.3:8100" in api_proxy.config_path(settings).read_text()
    assert service.marker in service.argv and service.ready_url == "http://127.0.0.1:18000/identity/v3"


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")
def test_the_configuration_for_api_nodes_on_other_machines(tmp_path):
    from click.testing import CliRunner

    args = ["--listen", "10.0.0.30:8000", "--backend", "10.0.0.31:8000", "--backend", "[2001:db8::32]:8000"]
    result = CliRunner().invoke(api_proxy.main, ["config", *args, "--source", "10.0.0.30"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "haproxy.cfg"
    path.write_text(result.output)
    _check(path)
    assert "server api-2 ipv6@2001:db8::32:8000" in result.output and "source 10.0.0.30" in result.output
    for bad in (["--backend", "10.0.0.31:80\nlisten x"], ["--backend", "node-1:8000"], ["--source", "10.0.0.30 x"]):
        result = CliRunner().invoke(api_proxy.main, ["config", *args, *bad])
        assert result.exit_code != 0 and "server" not in result.output, result.output


def test_the_api_shape_is_the_one_process_or_copies_behind_haproxy(tmp_path):
    settings = _settings(tmp_path)
    assert [s.name for s in api_proxy.api_shape(settings, 1)] == ["api"]
    assert [s.name for s in api_proxy.api_shape(settings, 2)] == ["api-1", "api-2", "haproxy"]
