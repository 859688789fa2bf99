"""Calls to CSV: the selected ones (an action), or the whole filtered list (the Export button),
streamed."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from django.core.files.base import ContentFile

from calls.export import COLUMNS, cell
from calls.models import Call
from tests.calls.conftest import CONVERSATION, T0, finished_call, make_call

pytestmark = pytest.mark.django_db

LIST = "/admin/calls/call/"
EXPORT = "/admin/calls/call/export/"


def rows_of(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.streaming  # rows are written as they are read, not built in memory
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="calls-')
    body = b"".join(
        part if isinstance(part, bytes) else part.encode() for part in response.streaming_content
    )
    return list(csv.DictReader(io.StringIO(body.decode())))


def export(client, *calls) -> list[dict[str, str]]:
    response = client.post(
        LIST, {"action": "export_csv", "_selected_action": [str(c.pk) for c in calls]}
    )
    return rows_of(response)


def test_it_exports_ids_numbers_times_duration_cause_and_stats(viewer_client):
    call = finished_call(frames_in=450, frames_out=440, underruns=3, bridge_status="joined")
    make_call()  # not selected
    (row,) = export(viewer_client, call)
    assert row["id"] == str(call.pk)
    assert row["call_control_id"] == call.call_control_id
    assert (row["from"], row["to"]) == ("+15557654321", "+15550001111")
    assert datetime.fromisoformat(row["created_at"]) == call.created_at
    assert row["duration_s"] == "8.0"
    assert row["hangup_cause"] == "normal_clearing"
    assert (row["frames_in"], row["frames_out"], row["underruns"]) == ("450", "440", "3")
    assert row["bridge_status"] == "joined"
    assert row["has_recording"] == "False"


def test_it_has_one_column_per_name(viewer_client):
    (row,) = export(viewer_client, make_call())
    assert list(row) == [name for name, _ in COLUMNS]


def test_it_exports_in_the_order_the_calls_were_made(viewer_client):
    later = make_call(created_at=T0)
    earlier = make_call(created_at=T0 - timedelta(minutes=5))
    rows = export(viewer_client, later, earlier)
    assert [row["id"] for row in rows] == [str(earlier.pk), str(later.pk)]


def test_it_defuses_caller_ids_that_a_spreadsheet_would_run_as_formulas(viewer_client):
    (row,) = export(viewer_client, make_call(from_number='=HYPERLINK("http://evil")'))
    assert row["from"] == '\'=HYPERLINK("http://evil")'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+15551234567", "+15551234567"),
        ("-12", "-12"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        (None, ""),
        (12, "12"),
    ],
)
def test_cell_leaves_numbers_alone_and_quotes_formulas(value, expected):
    assert cell(value) == expected


def test_it_exports_the_conversation_figures_and_blanks_for_a_call_without_them(viewer_client):
    measured = finished_call(conversation=CONVERSATION)
    rows = {row["id"]: row for row in export(viewer_client, measured, make_call())}
    row = rows[str(measured.pk)]
    assert (row["turns"], row["turn_latency_p50_ms"], row["turn_latency_max_ms"]) == (
        "2",
        "640",
        "910",
    )
    assert (row["caller_talk_ms"], row["agent_talk_ms"]) == ("4200", "7300")
    assert (row["caller_interruptions"], row["agent_interruptions"]) == ("1", "0")
    assert row["long_silences"] == "1"
    (blank,) = [row for pk, row in rows.items() if pk != str(measured.pk)]
    assert blank["turns"] == blank["turn_latency_p50_ms"] == ""


# The Export button: the whole filtered list --------------------------------------------


def test_the_export_button_exports_every_matching_call_not_only_the_first_page(viewer_client):
    ended = [
        make_call(status=Call.Status.ENDED, created_at=T0 - timedelta(seconds=i)) for i in range(60)
    ]
    make_call(status=Call.Status.FAILED)
    rows = rows_of(viewer_client.get(EXPORT, {"status__exact": "ended"}))
    assert len(rows) == 60  # the list shows 50 a page
    assert {row["id"] for row in rows} == {str(call.pk) for call in ended}


def test_the_export_follows_the_search_and_the_lists_order(viewer_client):
    older = make_call(from_number="+15551110000", created_at=T0 - timedelta(minutes=1))
    newer = make_call(from_number="+15551110001", created_at=T0)
    make_call(from_number="+15559990000")
    rows = rows_of(viewer_client.get(EXPORT, {"q": "+1555111"}))
    assert [row["id"] for row in rows] == [str(newer.pk), str(older.pk)]  # newest first
    rows = rows_of(viewer_client.get(EXPORT, {"q": "+1555111", "o": "1"}))  # by Started, up
    assert [row["id"] for row in rows] == [str(older.pk), str(newer.pk)]


def test_the_export_follows_the_duration_filter(viewer_client):
    short = finished_call()  # answered at +1 s, ended at +9 s
    long = make_call(answered_at=T0, ended_at=T0 + timedelta(minutes=3), status="ended")
    rows = rows_of(viewer_client.get(EXPORT, {"duration": "1m-5m"}))
    assert [row["id"] for row in rows] == [str(long.pk)]
    assert short.pk != long.pk


def test_the_list_has_an_export_button_that_keeps_the_current_filters(viewer_client):
    page = viewer_client.get(LIST, {"status__exact": "ended", "q": "+1555"}).content.decode()
    assert 'id="export-button"' in page
    assert f'href="{EXPORT}?q=%2B1555&amp;status__exact=ended"' in page


def test_filters_the_list_cannot_apply_export_nothing_and_say_so(viewer_client):
    response = viewer_client.get(EXPORT, {"answered_at__gte": "not a date"}, follow=True)
    assert response.redirect_chain[-1][0] == LIST
    assert "Those filters are not valid" in response.content.decode()


def test_staff_without_the_view_permission_cannot_export(client, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(EXPORT).status_code == 403


def test_it_exports_the_transcript_recording_url_and_quality(viewer_client):
    quality = {
        "inbound": {"mos": "4.31", "jitter_max_variance": "12.5", "packet_count": "1000",
                    "skip_packet_count": "15"},
        "outbound": {"packet_count": "2000", "skip_packet_count": "0"},
    }  # fmt: skip
    call = finished_call(call_quality_stats=quality)
    call.recording.save("r.wav", ContentFile(b"RIFF"), save=True)
    Call.objects.filter(pk=call.pk).update(
        telnyx_recording_urls=[{"urls": {"wav": "https://s3.telnyx/r1.wav"}}]
    )
    try:
        (row,) = rows_of(viewer_client.get(EXPORT))
    finally:
        call.recording.delete(save=False)
    assert row["transcript"] == "Agent: Hello, how can I help?\nCaller: I need an appointment."
    assert row["recording_url"] == f"http://testserver/admin/calls/call/{call.pk}/recording/"
    assert row["carrier_recording_url"] == "https://s3.telnyx/r1.wav"
    assert (row["mos_inbound"], row["jitter_max_variance_inbound"]) == ("4.31", "12.5")
    assert (row["packet_loss_inbound_pct"], row["packet_loss_outbound_pct"]) == ("1.50", "0.00")
    assert row["outcome"] == "Talked for 8.0 s, hung up by the caller (normal_clearing)."


def test_odd_quality_figures_export_as_blanks(viewer_client):
    finished_call(
        call_quality_stats={"inbound": {"mos": "nan", "packet_count": "0"}, "outbound": []}
    )
    (row,) = rows_of(viewer_client.get(EXPORT))
    assert (
        row["mos_inbound"]
        == row["packet_loss_inbound_pct"]
        == row["packet_loss_outbound_pct"]
        == ""
    )


def test_the_transcript_is_read_once_per_chunk_not_once_per_call(
    viewer_client, django_assert_max_num_queries
):
    for _ in range(5):
        finished_call()
    with django_assert_max_num_queries(12):
        rows = rows_of(viewer_client.get(EXPORT))
    assert len(rows) == 5
    assert all(row["transcript"] for row in rows)
