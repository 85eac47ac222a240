"""What the tests of signed Celery messages share: a state directory with the queue keys of some hosts, the
settings of an app on kombu's in-memory broker there, and a result backend in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery

from common import signing
from common.settings import load


def settings_for(state: Path) -> Any:
    return load({"STRATUS_STATE_DIR": str(state), "STRATUS_BROKER_URL": "memory://"})


def in_memory(app: Celery) -> Celery:
    app.conf.result_backend = "cache+memory://"
    return app


def keyed_state(state: Path, hosts: dict[str, list[str]]) -> Path:
    """``state`` with the control side's master key and each host's key file (``hosts``: the agent's name and the
    host names it speaks for)."""
    master = signing.ensure_master_key(state / "queue-keys" / "master.key")
    for host, names in hosts.items():
        signing.write_host_keys(state / "queue-keys" / "hosts" / f"{host}.keys", master, names)
    return state
