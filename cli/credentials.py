"""Where the ``stratus`` CLI gets its credentials: a cloud in clouds.yaml or the ``OS_*`` variables.

clouds.yaml is searched where the OpenStack clients look (``OS_CLIENT_CONFIG_FILE``, ``./clouds.yaml``,
``~/.config/openstack/clouds.yaml``, ``/etc/openstack/clouds.yaml``), so one file serves both tools.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3


class CredentialsError(Exception):
    pass


def clouds_yaml_paths(env: Mapping[str, str]) -> list[Path]:
    paths = [Path(env["OS_CLIENT_CONFIG_FILE"])] if env.get("OS_CLIENT_CONFIG_FILE") else []
    paths += [Path("clouds.yaml"), Path.home() / ".config/openstack/clouds.yaml", Path("/etc/openstack/clouds.yaml")]
    return paths


def cloud_auth(cloud: str, env: Mapping[str, str]) -> dict[str, Any]:
    for path in clouds_yaml_paths(env):
        if path.is_file():
            clouds = (yaml.safe_load(path.read_text()) or {}).get("clouds", {})
            if cloud in clouds:
                return dict(clouds[cloud].get("auth", {}))
    searched = ", ".join(str(p) for p in clouds_yaml_paths(env))
    raise CredentialsError(f"cloud {cloud!r} not found in any clouds.yaml ({searched})")


def env_auth(env: Mapping[str, str]) -> dict[str, Any]:
    names = {
        "auth_url": "OS_AUTH_URL",
        "username": "OS_USERNAME",
        "password": "OS_PASSWORD",
        "project_name": "OS_PROJECT_NAME",
        "project_id": "OS_PROJECT_ID",
        "user_domain_name": "OS_USER_DOMAIN_NAME",
        "project_domain_name": "OS_PROJECT_DOMAIN_NAME",
    }
    auth = {key: env[var] for key, var in names.items() if env.get(var)}
    if not {"auth_url", "username", "password"} <= auth.keys():
        raise CredentialsError(
            "no cloud given: pass --os-cloud or set OS_CLOUD, or OS_AUTH_URL/OS_USERNAME/OS_PASSWORD"
        )
    return auth


def keystone_session(cloud: str | None, env: Mapping[str, str] | None = None) -> ks_session.Session:
    env = os.environ if env is None else env
    auth = cloud_auth(cloud, env) if cloud else env_auth(env)
    allowed = (
        "auth_url",
        "username",
        "password",
        "project_name",
        "project_id",
        "user_domain_name",
        "user_domain_id",
        "project_domain_name",
        "project_domain_id",
        "user_id",
    )
    unknown = set(auth) - set(allowed)
    if unknown:
        raise CredentialsError(f"unsupported auth settings: {', '.join(sorted(unknown))}")
    return ks_session.Session(auth=v3.Password(**auth))
