"""README's production environment passes Django's deployment checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k3P9qX2vLz8WmN4rT7yB1cF6hJ0sD5gA9eR2uI8oP3lK7jH4nM1bV6cX0zQ5wE8tY",
    "ALLOWED_HOSTS": "phonebridge.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://phonebridge.example.com",
    "PUBLIC_HOST": "phonebridge.example.com",
    "BEHIND_TLS_PROXY": "true",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "TELNYX_API_KEY": "KEYproduction",
    "TELNYX_PUBLIC_KEY": "PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=",
    "TELNYX_CALL_CONTROL_APP_ID": "1000000000000000001",
    "PHONEBRIDGE_READ_DOT_ENV": "0",
}


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "STREAM_", "DJANGO_"))
    }
    env.pop("PHONEBRIDGE_COMMAND_LINE", None)
    env.update(PRODUCTION, DJANGO_SETTINGS_MODULE="phonebridge.settings")
    # A database of its own: the checkout's db.sqlite3 may hold the local admin/admin login,
    # which --deploy rightly reports.
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
