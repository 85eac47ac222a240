"""The warm ``openstack`` CLI answers as the console script does: same output, same streams, same exit status."""

from __future__ import annotations

import os
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from tests import warm_cli
from tests.harness import VENV_BIN

COMMANDS = [
    ["--version"],
    ["no-such-command"],
    ["--os-cloud", "absent", "server", "list"],
    ["server", "list", "--no-such-option"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv))
def test_a_command_answers_as_the_console_script_does(argv, tmp_path):
    clouds_yaml = tmp_path / "clouds.yaml"
    clouds_yaml.write_text("clouds: {}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")} | {"OS_CLIENT_CONFIG_FILE": str(clouds_yaml)}
    cold = subprocess.run(
        [str(VENV_BIN / "openstack"), *argv], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    warm = warm_cli.run(argv, env)
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)


def test_each_command_sees_its_own_environment_and_directory_even_at_once(tmp_path):
    def attempt(n: int) -> subprocess.CompletedProcess[str]:
        directory = tmp_path / str(n)
        directory.mkdir()
        (directory / "clouds.yaml").write_text(f"clouds: {{cloud{n}: {{auth: {{auth_url: 'http://127.0.0.1:9'}}}}}}\n")
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "OS_CLIENT_CONFIG_FILE": "clouds.yaml"}
        return warm_cli.run(["--os-cloud", f"cloud{n}", "configuration", "show", "-f", "value", "-c", "auth.auth_url"],
                            env, cwd=str(directory))  # fmt: skip

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(attempt, range(8)))
    assert all(result.returncode == 0 for result in results), [result.stderr for result in results]
    assert {result.stdout for result in results} == {"http://127.0.0.1:9\n"}


def test_a_command_past_its_timeout_raises_and_the_next_one_runs(tmp_path):
    auth = {"auth_url": "", "username": "a", "password": "b", "project_name": "c", "user_domain_id": "default"}
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        auth["auth_url"] = f"http://127.0.0.1:{mute.getsockname()[1]}/v3"
        (tmp_path / "clouds.yaml").write_text(yaml.safe_dump({"clouds": {"mute": {"auth": auth}}}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["OS_CLIENT_CONFIG_FILE"] = str(tmp_path / "clouds.yaml")
        with pytest.raises(subprocess.TimeoutExpired):
            warm_cli.run(["--os-cloud", "mute", "token", "issue"], env, timeout=3)
    assert warm_cli.run(["--version"]).returncode == 0
