"""Each turn's response latency as a bar chart and a table, interruptions marked, read from
the stored conversation summary (old and odd summaries included)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calls.models import Call
from calls.turns import turn_rows, turns_context
from tests.calls.conftest import CONVERSATION, finished_call

pytestmark = pytest.mark.django_db

SUMMARY = {
    "recording_from_ms": 200,
    "turn_count": 3,
    "turns": [
        {"at_ms": 700, "latency_ms": None, "caller_ms": 0, "agent_ms": 1500,
         "agent_interrupted": False, "barged_in": False},
        {"at_ms": 4200, "latency_ms": 1500, "caller_ms": 1000, "agent_ms": 900,
         "agent_interrupted": False, "barged_in": True, "caller_to_ms": 2700},
        {"at_ms": 8000, "latency_ms": 0, "caller_ms": 800, "agent_ms": 900,
         "agent_interrupted": True, "barged_in": False},
    ],
}  # fmt: skip


def test_each_turn_says_when_the_caller_stopped_and_the_agent_started_in_the_recording():
    greeting, answer, over = turn_rows(SUMMARY)
    assert (greeting.caller_stopped, greeting.agent_started, greeting.latency_ms) == (
        "—",
        "0:00.5",
        None,
    )
    assert (answer.caller_stopped, answer.agent_started, answer.latency_ms) == (
        "0:02.5",
        "0:04.0",
        1500,
    )
    assert answer.barged_in
    assert over.agent_interrupted
    assert over.latency_ms == 0


def test_bars_are_as_tall_as_the_wait_on_a_scale_of_at_least_a_second():
    chart = turns_context(SUMMARY)
    _greeting, answer, over = chart["bars"]
    assert chart["scale_ms"] == 1500
    assert answer.height == chart["baseline"] - chart["top"]  # the longest wait: full height
    assert over.height == 0
    assert chart["median_ms"] == 750
    assert chart["interruptions"] == 2
    short = turns_context({"turns": [{"at_ms": 1000, "latency_ms": 250}]})
    assert short["scale_ms"] == 1000
    assert short["bars"][0].height == pytest.approx(
        0.25 * (short["baseline"] - short["top"]), abs=0.2
    )


@pytest.mark.parametrize(
    "conversation",
    [None, {}, {"turns": None}, {"turns": ["x", 3]}, "nonsense"],
)
def test_no_chart_without_readable_turns(conversation):
    assert turns_context(conversation) is None


def test_odd_values_in_a_turn_are_left_blank():
    (row,) = turn_rows({"turns": [{"at_ms": "soon", "latency_ms": -5, "barged_in": "yes"}]})
    assert (row.agent_started, row.latency_ms, row.barged_in) == ("—", None, False)


def test_the_page_draws_a_bar_per_answered_turn_and_marks_the_interruptions(viewer_client):
    call = finished_call(stream_id="s", frames_in=10, conversation=SUMMARY)
    html = viewer_client.get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()
    start = html.index('id="turns-chart"')
    chart = html[start : html.index("</svg>", start)]
    assert chart.count('class="pb-bar"') == 2  # the greeting waited for nobody
    assert chart.count('class="pb-mark-barge"') == 1
    assert chart.count('class="pb-mark-over"') == 1
    table = html[
        html.index('id="conversation-turns"') : html.index(
            "</table>", html.index('id="conversation-turns"')
        )
    ]
    assert "1500 ms" in table
    assert "caller barged in" in table
    assert "agent talked over the caller" in table


def test_an_outbound_calls_turns_name_the_callee(viewer_client):
    call = finished_call(
        stream_id="s", frames_in=10, conversation=CONVERSATION, direction=Call.Direction.OUTBOUND
    )
    html = viewer_client.get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()
    table = html[html.index('id="conversation-turns"') :]
    assert "Callee stopped at" in table
    assert "callee barged in" in table
