"""On a machine without Redis, PostgreSQL or Chromium the tests that need them are skipped with
one line per package to install; in CI (PHONEBRIDGE_REQUIRE_SERVICES=1) they fail instead."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.services import HIDE_SERVICES, REQUIRE_SERVICES, ROOT

# Tests that need PostgreSQL and Redis (tests/production) and Chromium (tests/browser).
NEEDING_SERVICES = ["tests/production/test_two_workers.py", "tests/browser/test_console.py"]


def run_pytest(**env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, HIDE_SERVICES: "redis-server,initdb,chromium", **env}
    environment.pop(REQUIRE_SERVICES, None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *NEEDING_SERVICES],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )


def test_missing_services_skip_their_tests_with_one_line_per_package():
    result = run_pytest()

    assert result.returncode == 0, result.stdout
    summary = [line for line in result.stdout.splitlines() if "is not installed; run" in line]
    assert len(summary) == 2, result.stdout
    assert any(
        "skipped: chromium is not installed; run `apt-get install chromium`" in line
        for line in summary
    )
    assert any(
        "skipped: initdb is not installed; run `apt-get install postgresql`" in line
        for line in summary
    )


def test_in_ci_a_missing_service_fails_its_tests():
    result = run_pytest(**{REQUIRE_SERVICES: "1"})

    assert result.returncode == 1
    assert "chromium not installed: apt-get install chromium" in result.stdout
    assert "services may not be skipped" in result.stdout
    assert " skipped" not in result.stdout.splitlines()[-1]
