"""phonebridge/checks.py: host names, the shared services and the local login, one line each."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core import checks

from phonebridge.checks import check_hosts
from tests.environment import TEST_SIGNING_SEED, _public_key_b64
from tests.live import free_port
from tests.services import ROOT, worker_env

PUBLIC_KEY = _public_key_b64(TEST_SIGNING_SEED)


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_an_allowed_host_pasted_with_its_scheme_is_an_error_with_the_fix(settings):
    settings.ALLOWED_HOSTS = ["https://phonebridge.example.com/"]
    settings.PUBLIC_HOST = ""

    (message,) = check_hosts()

    assert message.id == "phonebridge.E001"
    assert "'https://phonebridge.example.com/' has a scheme" in message.msg
    assert message.hint == "Write the host name alone: ALLOWED_HOSTS=phonebridge.example.com"


def test_a_public_host_missing_from_allowed_hosts_is_an_error(settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["phonebridge.example.com"]
    settings.PUBLIC_HOST = "abc123.ngrok.app"

    (message,) = check_hosts()

    assert message.id == "phonebridge.E002"
    assert "ALLOWED_HOSTS=phonebridge.example.com,abc123.ngrok.app" in message.hint


@pytest.mark.parametrize(
    ("allowed", "public"),
    [
        (["phonebridge.example.com"], "https://phonebridge.example.com/"),
        ([".ngrok.app"], "abc123.ngrok.app"),
        ([], "127.0.0.1:8000"),  # DEBUG with no ALLOWED_HOSTS accepts the loopback
    ],
)
def test_a_public_host_that_allowed_hosts_matches_passes(settings, allowed, public):
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = allowed
    settings.PUBLIC_HOST = public
    assert check_hosts() == []


def test_a_telnyx_number_not_in_e164_is_an_error(settings):
    settings.TELNYX_PHONE_NUMBER = "555-0100"
    assert "telephony.E009" in ids(checks.run_checks())


def test_an_unknown_default_country_is_an_error(settings):
    settings.DEFAULT_COUNTRY = "Narnia"
    assert "telephony.E010" in ids(checks.run_checks())


def manage_check(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = worker_env(PUBLIC_HOST="127.0.0.1", TELNYX_PUBLIC_KEY=PUBLIC_KEY, **env)
    environment.pop("REDIS_URL", None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def unreachable_postgres() -> str:
    return f"postgres://phonebridge@127.0.0.1:{free_port()}/phonebridge"


def test_check_with_database_reports_an_unreachable_database_in_one_line():
    result = manage_check("--database", "default", DATABASE_URL=unreachable_postgres())

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "phonebridge.E003) The database 'default' does not answer" in result.stderr
    assert "HINT: Start it, or fix DATABASE_URL." in result.stderr


def test_check_deploy_reports_an_unreachable_redis(tmp_path):
    url = f"redis://127.0.0.1:{free_port()}/0"
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    result = manage_check("--deploy", REDIS_URL=url, DATABASE_URL=db)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "phonebridge.E004) Redis at REDIS_URL does not answer" in result.stderr


def test_plain_check_does_not_reach_for_the_services():
    result = manage_check(DATABASE_URL=unreachable_postgres())
    assert result.returncode == 0, result.stderr


def test_check_deploy_passes_when_the_services_answer(tmp_path):
    result = manage_check("--deploy", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert "phonebridge.E003" not in result.stderr
    assert "phonebridge.E004" not in result.stderr
