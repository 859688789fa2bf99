"""Selected calls to CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from calls.export import COLUMNS, cell
from tests.calls.conftest import CONVERSATION, T0, finished_call, make_call

pytestmark = pytest.mark.django_db

LIST = "/admin/calls/call/"


def export(client, *calls) -> list[dict[str, str]]:
    response = client.post(
        LIST, {"action": "export_csv", "_selected_action": [str(c.pk) for c in calls]}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="calls-')
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_it_exports_ids_numbers_times_duration_cause_and_stats(viewer_client):
    call = finished_call(frames_in=450, frames_out=440, underruns=3, bridge_status="joined")
    make_call()  # not selected
    (row,) = export(viewer_client, call)
    assert row["id"] == str(call.pk)
    assert row["call_control_id"] == call.call_control_id
    assert (row["from"], row["to"]) == ("+15557654321", "+15550001111")
    assert row["created_at"] == call.created_at.isoformat()
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
