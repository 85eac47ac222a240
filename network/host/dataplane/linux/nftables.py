"""Loading the rendered firewall script, only when the kernel does not already hold exactly that script.

The script replaces both tables in one ``nft -f`` transaction, so packets see either the old rules or the new
ones, never a half-loaded mix. After a load the driver records the script's digest and the tables' kernel
handles; a table that was deleted or replaced since (by hand, or by a host namespace being recreated) has
another handle or none, and is loaded again. Equal digest and equal handles: nothing to do, one read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from network.host.dataplane.linux import inspect
from network.host.dataplane.linux.firewall import TABLE, check_script
from network.host.dataplane.linux.runner import Runner

FAMILIES = ("bridge", "inet")


class Firewall:
    def __init__(
        self,
        runner: Runner,
        netns: str | None,
        directory: Path,
        table: str = TABLE,
        families: tuple[str, ...] = FAMILIES,
    ) -> None:
        """``table`` in each of ``families``: the security groups' two tables, or a router's NAT table."""
        self.runner = runner
        self.netns = netns
        self.table = table
        self.families = families
        self.record = directory / "firewall.json"
        self.loaded = directory / "firewall.nft"
        """The last script loaded, kept for the operator who wants to read what the host enforces."""

    def _handles(self) -> dict[str, int | None]:
        tables = inspect.nft_tables(self.runner, self.netns)
        return {family: tables.get((family, self.table)) for family in self.families}

    def converge(self, script: str | None) -> None:
        """Make the kernel hold ``script``; None: hold none of our tables. A script with anything but our own
        syntax (``firewall.check_script``) raises ``UnsafeValue`` and the kernel keeps what it holds."""
        if script is not None:
            check_script(script)  # whoever rendered it: nothing but our own syntax is loaded into the kernel
        handles = self._handles()
        if script is None:
            for family, handle in handles.items():
                if handle is not None:
                    self.runner.write(["nft", "delete", "table", family, self.table], self.netns)
            self.record.unlink(missing_ok=True)
            self.loaded.unlink(missing_ok=True)
            return
        wanted = hashlib.sha256(script.encode()).hexdigest()
        try:
            recorded = json.loads(self.record.read_text())
        except (OSError, ValueError):
            recorded = {}
        if recorded == {"digest": wanted, "handles": handles} and None not in handles.values():
            return
        self.record.unlink(missing_ok=True)  # a failed load must not look loaded
        self.runner.write(["nft", "-f", "-"], self.netns, input=script)
        self.record.parent.mkdir(parents=True, exist_ok=True)
        self.loaded.write_text(script)
        self.record.write_text(json.dumps({"digest": wanted, "handles": self._handles()}))
