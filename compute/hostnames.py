"""Which hosts one compute agent process serves: itself, or with the fake driver N simulated hosts."""

from __future__ import annotations

from common.settings import Settings


def served_hosts(settings: Settings) -> list[str]:
    host = settings.effective_host
    if settings.compute_driver == "fake" and settings.compute_fake_hosts > 0:
        return [f"{host}-{index}" for index in range(1, settings.compute_fake_hosts + 1)]
    return [host]
