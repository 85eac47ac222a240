"""How ``make test`` shares the suite among workers (tests/conftest.py), proved on a small suite of its own run by
pytest-xdist in a child process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
QUICK = "import time\n\n" + "".join(f"def test_{n}(): time.sleep(0.2)\n\n" for n in (1, 2, 3))
CRASHING = "import os\n\ndef test_1(): pass\n\ndef test_2(): os.abort()\n\ndef test_3(): pass\n"


def test_a_crashed_worker_fails_its_test_and_the_rest_of_the_suite_still_runs_to_the_end(tmp_path):
    """A worker killed by a C library's abort once left the session waiting until CI's time ran out: the crashed
    test was run again (crashing the replacement too) and finished units were handed out again, to no answer."""
    suite = tmp_path / "tests"
    suite.mkdir()
    shutil.copy(CONFTEST, suite / "conftest.py")
    for name in "abcef":
        (suite / f"test_{name}.py").write_text(QUICK)
    (suite / "test_d.py").write_text(CRASHING)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-c", "/dev/null", "--rootdir", tmp_path,
         "-p", "no:cacheprovider", "-p", "no:faulthandler", "-q", "tests"],
        cwd=tmp_path, env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1]
    assert "1 failed, 17 passed" in summary, result.stdout[-2000:]
    assert "crashed while running 'tests/test_d.py::test_2'" in result.stdout
    assert result.stdout.count("node down") == 1
