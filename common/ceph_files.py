"""Reading the two Ceph files every side of the cloud opens: a ``ceph.conf`` (its ``[global]`` values) and a
keyring (a user's key). One reader, so the volume service, the hosts and ``host join`` agree on what a file says.
"""

from __future__ import annotations

import re

_KEY_LINE = re.compile(r"^\s*key\s*=\s*([A-Za-z0-9+/]+={0,2})\s*$")


def _sections(text: str) -> list[tuple[str, str]]:
    """(section, line) of each line of an INI-like Ceph file, comments (``#``, ``;``) and blank lines left out."""
    section, found = "", []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif line:
            found.append((section, line))
    return found


def global_values(conf_text: str) -> dict[str, str]:
    """``[global]`` of a ceph.conf, keys as Ceph reads them (``mon host``, ``mon-host`` and ``mon_host`` alike)."""
    values = {}
    for section, line in _sections(conf_text):
        if section == "global" and "=" in line:
            key, _, value = line.partition("=")
            values[re.sub(r"[ -]", "_", key.strip())] = value.strip()
    return values


def keyring_key(keyring_text: str, user: str) -> str | None:
    """The key of ``client.<user>`` in a keyring (base64 as Ceph prints it), None when it holds none."""
    for section, line in _sections(keyring_text):
        found = _KEY_LINE.match(line)
        if found and section == f"client.{user}":
            return found.group(1)
    return None
