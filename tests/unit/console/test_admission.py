"""The checks before a console websocket is accepted, in their order, with hand-written token and database
stand-ins (the real ones are exercised end to end in tests/functional/compute/test_remote_consoles.py)."""

from __future__ import annotations

from compute.consoles import ConsoleTarget
from console import admission, origins

TARGET = ConsoleTarget("0d8e5f2a-1c3b-4e6f-8a9b-7c6d5e4f3a21", "p1", "fake-1", "127.0.0.1", 10042, "serial")
ALLOWED = frozenset({("https", "cloud.example.com", 443)})
TOKEN = "a" * 43


class Tokens:
    """One token, spent on first redemption, as GETDEL does."""

    def __init__(self, target: ConsoleTarget) -> None:
        self.stored: dict[str, ConsoleTarget] = {TOKEN: target}
        self.asked: list[str] = []

    def redeem(self, token: str) -> ConsoleTarget | None:
        self.asked.append(token)
        return self.stored.pop(token, None)


def admit(path: str, origin: str | None = None, running: bool = True, tokens: Tokens | None = None):
    tokens = tokens or Tokens(TARGET)
    return admission.admit(path, origin, ALLOWED, tokens.redeem, lambda target: running)


def test_a_valid_token_is_admitted_once() -> None:
    tokens = Tokens(TARGET)
    assert admit(f"/serial?token={TOKEN}", "https://cloud.example.com", tokens=tokens) == TARGET
    again = admit(f"/serial?token={TOKEN}", tokens=tokens)
    assert isinstance(again, admission.Refusal) and again.status == 401


def test_a_foreign_origin_is_refused_before_the_token_is_spent() -> None:
    tokens = Tokens(TARGET)
    refusal = admit(f"/serial?token={TOKEN}", "https://evil.example", tokens=tokens)
    assert refusal == admission.Refusal(403, "This page's Origin may not open consoles.")
    assert tokens.asked == [] and TOKEN in tokens.stored


def test_unknown_paths_and_missing_or_repeated_tokens_are_refused() -> None:
    assert admit(f"/spice?token={TOKEN}").status == 404
    assert admit("/serial").status == 401
    assert admit(f"/serial?token={TOKEN}&token={TOKEN}").status == 401
    assert admit("/serial?token=").status == 401


def test_a_serial_token_does_not_open_the_display() -> None:
    refusal = admit(f"/vnc?token={TOKEN}")
    assert refusal.status == 401 and "serial console, not vnc" in refusal.reason


def test_a_server_no_longer_running_there_is_refused() -> None:
    assert admit(f"/serial?token={TOKEN}", running=False).status == 409


def test_origin_parsing_ignores_case_and_default_ports() -> None:
    assert origins.parse("HTTPS://Cloud.Example.com") == ("https", "cloud.example.com", 443)
