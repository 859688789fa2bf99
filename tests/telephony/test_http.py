"""What our HTTP clients share: one TLS context for the whole process (telephony.http).

Building a TLS context loads and parses certifi's whole CA bundle (about 20 ms of CPU), and
our clients are made per event loop when first used: a worker that built one for its first
call's answer stalled every stream on its loop for that long.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import pytest

from telephony.bridges.agent_server import AgentServerClient
from telephony.carrier_http import CarrierHttpClient
from telephony.http import tls_context
from telephony.telnyx.simulator.carrier import Carrier


async def _carrier_client() -> None:
    client = CarrierHttpClient(
        base_url="https://api.telnyx.com/v2", timeout=5, max_attempts=1, transport=None
    )
    await client.aclose()


async def _agent_server_client() -> None:
    client = AgentServerClient("https://agents.example.com", timeout=5)
    await client._http.aclose()


async def _simulator_webhooks() -> None:
    sender = Carrier(signing_seed=b"\x01" * 32).webhooks
    sender._http("a-call")
    for client in sender._clients:
        await client.aclose()


@pytest.mark.parametrize(
    "make", [_carrier_client, _agent_server_client, _simulator_webhooks], ids=lambda f: f.__name__
)
def test_a_client_made_on_a_new_event_loop_builds_no_tls_context_of_its_own(
    monkeypatch: pytest.MonkeyPatch, make: Callable[[], Any]
):
    tls_context()  # the worker builds it at start-up (phonebridge.asgi)
    loaded: list[object] = []
    load = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loaded.append(args or kwargs)
        load(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    asyncio.run(make())
    asyncio.run(make())  # another loop, another client: still the same context
    assert loaded == []


def test_the_shared_context_verifies_servers_as_httpx_would():
    context = tls_context()
    assert context is tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.cert_store_stats()["x509_ca"] > 100  # certifi's bundle, not an empty store
