from __future__ import annotations

import pytest

from calls.models import Call
from telephony import metrics
from tests.conftest import webhook

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def closed(settings):
    settings.METRICS_TOKEN = "scrape-me"
    settings.METRICS_ALLOWED_IPS = []
    return settings


def test_metrics_need_the_token_when_one_is_set(client, closed):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200


def test_with_a_token_set_an_allowed_address_without_it_is_refused(client, closed):
    # Behind the README's nginx every request comes from 127.0.0.1: an allowed address must
    # not stand in for a token that was set.
    closed.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200


def test_without_a_token_an_allowed_address_is_enough(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    assert client.get("/metrics").status_code == 200
    settings.METRICS_ALLOWED_IPS = ["10.0.0.9"]
    assert client.get("/metrics").status_code == 403


def test_behind_a_tls_proxy_loopback_is_not_trusted(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1", "::1"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # BEHIND_TLS_PROXY
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="::ffff:127.0.0.1").status_code == 403
    settings.METRICS_ALLOWED_IPS = ["10.0.0.9"]  # a scraper on another host still works
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.9").status_code == 200


@pytest.mark.parametrize("header", ["Bearer é", "Bearer scrape-mé", "Bearer \u2603", "é"])
def test_a_non_ascii_authorization_header_is_refused_not_a_server_error(client, closed, header):
    assert client.get("/metrics", headers={"Authorization": header}).status_code == 403


def test_a_non_ascii_token_matches_its_own_bytes(client, closed):
    closed.METRICS_TOKEN = "scrape-mé"
    # An HTTP server hands header bytes to Django as latin-1 text: the UTF-8 bytes of é.
    header = "Bearer scrape-mé".encode().decode("latin-1")
    assert client.get("/metrics", headers={"Authorization": header}).status_code == 200


@pytest.mark.parametrize(
    ("code", "status", "label"),
    [
        ("90018", 422, "90018"),
        ("10011", 429, "10011"),
        ("forged-code-123", 422, "other"),
        ("99999", 400, "other"),
        ("", 503, "http_5xx"),
        ("", None, "timeout"),
        ("", 999, "other"),
    ],
)
def test_telnyx_error_codes_become_a_bounded_set_of_labels(code, status, label):
    assert metrics.error_code_label(code, status) == label


async def test_an_unknown_telnyx_error_code_is_counted_as_other(fake_telnyx, closed):
    from telephony.telnyx.client import TelnyxError, get_client

    fake_telnyx().fail("actions/hangup", 422, "made-up-7", "Odd", "An odd code.")
    with pytest.raises(TelnyxError):
        await get_client().hangup("v3:odd")
    samples = metrics.TELNYX_COMMAND_ERRORS.collect()[0].samples
    codes = {s.labels["code"] for s in samples if s.labels["command"] == "hangup"}
    assert "other" in codes
    assert "made-up-7" not in codes


def test_metrics_count_calls_by_direction_and_outcome(client, closed):
    Call.objects.create(direction="inbound", status="streaming")
    Call.objects.create(direction="inbound", status="ended")
    Call.objects.create(direction="outbound", status="failed")
    text = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).content.decode()
    assert 'phonebridge_active_calls{direction="inbound"} 1.0' in text
    assert 'phonebridge_active_calls{direction="outbound"} 0.0' in text
    assert 'phonebridge_calls{direction="outbound",status="failed"} 1.0' in text


async def test_webhook_latency_and_refusals_are_measured(
    async_client, async_post_webhook, fake_telnyx, closed
):
    fake_telnyx()
    await async_post_webhook(webhook("call.bridged", {"call_control_id": "v3:m"}))
    await async_post_webhook(webhook("made.up.event", {"call_control_id": "v3:m"}))
    await async_client.post("/telnyx/events", b"{}", content_type="application/json")
    response = await async_client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    text = response.content.decode()
    assert 'phonebridge_webhook_seconds_count{event_type="call.bridged"}' in text
    assert 'phonebridge_webhook_seconds_count{event_type="other"}' in text
    assert 'phonebridge_webhooks_refused_total{status="403"}' in text
    assert "made.up.event" not in text  # forged types do not become labels


def test_turn_latency_and_barge_in_reaction_are_observed_once_per_call(client, closed):
    metrics.record_conversation(latencies=[0.6, 1.4], barge_in_reactions=[0.25])
    text = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).content.decode()
    assert 'phonebridge_turn_latency_seconds_bucket{le="0.75"}' in text
    assert "phonebridge_turn_latency_seconds_count" in text
    assert 'phonebridge_barge_in_reaction_seconds_bucket{le="0.3"}' in text
    before = metrics.TURN_LATENCY_SECONDS.collect()[0].samples
    count = next(s.value for s in before if s.name.endswith("_count"))
    metrics.record_conversation(latencies=[2.5], barge_in_reactions=[])
    after = metrics.TURN_LATENCY_SECONDS.collect()[0].samples
    assert next(s.value for s in after if s.name.endswith("_count")) == count + 1
