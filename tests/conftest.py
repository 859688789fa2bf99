from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.test import AsyncClient, Client
from nacl.signing import SigningKey

from telephony.telnyx import client as telnyx_client
from tests.environment import TEST_SIGNING_SEED
from tests.services import REQUIRE_SERVICES

# Shared fixtures kept in their own modules.
pytest_plugins = ["tests.db_writes"]

# tests/services.py's missing_reason(): "<binary> not installed: apt-get install <package>".
_MISSING_SERVICE = re.compile(r"(?P<binary>\S+) not installed: apt-get install (?P<package>\S+)")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per missing system package, however many tests it skipped."""
    skipped: Counter[tuple[str, str]] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr or "")
        found = _MISSING_SERVICE.search(reason)
        if found:
            skipped[(found["binary"], found["package"])] += 1
    for (binary, package), count in sorted(skipped.items()):
        terminalreporter.write_line(
            f"{count} test{'s' if count != 1 else ''} skipped: {binary} is not installed; "
            f"run `apt-get install {package}` (or .ci/run) to run them. "
            f"{REQUIRE_SERVICES}=1 turns these skips into failures.",
            yellow=True,
            bold=True,
        )


@pytest.fixture
def signing_key() -> SigningKey:
    return SigningKey(TEST_SIGNING_SEED)


def sign(key: SigningKey, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(ts.encode() + b"|" + body).signature
    return {
        "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
        "telnyx-timestamp": ts,
    }


def webhook(event_type: str, payload: dict[str, Any], **data: Any) -> dict[str, Any]:
    """A Telnyx v2 webhook envelope (telnyx-protocol.md §2.1)."""
    return {
        "data": {
            "record_type": "event",
            "event_type": event_type,
            "id": data.pop("id", str(uuid.uuid4())),
            "occurred_at": data.pop("occurred_at", "2026-11-22T10:00:00.000000Z"),
            "payload": payload,
            **data,
        },
        "meta": {"attempt": 1, "delivered_to": "https://phonebridge.test/telnyx/events"},
    }


@pytest.fixture
def post_webhook(client: Client, signing_key: SigningKey) -> Callable[..., Any]:
    def post(envelope: dict[str, Any] | bytes, **headers: str) -> Any:
        body = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
        return client.post(
            "/telnyx/events",
            data=body,
            content_type="application/json",
            headers={**sign(signing_key, body), **headers},
        )

    return post


@pytest.fixture
def async_post_webhook(signing_key: SigningKey) -> Callable[..., Any]:
    aclient = AsyncClient()

    async def post(envelope: dict[str, Any] | bytes, **headers: str) -> Any:
        body = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
        return await aclient.post(
            "/telnyx/events",
            data=body,
            content_type="application/json",
            headers={**sign(signing_key, body), **headers},
        )

    return post


@pytest.fixture(autouse=True)
def _fresh_telnyx_clients():
    """Each test's event loop gets its own client, built from that test's settings."""
    telnyx_client.reset_clients()
    yield
    telnyx_client.reset_clients()


@pytest.fixture(autouse=True)
def _simulator_stays_where_tests_put_it(settings):
    """Tests set SIMULATOR_HOST and the URLs derived from it themselves; the simulator
    following the server (telephony.telnyx.embedded.follow_server) is tested by opting in."""
    settings.SIMULATOR_FOLLOWS_SERVER = []


@pytest.fixture
def live_asgi(transactional_db, settings):
    """phonebridge's ASGI app on a free port; PUBLIC_HOST points at it."""
    from phonebridge.asgi import application
    from tests.live import serving

    with serving(application, settings) as server:
        yield server


@pytest.fixture
def simulated_server(live_asgi, settings, tmp_path):
    """phonebridge on a live socket, with the embedded Telnyx simulator as its carrier."""
    from telephony.telnyx import embedded

    seed = b"phonebridge tests' simulator key"
    settings.TELNYX_SIMULATOR = True
    settings.SIMULATOR_HOST = live_asgi.host
    settings.SIMULATOR_SIGNING_SEED = seed
    settings.TELNYX_API_KEY = "KEYSIMULATED"
    settings.TELNYX_API_BASE_URL = f"{live_asgi.url}/_simulator/telnyx/v2"
    settings.TELNYX_PUBLIC_KEY = base64.b64encode(bytes(SigningKey(seed).verify_key)).decode()
    settings.BRIDGE = "echo"
    settings.RECORD_CALLS = True
    settings.MEDIA_ROOT = str(tmp_path)
    # The embedded carrier is built once per process from the settings: build it afresh for
    # this server's port.
    embedded.reset_embedded_simulator()
    yield live_asgi
    live_asgi.run(embedded.embedded_simulator().carrier.aclose())
    embedded.reset_embedded_simulator()
