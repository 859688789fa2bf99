"""The Calls dashboard in Chromium: reached from every page's header, its figures and plot,
and its live-now count following calls without a reload."""

from __future__ import annotations

import pytest
from django.utils import timezone

from calls.models import Call
from tests.browser.conftest import log_in
from tests.calls.conftest import make_call

pytestmark = [pytest.mark.browser]


def test_the_dashboard_shows_todays_figures_and_follows_live_calls(page, operator_user, artifacts):
    now = timezone.now()
    for p50 in (600, 800, 1000):
        make_call(
            status=Call.Status.ENDED,
            created_at=now,
            last_activity_at=now,
            answered_at=now,
            conversation={"latency_p50_ms": p50},
        )
    make_call(
        status=Call.Status.FAILED,
        created_at=now,
        last_activity_at=now,
        failure_reason="agent did not arrive within 10 s",
    )
    log_in(page, operator_user)
    page.click("#nav-dashboard")
    page.wait_for_url("**/admin/calls/call/dashboard/")

    assert page.locator("#tile-today .pb-tile-value").inner_text() == "4"
    assert page.locator("#tile-answer-rate .pb-tile-value").inner_text() == "75%"
    assert page.locator("#tile-latency .pb-tile-value").inner_text() == "800 ms"
    assert page.locator("#tile-failed .pb-tile-value").inner_text() == "1"
    reasons = page.locator("#failures-by-reason").inner_text()
    assert "agent did not arrive within 10 s" in reasons
    # The plot: 24 hours, the current one holding today's four calls, one of them failed.
    hours = page.locator("#calls-per-hour .pb-hour")
    assert hours.count() == 24
    assert hours.last.get_attribute("data-calls") == "4"
    assert hours.last.get_attribute("data-failed") == "1"
    assert hours.last.locator("rect.pb-bar").bounding_box()["height"] > 0
    assert page.locator("#tile-live .pb-tile-value").inner_text() == "0"

    later = timezone.now()
    call = make_call(status=Call.Status.RINGING, created_at=later, last_activity_at=later)
    page.locator("#tile-live .pb-tile-value", has_text="1").wait_for()
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    call.mark_ended(at=timezone.now(), cause="normal_clearing")
    page.locator("#tile-live .pb-tile-value", has_text="0").wait_for()

    page.click("#tile-failed")
    page.wait_for_url("**/admin/calls/call/?*status__exact=failed*")
    assert page.locator("#result_list tbody tr").count() == 1


def test_the_calls_app_index_opens_on_the_dashboard(page, viewer_user):
    log_in(page, viewer_user)
    page.goto("/admin/calls/")
    page.locator("#dashboard #tile-live").wait_for()
    assert page.locator("#content-main, .app-calls").first.is_visible()


def test_the_dashboard_fits_a_phone(browser, live_asgi, viewer_user):
    context = browser.new_context(base_url=live_asgi.url, viewport={"width": 390, "height": 844})
    phone = context.new_page()
    try:
        log_in(phone, viewer_user)
        phone.goto("/admin/calls/call/dashboard/")
        phone.locator("#calls-per-hour svg").wait_for()
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()
