"""Live, everywhere, in Chromium: the history table and the detail page follow calls without a
reload, the live panel obeys the search and offers hang-up, the live media figures refresh,
and the list and detail pages fit a phone's 390 px."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.live import PANEL_ROWS
from calls.models import Call
from tests.browser.conftest import log_in
from tests.calls.conftest import CONVERSATION, FakeTelnyx, make_call

pytestmark = [pytest.mark.browser]


@pytest.fixture
def fake_telnyx(monkeypatch: pytest.MonkeyPatch) -> FakeTelnyx:
    fake = FakeTelnyx()
    monkeypatch.setattr("telephony.telnyx.call_control.get_client", fake.client)
    return fake


def now_call(**fields) -> Call:
    now = timezone.now()
    return make_call(created_at=now, last_activity_at=now, **fields)


def test_the_history_table_fills_in_calls_as_they_come_and_go(page, operator_user):
    make_call(status=Call.Status.ENDED, from_number="+15550000001")  # an hour ago
    log_in(page, operator_user)
    table = page.locator("#result_list")
    table.locator("tr", has_text="+15550000001").wait_for()

    call = now_call(status=Call.Status.RINGING, from_number="+15557778888")
    row = table.locator("tbody tr", has_text="+15557778888")
    row.locator(".pb-status-ringing").wait_for()
    # The new call is a whole row, with its checkbox, that the actions can use.
    assert row.locator("input.action-select").get_attribute("value") == str(call.pk)
    assert table.locator("tbody tr").count() == 2

    answered = timezone.now() - timedelta(seconds=30)
    call.mark_answered(at=answered)
    row.locator(".pb-status-answered").wait_for()
    call.mark_ended(at=answered + timedelta(seconds=65), cause="normal_clearing", source="caller")
    row.locator(".pb-status-ended").wait_for()
    row.locator("td", has_text="normal_clearing").wait_for()
    row.locator("td", has_text="1:05").wait_for()


def test_the_history_table_keeps_an_operators_selection(page, operator_user):
    old = make_call(status=Call.Status.ENDED, from_number="+15550000002")
    log_in(page, operator_user)
    page.locator(f"#result_list input.action-select[value='{old.pk}']").check()
    call = now_call(status=Call.Status.RINGING, from_number="+15554443333")
    page.locator("#live-calls tr", has_text="+15554443333").wait_for()
    page.wait_for_timeout(5000)  # a history refresh would have happened by now
    assert page.locator(f"#result_list input.action-select[value='{old.pk}']").is_checked()
    assert page.locator("#result_list tr", has_text="+15554443333").count() == 0
    # Cleared, the waiting change comes in, and the select-all box covers the new row.
    page.locator(f"#result_list input.action-select[value='{old.pk}']").uncheck()
    page.locator("#result_list tr", has_text="+15554443333").wait_for()
    page.locator("#action-toggle").check()
    assert page.locator(f"#result_list input.action-select[value='{call.pk}']").is_checked()
    assert "2 of 2 selected" in page.locator(".action-counter").inner_text()


def test_the_live_panel_obeys_the_search_with_a_bounded_count_and_a_link(page, operator_user):
    for _ in range(PANEL_ROWS + 2):
        now_call(status=Call.Status.STREAMING, from_number="+15551230000")
    now_call(status=Call.Status.STREAMING, from_number="+15559990000")
    log_in(page, operator_user)
    page.goto("/admin/calls/call/?q=%2B1555123")
    panel = page.locator("#live-calls")
    panel.locator("#live-count", has_text=f"({PANEL_ROWS + 2})").wait_for()
    assert panel.locator("tbody tr").count() == PANEL_ROWS
    assert "+15559990000" not in panel.inner_text()
    more = panel.locator("#live-calls-more")
    assert f"Showing {PANEL_ROWS} of {PANEL_ROWS + 2} live calls" in more.inner_text()
    more.locator("a").click()
    page.wait_for_url("**/admin/calls/call/?*live=yes*")
    assert page.locator("#result_list tbody tr").count() == PANEL_ROWS + 2


def test_an_operator_hangs_up_a_call_from_the_live_panel(page, operator_user, fake_telnyx):
    call = now_call(status=Call.Status.STREAMING, call_control_id="v3:panel-hangup")
    log_in(page, operator_user)
    row = page.locator("#live-calls tr", has_text=call.from_number)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    row.locator("button.pb-hangup").click()
    page.locator("#live-calls-note.pb-note-success", has_text="Hang-up sent.").wait_for()
    assert dialogs == [f"Hang up the call {call.from_number} → {call.to_number}?"]
    assert [r.url.path for r in fake_telnyx.requests] == [
        "/v2/calls/v3:panel-hangup/actions/hangup"
    ]
    # Telnyx confirms; the panel follows.
    call.mark_ended(at=timezone.now(), cause="normal_clearing")
    page.locator("#live-calls tr.pb-finished", has_text=call.from_number).wait_for()
    assert page.locator("#live-calls button.pb-hangup").count() == 0


def test_a_refused_hang_up_shows_telnyxs_error_in_the_panel(page, operator_user, fake_telnyx):
    fake_telnyx.fail("actions/hangup", 422, "90015", "Invalid call state", "Try again later.")
    call = now_call(status=Call.Status.STREAMING, call_control_id="v3:panel-refused")
    log_in(page, operator_user)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#live-calls tr", has_text=call.from_number).locator("button.pb-hangup").click()
    note = page.locator("#live-calls-note.pb-note-error")
    note.wait_for()
    assert "Telnyx error 90015: Invalid call state" in note.inner_text()
    assert page.locator("#live-calls button.pb-hangup").is_enabled()


def test_a_viewer_sees_no_hang_up_button_in_the_panel(page, viewer_user):
    now_call(status=Call.Status.STREAMING, from_number="+15556660000")
    log_in(page, viewer_user)
    page.locator("#live-calls tr", has_text="+15556660000").wait_for()
    assert page.locator("#live-calls button.pb-hangup").count() == 0


def test_the_detail_heading_and_breadcrumb_follow_the_status(page, operator_user):
    call = now_call(status=Call.Status.RINGING)
    log_in(page, operator_user)
    page.goto(f"/admin/calls/call/{call.pk}/change/")
    heading = page.locator("#content > h2")
    assert heading.inner_text().endswith("(ringing)")
    call.mark_answered(at=timezone.now())
    call.mark_ended(at=timezone.now(), cause="normal_clearing")
    page.locator("#content > h2", has_text="(ended)").wait_for()
    assert "(ringing)" not in page.locator(".breadcrumbs").inner_text()
    assert page.locator(".breadcrumbs").inner_text().endswith("(ended)")
    assert "(ended)" in page.title()


def test_the_live_media_figures_refresh_during_the_call_and_stay_once_it_ends(page, operator_user):
    call = now_call(
        status=Call.Status.STREAMING,
        stream_id="s-live",
        live_media={
            "caller_dbfs": -24.0,
            "agent_dbfs": -30.0,
            "frames_in": 100,
            "frames_out": 90,
            "underruns": 0,
            "lead_ms": 40,
            "updated_at": timezone.now().isoformat(),
        },
    )
    log_in(page, operator_user)
    page.goto(f"/admin/calls/call/{call.pk}/change/")
    figures = page.locator("#live-media")
    assert "100 / 90" in figures.inner_text()
    assert "-24.0 dBFS" in figures.inner_text()

    Call.objects.filter(pk=call.pk).update(
        live_media={
            "caller_dbfs": -12.5,
            "agent_dbfs": -45.0,
            "frames_in": 350,
            "frames_out": 340,
            "underruns": 3,
            "lead_ms": 60,
            "conversation": {"turn_count": 2, "latency_p50_ms": 720},
            "updated_at": timezone.now().isoformat(),
        }
    )
    figures.locator("td", has_text="350 / 340").wait_for()
    assert "-12.5 dBFS" in figures.inner_text()
    assert "720 ms" in figures.inner_text()
    assert "as of" in figures.inner_text()
    width = page.evaluate(
        "parseFloat(document.querySelector('[data-level=caller] .pb-meter > span').style.width)"
    )
    assert width == pytest.approx(79, abs=1)  # -12.5 dBFS on a -60..0 scale

    # The media session stops writing: the clock marks the figures stale.
    figures.locator(".pb-live-when.pb-warn", has_text="stale since").wait_for(timeout=15_000)

    Call.objects.filter(pk=call.pk).update(
        frames_in=400, frames_out=390, underruns=3, max_lead_ms=80, conversation=CONVERSATION
    )
    call.mark_ended(at=timezone.now(), cause="normal_clearing")
    page.locator("#live-media h3", has_text="Media figures").wait_for()
    assert "400 / 390" in figures.inner_text()
    assert "640 ms / 910 ms" in figures.inner_text()
    assert "dBFS" not in figures.inner_text()


@pytest.fixture
def phone(browser, live_asgi):
    context = browser.new_context(
        base_url=live_asgi.url,
        viewport={"width": 390, "height": 844},  # an iPhone 12 to 15, in CSS pixels
        has_touch=True,
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


WIDEST = """() => [...document.querySelectorAll('#container *')]
    .filter((el) => el.getBoundingClientRect().right > 391 && !el.closest('.results, .pb-scroll'))
    .map((el) => `${el.tagName}#${el.id}.${el.className} ${Math.round(el.getBoundingClientRect().left)}-${Math.round(el.getBoundingClientRect().right)} ${getComputedStyle(el).position}`)
    .slice(0, 40)"""


def test_the_list_and_the_detail_page_fit_a_phone(phone, operator_user, artifacts):
    call = now_call(
        status=Call.Status.STREAMING,
        from_number="+15551234567",
        answered_at=timezone.now(),
        stream_id="s-phone",
        live_media={
            "caller_dbfs": -20.0,
            "frames_in": 10,
            "updated_at": timezone.now().isoformat(),
        },
    )
    for i in range(3):
        make_call(
            status=Call.Status.FAILED,
            failure_reason="dial failed: Telnyx error 90034: Invalid destination " * 3,
            hangup_cause="unspecified",
            from_number=f"+1555000{i:04d}",
        )
    log_in(phone, operator_user)
    phone.locator("#live-calls tr", has_text="+15551234567").wait_for()
    assert phone.evaluate("window.innerWidth") == 390, phone.evaluate(WIDEST)
    assert fits(phone), phone.evaluate(WIDEST)
    phone.screenshot(path=str(artifacts / "phone-call-list.png"), full_page=True)

    phone.goto(f"/admin/calls/call/{call.pk}/change/")
    phone.locator("#live-media").wait_for()
    assert phone.evaluate("window.innerWidth") == 390, phone.evaluate(WIDEST)
    assert fits(phone), phone.evaluate(WIDEST)
    phone.screenshot(path=str(artifacts / "phone-call-detail.png"), full_page=True)
