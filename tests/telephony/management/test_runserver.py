"""telephony's `runserver`: what it relies on in daphne's command and Django's autoreloader."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.core.management import get_commands
from django.utils import autoreload

from tests.framework_pins import Pins, drift
from tests.live import free_port
from tests.services import ROOT, DevServer, dev_server

# What Command.handle relies on, as reviewed (see tests/framework_pins.py): daphne's handle
# ends in Django's run(), whose autoreloader runs the whole command again in a child process
# marked RUN_MAIN=true, so preparing only where RUN_MAIN is not "true" prepares once.
# One line per pin, as `python -m tests.framework_pins` prints it.
# fmt: off
RUNSERVER_PINS: Pins = {
    "daphne.management.commands.runserver.Command.handle": ("4.2.3", "81448c358b9670d7973ae17e42187546bfe33f25488df149d1bd2daf0ecf54ec"),
    "django.core.management.commands.runserver.Command.run": ("5.2.19", "2a4489bf5bd31dad6479e1406fcf3b6e7838548c23f7abd5895e5007ebe2260d"),
    "django.utils.autoreload.run_with_reloader": ("5.2.19", "cd89ac52cc3469f19f2d1cb95e3bb0c7f7c168dcba9aa8ba1c06a2495583d9fc"),
    "django.utils.autoreload.restart_with_reloader": ("5.2.19", "cd2f3711999a1ff79129ac35e39e1de92312563e23280a918081cb19859b09b4"),
}
# fmt: on


@pytest.mark.parametrize("dotted", RUNSERVER_PINS)
def test_the_internals_runserver_relies_on_are_still_the_reviewed_ones(dotted):
    problem = drift(
        dotted,
        RUNSERVER_PINS[dotted],
        override="Command.handle (telephony/management/commands/runserver.py)",
        pins_file="RUNSERVER_PINS in tests/telephony/management/test_runserver.py",
    )
    assert problem is None, problem


def test_the_autoreloader_still_marks_its_child_with_run_main():
    assert autoreload.DJANGO_AUTORELOAD_ENV == "RUN_MAIN"


def test_runserver_is_still_telephonys_rather_than_daphnes():
    # INSTALLED_APPS lists telephony before daphne, and the first app's command wins.
    assert get_commands()["runserver"] == "telephony"


# A newcomer's server, run as README's Quick start runs it (tests/services.py's DevServer).


def run_manage(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def newcomer_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return DevServer(free_port(), tmp_path, extra_env=extra).env()


def test_the_embedded_simulator_reaches_a_server_on_any_port():
    with dev_server(args=()) as server:  # with the autoreloader, as a newcomer runs it
        info = httpx.get(f"{server.url}/_simulator/carrier", timeout=5).json()
        output = server.output()

    assert server.port != 8000
    assert info["telnyx_api_base_url"] == f"{server.url}/_simulator/telnyx/v2"
    assert f"reaching this server at {server.url}" in output


def test_a_bad_public_key_stops_runserver_with_one_line_and_no_traceback(tmp_path):
    env = newcomer_env(tmp_path, TELNYX_PUBLIC_KEY="not-a-key")

    result = run_manage("runserver", f"127.0.0.1:{free_port()}", env=env)

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("telephony.E002: TELNYX_PUBLIC_KEY")


def test_an_unreachable_database_stops_runserver_with_one_line(tmp_path):
    env = newcomer_env(tmp_path)
    env["DATABASE_URL"] = f"postgres://phonebridge@127.0.0.1:{free_port()}/phonebridge"

    result = run_manage("runserver", f"127.0.0.1:{free_port()}", env=env)

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("The database (127.0.0.1:")
    assert line.endswith("Start it, or fix DATABASE_URL in .env.")


def test_each_error_response_and_the_reloader_line_are_logged_once():
    with dev_server(args=()) as server:
        assert httpx.get(f"{server.url}/no-such-page", timeout=5).status_code == 404
        time.sleep(0.5)
        output = server.output()

    assert output.count("Not Found: /no-such-page") == 1, output
    assert output.count("HTTP GET /no-such-page") == 0, output
    assert output.count("Watching for file changes") == 1, output


def test_the_simulators_own_error_answers_are_labelled_as_the_simulators(caplog):
    from telephony.management.commands.runserver import Command

    details = {"method": "POST", "path": "/_simulator/telnyx/v2/calls", "status": 500}
    details |= {"time_taken": 0.01, "client": "127.0.0.1:1"}
    with caplog.at_level(logging.INFO, logger="django.channels.server"):
        Command().log_action("http", "complete", details)
        Command().log_action("http", "complete", {**details, "path": "/admin/x/"})

    (record,) = caplog.records
    assert "Telnyx simulator answered POST /_simulator/telnyx/v2/calls with 500" in record.message
    assert "not a phonebridge error" in record.message


@pytest.mark.parametrize(
    ("bound", "reachable"),
    [
        ("0.0.0.0", "127.0.0.1:8001"),  # noqa: S104 - a bind address, read not bound
        ("::", "[::1]:8001"),
        ("127.0.0.1", "127.0.0.1:8001"),
        ("localhost", "localhost:8001"),
    ],
)
def test_a_wildcard_bind_is_reached_on_loopback(bound, reachable):
    from telephony.telnyx.embedded import reachable_address

    assert reachable_address(bound, 8001) == reachable
