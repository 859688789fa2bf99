"""The call history in Chromium: failure stories (short in the list, whole on hover and on the
detail), sorting by duration, the date range, search and the CSV export of what is filtered."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from calls.models import Call
from tests.browser.conftest import log_in
from tests.calls.conftest import make_call

pytestmark = [pytest.mark.browser]

LONG_REASON = (
    "agent server full: the agent server answered 429 Too Many Requests three times in a row"
)


def talked(seconds: int, number: str) -> Call:
    start = timezone.now() - timedelta(hours=2)
    return make_call(
        from_number=number,
        status=Call.Status.ENDED,
        created_at=start,
        answered_at=start,
        ended_at=start + timedelta(seconds=seconds),
        hangup_cause="normal_clearing",
    )


@pytest.fixture
def history(transactional_db) -> dict[str, Call]:
    now = timezone.now()
    missed = make_call(from_number="+15550000001", created_at=now - timedelta(hours=1))
    missed.mark_ended(
        at=now - timedelta(hours=1) + timedelta(seconds=12), cause="originator_cancel"
    )
    failed = make_call(from_number="+15550000002", created_at=now - timedelta(minutes=30))
    failed.mark_failed(reason=LONG_REASON)
    return {
        "missed": missed,
        "failed": failed,
        "short": talked(20, "+15550000003"),
        "long": talked(400, "+15550000004"),
        "minute": talked(60, "+15550000005"),
    }


def rows(page) -> list[str]:
    return page.locator("#result_list tbody tr").all_inner_texts()


def test_failure_stories_are_short_in_the_list_and_whole_on_hover_and_detail(
    page, viewer_user, history
):
    log_in(page, viewer_user)
    missed_row = page.locator("#result_list tr", has_text="+15550000001")
    assert missed_row.locator(".pb-status-missed").inner_text() == "Missed"
    assert "the caller hung up after 12.0 s of ringing" in missed_row.inner_text()
    outcome = page.locator("#result_list tr", has_text="+15550000002").locator(".pb-outcome")
    shown = outcome.inner_text()
    assert shown.endswith("…")
    assert LONG_REASON not in shown
    outcome.hover()
    assert outcome.get_attribute("title") == f"Failed: {LONG_REASON}"
    page.locator("#result_list tr", has_text="+15550000002").locator("th a, td a").first.click()
    page.wait_for_url(f"**/{history['failed'].pk}/change/")
    assert LONG_REASON in page.locator("#call-outcome").inner_text()


def test_the_history_sorts_by_duration_and_filters_by_range_and_date(page, viewer_user, history):
    log_in(page, viewer_user)
    page.locator("th.column-duration_column a").first.click()
    page.wait_for_url("**o=*")
    numbers = [r for r in rows(page) if "+1555000000" in r]
    at = {
        n: i
        for i, r in enumerate(numbers)
        for n in ("+15550000003", "+15550000004", "+15550000005")
        if n in r
    }
    assert at["+15550000003"] < at["+15550000005"] < at["+15550000004"]  # 20 s, 60 s, 400 s

    page.get_by_role("link", name="5 to 30 min").click()
    page.wait_for_url("**duration=5m-30m*")
    (only,) = rows(page)
    assert "+15550000004" in only

    today = timezone.localdate().isoformat()
    page.goto("/admin/calls/call/")
    page.fill("#id_created_from", today)
    page.fill("#id_created_to", today)
    page.click("#date-range-apply")
    page.wait_for_url(f"**created_from={today}*")
    assert len(rows(page)) == 5


def test_search_then_export_downloads_exactly_the_filtered_calls(page, viewer_user, history):
    log_in(page, viewer_user)
    page.fill("#searchbar", "server full")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**q=server+full*")
    assert len(rows(page)) == 1
    assert "q=server+full" in page.locator("#export-button").get_attribute("href")
    with page.expect_download() as download:
        page.click("#export-button")
    body = Path(download.value.path()).read_text(encoding="utf-8")
    exported = list(csv.DictReader(io.StringIO(body)))
    assert [row["id"] for row in exported] == [str(history["failed"].pk)]
    assert exported[0]["failure_reason"] == LONG_REASON
    assert exported[0]["status"] == "failed"
