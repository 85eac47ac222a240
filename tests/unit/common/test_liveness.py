"""The one down-host rule, as compute hosts, network agents and services share it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common.liveness import alive, cutoff

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=15)


def test_a_sign_of_life_within_the_grace_period_is_up_and_one_just_beyond_it_is_down() -> None:
    assert alive(NOW - GRACE, GRACE, NOW)
    assert not alive(NOW - GRACE - timedelta(microseconds=1), GRACE, NOW)


def test_never_seen_or_forced_down_is_down_however_recent() -> None:
    assert not alive(None, GRACE, NOW)
    assert not alive(NOW, GRACE, NOW, forced_down=True)


def test_the_query_cutoff_agrees_with_the_rule() -> None:
    edge = cutoff(GRACE, NOW)
    assert alive(edge, GRACE, NOW) and not alive(edge - timedelta(microseconds=1), GRACE, NOW)
