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


def test_metrics_need_the_token_or_an_allowed_address(client, closed):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200
    closed.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    assert client.get("/metrics").status_code == 200


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
