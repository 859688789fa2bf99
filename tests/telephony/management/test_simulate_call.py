"""`simulate_call` against a server that would never answer its calls fails at once, saying
what to do, instead of ringing unanswered for 30 s."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.live import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def simulate(server: str) -> None:
    call_command(
        "simulate_call",
        "--server",
        server,
        "--listen",
        f"127.0.0.1:{free_port()}",
        stdout=StringIO(),
        stderr=StringIO(),
    )


def test_a_default_dev_server_is_told_apart_within_seconds_with_the_command_to_restart_it(
    simulated_server,
):
    # simulated_server talks to its own embedded simulator, as a default `runserver` does.
    started = time.monotonic()
    with pytest.raises(CommandError) as refused:
        simulate(simulated_server.url)

    assert time.monotonic() - started < 5
    message = str(refused.value)
    assert "\n" not in message
    assert f"{simulated_server.url} talks to {simulated_server.url}/_simulator/telnyx/v2" in message
    assert "restart it as `TELNYX_API_BASE_URL=http://127.0.0.1:" in message
    assert "TELNYX_PUBLIC_KEY=" in message


def test_no_server_at_all_is_one_line_too():
    with pytest.raises(CommandError, match=r"^Nothing answers at http://127\.0\.0\.1:\d+ "):
        simulate(f"http://127.0.0.1:{free_port()}")


async def test_the_simulator_says_when_it_cannot_reach_the_server(caplog):
    from telephony.telnyx.simulator.carrier import Carrier

    carrier = Carrier(webhook_max_attempts=2, webhook_backoff_s=0.01, webhook_timeout_s=1)
    carrier.seed(
        api_keys=["KEY"],
        connection_id="1",
        webhook_event_url=f"http://127.0.0.1:{free_port()}/telnyx/events",
        phone_number="+15550100000",
    )
    await carrier.start_inbound_call(to="+15550100000", ring_timeout_s=0.1)
    await carrier.webhooks.flush(timeout=5)
    await carrier.aclose()

    gave_up = [r.message for r in caplog.records if "gave up delivering" in r.message]
    assert gave_up
    assert "call.initiated to http://127.0.0.1:" in gave_up[0]
    assert "after 2 attempts (ConnectError" in gave_up[0]
