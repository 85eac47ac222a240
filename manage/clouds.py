"""The ``clouds.yaml`` the OpenStack clients read, for the accounts a bootstrap created."""

from __future__ import annotations

import os
from pathlib import Path

import yaml


def clouds_document(auth_url: str, region: str, accounts: dict[str, tuple[str, str]]) -> dict[str, object]:
    """``accounts`` maps a cloud name to (user, password); each user works in the project of its own name."""
    clouds = {}
    for cloud, (user, password) in accounts.items():
        auth = {
            "auth_url": auth_url,
            "username": user,
            "password": password,
            "project_name": user,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        }
        clouds[cloud] = {"auth": auth, "region_name": region, "identity_api_version": 3, "interface": "public"}
    return {"clouds": clouds}


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds passwords), replacing any older one atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)


def write_clouds_yaml(path: Path, auth_url: str, region: str, accounts: dict[str, tuple[str, str]]) -> None:
    write_private(path, yaml.safe_dump(clouds_document(auth_url, region, accounts), sort_keys=False))
