"""Debian's Chromium driven by Playwright's sync API against the live ASGI server.

Playwright's sync API refuses to run inside an asyncio loop, so these tests are plain sync
functions; the server runs on its own loop in a background thread (tests/live.py).
Never download browsers: Debian's /usr/bin/chromium is the one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from calls.models import Call
from tests.calls.conftest import staff
from tests.services import require_binary

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    """Playwright's sync API keeps an asyncio loop in this thread, which Django's async-safety
    check mistakes for async code; the ORM calls here are plain sync code. (Django's docs
    name DJANGO_ALLOW_ASYNC_UNSAFE for this; the server's async code paths are checked
    without it by the consumer and webhook tests.)"""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")
def browser(django_db_setup) -> Iterator[object]:
    # After the test database exists: creating it from inside Playwright's loop would trip
    # Django's async-safety check.
    chromium = require_binary("chromium", CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def live_asgi(transactional_db, settings):
    """tests/conftest.py's live server, plus the admin's CSS and JS: a browser test should
    see the page an operator sees (Django's StaticLiveServerTestCase does the same)."""
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from phonebridge.asgi import application
    from tests.live import serving

    with serving(ASGIStaticFilesHandler(application), settings) as server:
        yield server


@pytest.fixture
def page(browser, live_asgi):
    context = browser.new_context(base_url=live_asgi.url, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def wait_for_call(page, **lookup) -> Call:
    """The call matching `lookup` once its first webhook has given it a carrier id (10 s)."""
    for _ in range(100):
        call = Call.objects.filter(**lookup).first()
        if call is not None and call.call_control_id:
            return call
        page.wait_for_timeout(100)
    raise AssertionError(f"no call {lookup}")


def log_in(page, user: User, password: str = "pw") -> None:
    page.goto("/admin/login/?next=/admin/calls/call/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/calls/call/")


@pytest.fixture
def operator_user(transactional_db) -> User:
    return staff("operator", "calls.view_call", "calls.change_call", "calls.dial_call")


@pytest.fixture
def viewer_user(transactional_db) -> User:
    return staff("viewer", "calls.view_call")


# The Twilio account the browser tests' embedded Twilio simulator plays (the number differs
# from Telnyx's, so the Dial page shows which carrier owns which).
TWILIO_NUMBER = "+15550002222"


@pytest.fixture
def twilio_simulated_server(live_asgi, settings, tmp_path):
    """phonebridge on a live socket with the embedded Twilio simulator as its carrier (signed
    form webhooks, the REST API, the media socket), set up as tests/conftest.py's
    simulated_server sets up Telnyx's; "Simulate inbound call" and the default Dial use it."""
    from telephony.twilio import client as twilio_client
    from telephony.twilio import embedded

    settings.TELNYX_SIMULATOR = False
    settings.TWILIO_SIMULATOR = True
    settings.PHONEBRIDGE_CARRIER = "twilio"
    settings.SIMULATOR_HOST = live_asgi.host
    settings.TWILIO_ACCOUNT_SID = "AC" + "b0b5" * 8
    settings.TWILIO_AUTH_TOKEN = "browser-tests-twilio-auth-token"
    settings.TWILIO_API_KEY = settings.TWILIO_API_SECRET = ""
    settings.TWILIO_PHONE_NUMBER = TWILIO_NUMBER
    # Telnyx's number is configured, not fetched: Telnyx is not reachable in these tests.
    settings.TELNYX_FROM_NUMBERS = [settings.TELNYX_PHONE_NUMBER]
    settings.TWILIO_API_BASE_URL = f"{live_asgi.url}{embedded.DEFAULT_PREFIX}"
    settings.BRIDGE = "echo"
    settings.RECORD_CALLS = True
    settings.MEDIA_ROOT = str(tmp_path)
    embedded.reset_embedded_simulator()
    twilio_client.reset_clients()
    yield live_asgi
    live_asgi.run(embedded.embedded_simulator().carrier.aclose())
    embedded.reset_embedded_simulator()
    twilio_client.reset_clients()


@pytest.fixture(params=["telnyx", "twilio"])
def carrier(request) -> str:
    """Run a browser test once per carrier, against that carrier's embedded simulator."""
    return str(request.param)


@pytest.fixture
def carrier_server(carrier, request):
    """The live server with `carrier`'s embedded simulator (simulated_server for Telnyx)."""
    name = "twilio_simulated_server" if carrier == "twilio" else "simulated_server"
    return request.getfixturevalue(name)
