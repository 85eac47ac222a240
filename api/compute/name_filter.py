"""``GET /servers?name=``: the user's regular expression, run by a linear-time engine.

Nova's semantics: the name filter is a regular expression *searched* in the server's name, case-sensitively (as
Nova on SQLite, through oslo.db's ``REGEXP``, and on PostgreSQL's ``~``; only MySQL's collation ignores case), so
``?name=bob`` lists ``bob`` and ``bobby``. Python's ``re`` backtracks: ``^(a+)+$`` against a long name of ``a``s
ending in ``b`` takes exponential time and would pin an API thread. RE2 runs in time linear in the name for
every pattern; the price is that backreferences and lookaround, which need backtracking, are refused (PostgreSQL
refuses backreferences across alternations too). An invalid or refused pattern is a 400.
"""

from __future__ import annotations

from collections.abc import Callable

import re2

from common.exceptions import BadRequest

MAX_PATTERN_LENGTH = 1024
"""Longest pattern taken (a server name is at most 255 characters; RE2's memory grows with the pattern)."""

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a user's bad pattern is their 400, not a line in the API's log
_OPTIONS.never_capture = True  # only "does it match" is asked: no submatch bookkeeping


def matcher(pattern: str) -> Callable[[str], bool]:
    """A test of a name against the user's ``pattern``; BadRequest when the pattern is invalid or too long."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise BadRequest(f"Invalid name filter: longer than {MAX_PATTERN_LENGTH} characters")
    try:
        compiled = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise BadRequest(
            f"Invalid name filter: {pattern!r} is not a regular expression RE2 accepts ({reason})"
        ) from None
    return lambda name: compiled.search(name) is not None
