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
