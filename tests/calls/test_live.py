"""The live panel's answer (filters, bounded rows, count, link, hang-up) and the live media
figures on the call detail page (calls/live.py, calls/live_media.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from calls.live import PANEL_ROWS
from calls.live_media import media_figures
from calls.models import Call
from tests.calls.conftest import make_call

LIVE = reverse("admin:calls_call_live")
pytestmark = pytest.mark.django_db


def panel(client, filters: str = "") -> dict:
    return client.get(LIVE, {"filters": filters}).json()


class TestThePanelObeysTheListsFilters:
    def test_the_search_box_narrows_the_panel_like_the_table(self, viewer_client):
        wanted = make_call(status=Call.Status.RINGING, from_number="+15551110000")
        make_call(status=Call.Status.RINGING, from_number="+15552220000")
        answer = panel(viewer_client, "q=%2B1+555+111")
        assert [c["id"] for c in answer["calls"]] == [str(wanted.pk)]
        assert answer["live_count"] == 1
        assert answer["filtered"] is True

    def test_a_list_filter_narrows_the_panel(self, viewer_client):
        make_call(status=Call.Status.RINGING, direction=Call.Direction.INBOUND)
        out = make_call(status=Call.Status.STREAMING, direction=Call.Direction.OUTBOUND)
        answer = panel(viewer_client, "direction__exact=outbound&p=3&o=2")
        assert [c["id"] for c in answer["calls"]] == [str(out.pk)]

    def test_filters_the_list_would_refuse_leave_the_panel_unfiltered_and_say_so(
        self, viewer_client
    ):
        call = make_call(status=Call.Status.RINGING)
        answer = panel(viewer_client, "password__startswith=a")
        assert [c["id"] for c in answer["calls"]] == [str(call.pk)]
        assert answer["filters_invalid"] is True


class TestThePanelIsBounded:
    def test_it_shows_a_few_rows_with_the_count_and_a_link_to_all(self, viewer_client):
        for _ in range(PANEL_ROWS + 3):
            make_call(status=Call.Status.STREAMING)
        answer = panel(viewer_client, "direction__exact=inbound")
        assert len(answer["calls"]) == PANEL_ROWS
        assert (answer["live_count"], answer["live_shown"]) == (PANEL_ROWS + 3, PANEL_ROWS)
        url = answer["all_live_url"]
        assert url.startswith(reverse("admin:calls_call_changelist") + "?")
        assert "live=yes" in url
        assert "direction__exact=inbound" in url
        listed = viewer_client.get(url).content.decode()
        assert listed.count('class="action-select"') == PANEL_ROWS + 3

    def test_live_calls_come_before_calls_that_just_ended(self, viewer_client):
        now = timezone.now()
        for _ in range(PANEL_ROWS):
            make_call(status=Call.Status.ENDED, created_at=now, last_activity_at=now)
        old_live = make_call(status=Call.Status.RINGING)  # created an hour ago
        answer = panel(viewer_client)
        assert answer["calls"][0]["id"] == str(old_live.pk)
        assert len(answer["calls"]) == PANEL_ROWS

    def test_a_changed_panel_costs_a_bounded_number_of_queries(self, viewer_client):
        for _ in range(30):
            make_call(status=Call.Status.STREAMING)
        with CaptureQueriesContext(connection) as queries:
            panel(viewer_client, "q=%2B1555&hangup_cause=normal_clearing")
        ours = [q for q in queries if "calls_call" in q["sql"]]
        assert len(ours) <= 4  # the marker, the rows, the count, the hangup-cause choices


class TestPerRowHangUp:
    def test_operators_may_hang_up_from_the_panel_and_viewers_may_not(
        self, operator_client, viewer_client
    ):
        call = make_call(status=Call.Status.STREAMING)
        row = panel(operator_client)["calls"][0]
        assert row["hangup_url"] == reverse("admin:calls_call_control", args=[call.pk, "hangup"])
        assert panel(operator_client)["can_hang_up"] is True
        assert panel(viewer_client)["can_hang_up"] is False
        assert viewer_client.post(row["hangup_url"]).status_code == 403


class TestLiveMediaFigures:
    def test_a_streaming_call_shows_its_latest_snapshot(self, viewer_client):
        now = timezone.now()
        call = make_call(
            status=Call.Status.STREAMING,
            stream_id="s-1",
            live_media={
                "caller_dbfs": -18.25,
                "agent_dbfs": -32.0,
                "frames_in": 1500,
                "frames_out": 1490,
                "underruns": 2,
                "lead_ms": 60,
                "frames_shed": 0,
                "frames_early": 1,
                "conversation": {"turn_count": 3, "latency_p50_ms": 700, "latency_max_ms": 900},
                "updated_at": now.isoformat(),
            },
        )
        html = viewer_client.get(reverse("admin:calls_call_change", args=[call.pk])).content
        text = html.decode()
        assert 'id="live-media"' in text
        assert "-18.2 dBFS" in text or "-18.3 dBFS" in text
        assert "1500 / 1490" in text
        assert "700 ms / 900 ms" in text
        assert '<span class="pb-live-state">as of</span>' in text

    def test_any_key_may_be_missing_or_damaged(self):
        call = Call(
            status=Call.Status.STREAMING,
            live_media={"caller_dbfs": "loud", "frames_in": True, "lead_ms": float("nan")},
        )
        figures = media_figures(call)
        assert figures is not None
        assert figures["levels"] == [("Caller", None), ("Agent", None)]
        assert (figures["frames_in"], figures["lead_ms"], figures["updated_at"]) == (
            None,
            None,
            None,
        )
        assert figures["conversation"] is None

    def test_a_snapshot_that_stopped_coming_is_marked_stale(self):
        old = timezone.now() - timedelta(seconds=30)
        call = Call(status=Call.Status.STREAMING, live_media={"updated_at": old.timestamp()})
        figures = media_figures(call)
        assert figures["stale"] is True
        assert abs((figures["updated_at"] - old).total_seconds()) < 0.01

    def test_an_ended_call_shows_its_final_figures(self, viewer_client):
        call = make_call(
            status=Call.Status.ENDED,
            stream_id="s-2",
            frames_in=900,
            frames_out=880,
            underruns=4,
            max_lead_ms=80,
            live_media={"caller_dbfs": -10.0},
            ended_at=timezone.now(),
        )
        figures = media_figures(call)
        assert figures["live"] is False
        assert (figures["frames_in"], figures["underruns"], figures["lead_ms"]) == (900, 4, 80)
        text = viewer_client.get(reverse("admin:calls_call_change", args=[call.pk])).content
        assert b"Largest lead over real time" in text
        assert b"-10.0 dBFS" not in text

    def test_a_new_snapshot_changes_the_detail_pages_marker(self, viewer_client):
        call = make_call(status=Call.Status.STREAMING, live_media={"frames_in": 1})
        url = reverse("admin:calls_call_live_detail", args=[call.pk])
        marker = viewer_client.get(url).json()["marker"]
        Call.objects.filter(pk=call.pk).update(live_media={"frames_in": 51})
        changed = viewer_client.get(url, {"since": marker}).json()
        assert changed["changed"]
        assert "51 / —" in changed["fragments"]["live"]["html"]
