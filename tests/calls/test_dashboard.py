"""The Calls dashboard (calls/dashboard.py): today's figures in TIME_ZONE, failures by reason,
median turn latency and calls per hour, each one bounded aggregate query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from calls.dashboard import HOURS, figures
from calls.models import Call
from tests.calls.conftest import make_call, staff

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("admin:calls_call_dashboard")
# 15:20 in New York (UTC-5 in winter): "today" began at 05:00 UTC.
NOW = datetime(2026, 1, 15, 20, 20, tzinfo=UTC)


@pytest.fixture(autouse=True)
def new_york(settings):
    settings.TIME_ZONE = "America/New_York"


def at(hours_ago: float, **fields) -> Call:
    when = NOW - timedelta(hours=hours_ago)
    return make_call(created_at=when, last_activity_at=when, **fields)


def answered(hours_ago: float, **fields) -> Call:
    when = NOW - timedelta(hours=hours_ago)
    return at(hours_ago, answered_at=when, **fields)


def test_today_begins_at_local_midnight_in_time_zone():
    at(15.5, status=Call.Status.ENDED)  # 23:50 yesterday in New York, 04:50 UTC today
    at(15.0, status=Call.Status.ENDED)  # 00:20 today in New York
    found = figures(NOW)
    assert found["calls_today"] == 1
    assert found["midnight"] == datetime(2026, 1, 15, tzinfo=ZoneInfo("America/New_York"))


def test_the_answer_rate_counts_only_calls_that_were_decided():
    answered(1, status=Call.Status.ENDED)
    answered(2, status=Call.Status.ENDED)
    at(3, status=Call.Status.ENDED, hangup_cause="timeout")
    at(4, status=Call.Status.FAILED, failure_reason="dial failed: Telnyx error 90018")
    at(0.01, status=Call.Status.RINGING)  # undecided yet
    answered(0.02, status=Call.Status.STREAMING)
    found = figures(NOW)
    assert (found["calls_today"], found["answered_today"], found["decided_today"]) == (6, 3, 5)
    assert found["answer_rate"] == 60
    assert found["live_now"] == 2


def test_failures_are_grouped_by_reason_most_frequent_first():
    for _ in range(3):
        at(1, status=Call.Status.FAILED, failure_reason="agent did not arrive within 10 s")
    at(2, status=Call.Status.FAILED, failure_reason="dial failed: Telnyx error 90018: Call ended")
    at(2, status=Call.Status.FAILED, hangup_cause="unspecified")
    at(2, status=Call.Status.FAILED)
    at(30, status=Call.Status.FAILED, failure_reason="yesterday's")
    found = figures(NOW)
    assert found["failed_today"] == 6
    assert [(f["reason"], f["calls"]) for f in found["failures"]] == [
        ("agent did not arrive within 10 s", 3),
        ("dial failed: Telnyx error 90018: Call ended", 1),
        ("no reason recorded", 1),
        ("unspecified", 1),
    ]


def test_the_median_turn_latency_is_the_median_of_todays_calls():
    for p50 in (900, 500, 700, 1300):
        answered(1, status=Call.Status.ENDED, conversation={"latency_p50_ms": p50})
    answered(1, status=Call.Status.ENDED, conversation={"latency_p50_ms": None})
    answered(1, status=Call.Status.ENDED, conversation={"turn_count": 0})
    answered(30, status=Call.Status.ENDED, conversation={"latency_p50_ms": 10})
    assert figures(NOW)["median_latency_ms"] == 800
    answered(1, status=Call.Status.ENDED, conversation={"latency_p50_ms": 650.5})
    assert figures(NOW)["median_latency_ms"] == 700


def test_no_calls_today_shows_no_rate_and_no_latency():
    found = figures(NOW)
    assert (found["answer_rate"], found["median_latency_ms"], found["failures"]) == (None, None, [])
    assert [bar.calls for bar in found["hours"]] == [0] * HOURS


def test_calls_per_hour_covers_the_last_24_local_hours():
    at(0.1)  # 15:14 local, the current hour
    at(0.2, status=Call.Status.FAILED)
    at(1.0)  # 14:20
    at(23.0)  # 16:20 yesterday: the first bucket
    at(23.5)  # 15:50 yesterday: the hour of the current one, a day ago, is not shown
    bars = figures(NOW)["hours"]
    assert len(bars) == HOURS
    assert (bars[-1].label, bars[-1].calls, bars[-1].failed) == ("15", 2, 1)
    assert (bars[-2].label, bars[-2].calls) == ("14", 1)
    assert (bars[0].label, bars[0].calls) == ("16", 1)
    assert sum(bar.calls for bar in bars) == 4
    assert bars[-1].height > bars[-2].height > 0


def test_the_figures_cost_the_same_few_queries_however_many_calls():
    for i in range(40):
        answered(i % 20, status=Call.Status.ENDED, conversation={"latency_p50_ms": 500 + i})
    with CaptureQueriesContext(connection) as queries:
        figures(NOW)
    assert len(queries) == 6  # live, today's counts, reasons, latency count + middle, hours


def test_the_dashboard_needs_the_view_permission(viewer_client):
    assert viewer_client.get(DASHBOARD).status_code == 200
    nobody = Client()
    nobody.force_login(staff("nobody"))
    assert nobody.get(DASHBOARD).status_code == 403


def test_the_dashboard_page_shows_the_tiles_and_the_plot(viewer_client):
    make_call(status=Call.Status.STREAMING)
    html = viewer_client.get(DASHBOARD).content.decode()
    assert 'id="tile-live"' in html
    assert "live now" in html
    assert "<svg" in html
    assert html.count('class="pb-hour"') == HOURS
    assert 'href="/admin/calls/call/?live=yes"' in html


def test_the_calls_app_index_opens_on_the_dashboard(viewer_client):
    html = viewer_client.get(reverse("admin:app_list", args=["calls"])).content.decode()
    assert 'id="dashboard"' in html
    assert 'id="tile-today"' in html


def test_every_admin_page_links_to_the_dashboard(viewer_client):
    html = viewer_client.get(reverse("admin:index")).content.decode()
    assert f'href="{DASHBOARD}" id="nav-dashboard"' in html


def test_todays_calls_are_also_counted_per_carrier_in_the_same_query():
    answered(1, status=Call.Status.ENDED)
    at(2, status=Call.Status.FAILED, failure_reason="dial failed")
    answered(3, status=Call.Status.ENDED, carrier=Call.Carrier.TWILIO, call_control_id="CA1")
    at(30, carrier=Call.Carrier.TWILIO, call_control_id="CA2")  # yesterday: not counted
    found = figures(NOW)
    carriers = {row["carrier"]: row for row in found["carriers"]}
    assert (carriers["telnyx"]["calls"], carriers["telnyx"]["failed"]) == (2, 1)
    assert carriers["telnyx"]["answer_rate"] == 50
    assert (carriers["twilio"]["calls"], carriers["twilio"]["answer_rate"]) == (1, 100)
    assert (found["calls_today"], found["failed_today"], found["answer_rate"]) == (3, 1, 67)
    assert "carrier__exact=twilio" in carriers["twilio"]["link"]


def test_the_page_shows_the_carriers_side_by_side_only_when_there_are_two(viewer_client):
    now = timezone.now()  # the page reads the real clock
    make_call(created_at=now)
    assert 'id="calls-by-carrier"' not in viewer_client.get(DASHBOARD).content.decode()
    make_call(created_at=now, carrier=Call.Carrier.TWILIO, call_control_id="CA1")
    page = viewer_client.get(DASHBOARD).content.decode()
    assert 'id="calls-by-carrier"' in page
    assert "pb-carrier-twilio" in page
