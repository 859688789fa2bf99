"""Telnyx's call quality as a table with thresholds, and the underrun count explained;
odd stored values never break the page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calls.quality import call_quality, underrun_verdict
from tests.calls.conftest import finished_call

pytestmark = pytest.mark.django_db

TELNYX = {
    "inbound": {
        "jitter_max_variance": "35.10",
        "jitter_packet_count": "3",
        "mos": "4.30",
        "packet_count": "2000",
        "skip_packet_count": "14",
    },
    "outbound": {"packet_count": "1990", "skip_packet_count": "0"},
}


def readings(report, direction: str) -> dict[str, tuple[str, str]]:
    (found,) = [d for d in report.directions if d.key == direction]
    return {r.label: (r.text, r.level) for r in found.readings}


def test_each_figure_gets_its_colour_from_the_stated_thresholds():
    inbound = readings(call_quality(TELNYX), "inbound")
    assert inbound["MOS"] == ("4.30", "good")
    assert inbound["Jitter (max variance)"] == ("35.1 ms", "poor")  # over 30 ms
    assert inbound["Packet loss"] == ("0.70 % (14 of 2000 packets skipped)", "fair")
    outbound = readings(call_quality(TELNYX), "outbound")
    assert outbound["MOS"] == ("not reported", "none")
    assert outbound["Packet loss"] == ("0.00 % (0 of 1990 packets skipped)", "good")


@pytest.mark.parametrize(
    ("mos", "level"), [("4.0", "good"), ("3.99", "fair"), ("3.5", "fair"), ("3.49", "poor")]
)
def test_mos_is_amber_from_3_5_to_4_and_red_under_3_5(mos, level):
    assert readings(call_quality({"inbound": {"mos": mos}}), "inbound")["MOS"][1] == level


@pytest.mark.parametrize(
    ("skipped", "level"), [("5", "good"), ("6", "fair"), ("10", "fair"), ("11", "poor")]
)
def test_packet_loss_is_amber_over_half_a_percent_and_red_over_one(skipped, level):
    stats = {"outbound": {"packet_count": "1000", "skip_packet_count": skipped}}
    assert readings(call_quality(stats), "outbound")["Packet loss"][1] == level


@pytest.mark.parametrize(
    "value", [None, "", "abc", True, [1], {"x": 1}, "nan", "-3", "1e999", 10**400]
)
def test_an_odd_value_reads_as_not_reported_or_unreadable(value):
    stats = {"inbound": {"mos": value, "packet_count": value, "skip_packet_count": "0"}}
    inbound = readings(call_quality(stats), "inbound")
    for label in ("MOS", "Packet loss", "Packets"):
        text, level = inbound[label]
        assert level == "none"
        assert text == "not reported" or text.startswith("unreadable")


@pytest.mark.parametrize("stats", [None, [], "x", {}, {"sideways": {}}])
def test_no_report_when_telnyx_reported_nothing_we_know(stats):
    assert call_quality(stats) is None


def test_a_direction_that_is_not_an_object_says_so():
    inbound = readings(call_quality({"inbound": "junk"}), "inbound")
    assert inbound == {"Figures": ("unreadable (not an object)", "none")}


def test_no_packets_is_no_loss_figure():
    stats = {"outbound": {"packet_count": "0", "skip_packet_count": "0"}}
    assert readings(call_quality(stats), "outbound")["Packet loss"] == ("no packets", "none")


def test_any_underrun_is_red():
    assert underrun_verdict(0) == {"level": "good", "red_at": 1}
    assert underrun_verdict(1)["level"] == "poor"
    assert underrun_verdict(None)["level"] == "none"


def test_the_page_shows_the_table_the_thresholds_and_the_underrun_explanation(viewer_client):
    call = finished_call(stream_id="s", frames_in=10, underruns=3, call_quality_stats=TELNYX)
    html = viewer_client.get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()
    table = html[html.index('id="call-quality"') : html.index('id="quality-thresholds"')]
    assert '<span class="pb-level pb-level-poor">35.1 ms</span>' in table
    assert "Inbound" in table
    assert "Outbound" in table
    assert "red over 30 ms" in html
    underruns = html[html.index('id="underruns"') :]
    assert '<span class="pb-level pb-level-poor">3</span>' in underruns
    assert "Red from 1" in underruns


@pytest.mark.parametrize("stats", [["x"], {"inbound": "junk"}, {"inbound": {"mos": {"a": 1}}}])
def test_an_odd_stored_report_never_breaks_the_page(viewer_client, stats):
    call = finished_call(call_quality_stats=stats)
    response = viewer_client.get(reverse("admin:calls_call_change", args=[call.pk]))
    assert response.status_code == 200
