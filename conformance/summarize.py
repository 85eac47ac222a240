"""The summary of a Tempest run (conformance/run.py): reads the run's subunit stream on standard input and the ids of
every test of the chosen suites (``--tests``), and prints per suite how many passed, were skipped, failed, and are
listed in ``expected-failures.txt`` (left out of the run, or run with ``--all``). Exits 1 when a test outside the list
failed, so ``make conformance`` fails on a regression, not on what is known to be missing.

Runs in Tempest's own virtualenv: it reads subunit with the libraries Tempest brings.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import subunit
import testtools

SUITES: dict[str, str | tuple[str, ...]] = {
    "identity": "tempest.api.identity.",
    "compute.flavors": "tempest.api.compute.flavors.",
    "compute.servers.test_servers": "tempest.api.compute.servers.test_servers",
    "compute.admin.migrations": tuple(
        f"tempest.api.compute.admin.{module}."
        for module in ("test_live_migration", "test_live_migration_negative", "test_migrations")
    ),
    "image": "tempest.api.image.",
    "network": "tempest.api.network.",
    "volume": "tempest.api.volume.",
}
"""Each suite and the prefixes of its test ids (one, or a tuple of them)."""
FIXTURE = re.compile(r"^(setUpClass|tearDownClass) \((?P<cls>[\w.]+)\)$")


def test_name(test_id: str) -> str:
    """The id without Tempest's ``[id-...,smoke]`` tags."""
    return test_id.split("[", 1)[0]


def suite_of(name: str) -> str | None:
    matched = [suite for suite, prefix in SUITES.items() if name.startswith(prefix)]
    return max(matched, key=len) if matched else None


def read_expected(path: Path) -> list[tuple[re.Pattern[str], str]]:
    """Each line ``regex  # reason``; a pattern without a reason is an error (nothing is left out unexplained)."""
    patterns = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pattern, _, reason = line.partition("#")
        if not reason.strip():
            sys.exit(f"{path}:{number}: every pattern needs a reason after '#'")
        patterns.append((re.compile(pattern.strip()), reason.strip()))
    return patterns


def read_results(stream: bytes) -> dict[str, str]:
    """Test name -> ``success``, ``skip`` or ``fail``; a class whose set-up failed fails each of its tests, and one
    skipped as a whole (a feature the cloud does not offer) skips each of them."""
    results: dict[str, str] = {}
    failed_classes: set[str] = set()
    skipped_classes: set[str] = set()

    def on_test(test: dict) -> None:
        name, status = test_name(test["id"]), test["status"]
        fixture = FIXTURE.match(name)
        if fixture:
            if status == "fail":
                failed_classes.add(fixture.group("cls"))
            elif status == "skip":
                skipped_classes.add(fixture.group("cls"))
            return
        results[name] = {"success": "success", "xfail": "success", "skip": "skip"}.get(status, "fail")

    case = subunit.ByteStreamToStreamResult(__import__("io").BytesIO(stream), non_subunit_name="stdout")
    collector = testtools.StreamToDict(on_test)
    collector.startTestRun()
    case.run(collector)
    collector.stopTestRun()
    return results | {cls: "skip-class" for cls in skipped_classes} | {cls: "fail-class" for cls in failed_classes}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--suites", required=True)
    parser.add_argument("--tests", type=Path, required=True, help="every test id of the suites, one a line")
    parser.add_argument("--expected", type=Path, required=True)
    parser.add_argument("--all", action="store_true")
    args = parser.parse_args()
    suites = args.suites.split(",")
    expected = read_expected(args.expected)
    results = read_results(sys.stdin.buffer.read())
    whole_classes = {name: status[: -len("-class")] for name, status in results.items() if status.endswith("-class")}

    counts: dict[str, Counter[str]] = {suite: Counter() for suite in suites}
    unexpected: list[str] = []
    now_passing: Counter[str] = Counter()
    for line in args.tests.read_text().splitlines():
        name = test_name(line.strip())
        suite = suite_of(name)
        if not name or suite not in counts:
            continue
        reason = next((why for pattern, why in expected if pattern.search(line)), None)
        status = results.get(name)
        if status is None:
            status = whole_classes.get(name.rsplit(".", 1)[0])
        if reason is not None:
            counts[suite]["listed"] += 1
            if status == "success":
                now_passing[reason] += 1
            if not args.all:
                continue
        if status is None:
            status = "not run"
        counts[suite][status] += 1
        if status == "fail" and reason is None:
            unexpected.append(name)

    print(f"{'suite':<30} {'passed':>7} {'skipped':>8} {'failed':>7} {'listed':>7} {'not run':>8}")
    for suite in suites:
        c = counts[suite]
        print(f"{suite:<30} {c['success']:>7} {c['skip']:>8} {c['fail']:>7} {c['listed']:>7} {c['not run']:>8}")
    total = sum(counts.values(), Counter())
    print(f"{'all':<30} {total['success']:>7} {total['skip']:>8} {total['fail']:>7} {total['listed']:>7} "
          f"{total['not run']:>8}")  # fmt: skip
    for reason, number in sorted(now_passing.items()):
        print(f"now passing, listed as expected failures ({number}): {reason}")
    if unexpected:
        print(f"{len(unexpected)} failed that expected-failures.txt does not list:")
        for name in sorted(unexpected):
            print(f"  {name}")
        sys.exit(1)


if __name__ == "__main__":
    main()
