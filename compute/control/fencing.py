"""Fencing a down host: making sure its guests no longer run before its servers are rebuilt elsewhere.

``fence(control, host)`` is the one boundary: True when the host is fenced (already, by an operator's
``forced_down`` or an earlier fencing, or now). Now means the operator's ``fence_command`` ran and exited 0: an
argv (split as a shell would split it, never run by a shell) with two arguments appended, the host's name and its
underlay address, each a separate argv item and each checked first (a name of letters, digits, ``.``, ``_``, ``-``
not starting with ``-``; an IP address), so a host's record can never become an option or a command. It runs with a
plain ``PATH`` and nothing of the scheduler's environment, no input, for at most ``fence_timeout`` seconds
(killed then, and the host counts as not fenced). Its output goes to the scheduler's log.

Typical commands: ``/usr/sbin/fence_ipmilan`` wrapped in a script that maps the host to its BMC; for hosts simulated
on one machine (``make up HOSTS=N``), a command that stops the host machine's namespace daemons and guests
(``manage.host_machine``), which compute cannot import: it is wired by naming that command in ``fence_command``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import shlex
import subprocess

from common.settings import Settings
from compute import fencing
from compute.control.context import ComputeControl
from compute.models import ComputeHost

LOG = logging.getLogger(__name__)
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OUTPUT_LOGGED = 2000
"""Characters of the command's output kept in the log."""


def command(settings: Settings) -> list[str]:
    """The operator's fence command as an argv (empty when none is set)."""
    return shlex.split(settings.fence_command) if settings.fence_command.strip() else []


def run(settings: Settings, host: str, address: str) -> str | None:
    """Run the fence command for ``host``; None when it exited 0, else why it did not fence the host."""
    argv = command(settings)
    if not argv:
        return "no fence_command is set"
    if not HOST_NAME.match(host):
        return f"the host name {host!r} is not one a fence command is given"
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        return f"the host's underlay address {address!r} is not an IP address"
    try:
        done = subprocess.run(  # an argv, never a shell: the operator's command, then the checked name and address
            [*argv, host, address],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=settings.fence_timeout,
            env={"PATH": PATH, "LC_ALL": "C"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"the fence command did not finish within {settings.fence_timeout:g} s"
    except OSError as exc:
        return f"the fence command could not be run: {exc.strerror or exc}"
    output = (done.stdout + done.stderr).strip()[-OUTPUT_LOGGED:]
    if done.returncode != 0:
        return f"the fence command exited {done.returncode}: {output}"
    LOG.info("fence command for %s (%s) succeeded: %s", host, address, output)
    return None


def fence(control: ComputeControl, host: str) -> bool:
    """Whether ``host`` is fenced now, running the fence command if it is not yet (and recording its success)."""
    with control.db.session() as session:
        record = session.get(ComputeHost, host)
        if record is None:
            return False
        if fencing.is_fenced(record):
            return True
        address = record.host_ip
    error = run(control.settings, host, address)
    if error is not None:
        LOG.warning("host %s is down and could not be fenced: %s; its servers stay where they are", host, error)
        return False
    with control.db.session() as session:
        record = session.get(ComputeHost, host)
        if record is None:
            return False
        fencing.mark_fenced(record, fencing.FencedBy.FENCE_COMMAND)
    LOG.warning("host %s fenced by the fence command", host)
    return True
