"""Settings are read once at import, so each case imports them in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from channels_redis.core import RedisChannelLayer

PROBE = """
import json
from django.conf import settings
print(json.dumps({
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "hosts": settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts"),
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "debug": settings.DEBUG,
    "simulator": settings.TELNYX_SIMULATOR,
    "api_base": settings.TELNYX_API_BASE_URL,
    "public_host": settings.PUBLIC_HOST,
    "bridge": settings.BRIDGE,
}))
"""

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "STREAM_"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "phonebridge.settings", **env})
    for name in ("DEBUG", "REDIS_URL", "DATABASE_URL", "PUBLIC_HOST", "NGROK_URL", "SECRET_KEY"):
        if name not in env:
            clean.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup();" + PROBE],
        env=clean,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 or not result.stdout, result.stderr
    return json.loads(result.stdout) if result.returncode == 0 else {"error": result.stderr}


def test_without_redis_url_the_channel_layer_is_in_memory():
    loaded = load_settings(SECRET_KEY="x")
    assert loaded["layer"] == "channels.layers.InMemoryChannelLayer"


def test_redis_url_selects_the_redis_channel_layer():
    loaded = load_settings(SECRET_KEY="x", REDIS_URL="redis://127.0.0.1:6390/2")
    assert loaded["layer"] == "telephony.channel_layer.ResilientRedisChannelLayer"
    (host,) = loaded["hosts"]
    assert host["address"] == "redis://127.0.0.1:6390/2"
    # Longer than channels_redis's 5 s blocking pop, or every idle receive times out.
    assert host["socket_timeout"] > RedisChannelLayer.brpop_timeout


def test_the_default_database_is_a_sqlite_file_in_the_project():
    loaded = load_settings(SECRET_KEY="x")
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["name"] == str(ROOT / "db.sqlite3")


def test_database_url_selects_postgresql():
    loaded = load_settings(
        SECRET_KEY="x", DATABASE_URL="postgres://pb:pw@db.internal:5433/phonebridge"
    )
    assert loaded["engine"] == "django.db.backends.postgresql"
    assert loaded["name"] == "phonebridge"


def test_production_without_a_secret_key_refuses_to_start():
    loaded = load_settings()
    assert "SECRET_KEY must be set" in loaded["error"]


def test_a_fresh_checkout_on_the_command_line_runs_in_debug_with_the_simulator():
    loaded = load_settings(PHONEBRIDGE_COMMAND_LINE="1")
    assert loaded["debug"] is True
    assert loaded["simulator"] is True
    assert loaded["api_base"] == "http://127.0.0.1:8000/_simulator/telnyx/v2"
    assert loaded["bridge"] == "echo"


def test_the_simulator_can_never_run_without_debug():
    loaded = load_settings(SECRET_KEY="x", TELNYX_SIMULATOR="true")
    assert loaded["simulator"] is False


def test_an_api_key_turns_the_simulator_off():
    loaded = load_settings(DEBUG="true", TELNYX_API_KEY="KEYreal")
    assert loaded["simulator"] is False
    assert loaded["api_base"] == "https://api.telnyx.com/v2"


def test_ngrok_url_is_an_alias_of_public_host():
    loaded = load_settings(SECRET_KEY="x", NGROK_URL="abc.ngrok.app")
    assert loaded["public_host"] == "abc.ngrok.app"


def test_stream_credentials_make_stream_the_default_bridge():
    loaded = load_settings(SECRET_KEY="x", STREAM_API_KEY="k", STREAM_API_SECRET="s")
    assert loaded["bridge"] == "stream"
