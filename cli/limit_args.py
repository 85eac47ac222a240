"""Limits on the command line: ``--RESOURCE LIMIT`` options of ``quota set`` and ``RESOURCE=LIMIT`` of
``quota defaults --set``, checked as Click would check declared options (a bad one is exit 2).

``quota set`` cannot declare one Click option per resource: the resources are the cloud's
(``cli.resources``), known only once the command runs. So it takes its arguments unparsed and this module
splits them: every ``--name`` takes exactly one value (``--name VALUE`` or ``--name=VALUE``), and the
one word left is the project, wherever it stands. Names are checked against the cloud's table afterwards,
with Click's own "No such option" (and its "Did you mean" for a near miss such as ``--ports``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from cli.resources import Resources


class LimitType(click.ParamType):
    """A quota limit: an integer of 0 or more, or -1 for unlimited (anything else is a usage error, exit 2)."""

    name = "limit"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not an integer", param, ctx)
        if number < -1:
            self.fail(f"{number} is not a limit: use a number of 0 or more, or -1 for unlimited", param, ctx)
        return number


LIMIT = LimitType()


def split_options(tokens: Sequence[str]) -> tuple[list[str], dict[str, int]]:
    """``(words, {option: limit})`` of ``quota set``'s arguments; options keep their dashes (``--port``)."""
    words: list[str] = []
    options: dict[str, int] = {}
    rest = list(tokens)
    while rest:
        token = rest.pop(0)
        if not token.startswith("--") or token == "--":
            words.append(token)
            continue
        option, sep, raw = token.partition("=")
        if not sep:
            if not rest:
                raise click.BadOptionUsage(option, f"Option '{option}' requires a limit.")
            raw = rest.pop(0)
        options[option] = LIMIT.convert(raw, None, None)
    return words, options


def resolve_options(options: Mapping[str, int], resources: Resources) -> dict[str, int]:
    """``{resource name: limit}``; an option that names no resource of the cloud is Click's "No such option"."""
    known = [f"--{r.option}" for r in resources]
    resolved = {}
    for option, limit in options.items():
        resource = resources.get(option) if option in known else None
        if resource is None:
            raise click.NoSuchOption(option, possibilities=known)
        resolved[resource.name] = limit
    return resolved


def split_assignment(value: str) -> tuple[str, int]:
    """``port=1000`` of ``--set``: the name as typed, and the limit."""
    name, sep, raw = value.partition("=")
    if not sep:
        raise click.BadParameter(f"{value!r} is not RESOURCE=LIMIT", param_hint="--set")
    return name.strip(), LIMIT.convert(raw.strip(), None, None)
