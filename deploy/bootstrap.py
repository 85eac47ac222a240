"""Create the admin and demo accounts of a one-machine cloud and write a ``clouds.yaml`` for them.

Run by ``make up`` after ``stratus-manage services up``. The passwords are generated on the first run and kept in
``<state_dir>/passwords`` (mode 600), so every later run bootstraps with the same ones and ``clouds.yaml`` stays
valid; ``stratus-manage bootstrap`` itself is idempotent.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path

from common.settings import load
from manage.clouds import write_clouds_yaml

ACCOUNTS = {"stratus-admin": "admin", "stratus": "demo"}  # cloud name -> user (and project) name


def ensure_passwords(path: Path) -> dict[str, str]:
    """Read ``USER_PASSWORD=...`` lines, creating the file with fresh random passwords when it is missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"{user.upper()}_PASSWORD={secrets.token_urlsafe(18)}\n" for user in ACCOUNTS.values()]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.writelines(lines)
    path.chmod(0o600)
    entries = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {user: entries[f"{user.upper()}_PASSWORD"] for user in ACCOUNTS.values()}


def run_bootstrap(passwords: dict[str, str]) -> None:
    """Passwords go through the environment, not the command line, where ``ps`` would show them."""
    manage = Path(sys.executable).with_name("stratus-manage")
    env = os.environ | {"STRATUS_ADMIN_PASSWORD": passwords["admin"], "STRATUS_DEMO_PASSWORD": passwords["demo"]}
    subprocess.run([str(manage), "bootstrap"], check=True, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clouds-yaml", type=Path, default=Path("clouds.yaml"), help="Where to write it.")
    args = parser.parse_args()
    settings = load()
    passwords = ensure_passwords(settings.state_path / "passwords")
    run_bootstrap(passwords)
    accounts = {cloud: (user, passwords[user]) for cloud, user in ACCOUNTS.items()}
    write_clouds_yaml(args.clouds_yaml, f"{settings.effective_public_url}/identity/v3", settings.region, accounts)
    print(f"wrote {args.clouds_yaml}: clouds {', '.join(ACCOUNTS)}")


if __name__ == "__main__":
    main()
