from __future__ import annotations

import uuid

import pytest

from calls.models import Call
from telephony.bridges import agent_server as agent_server_client
from telephony.bridges import stream_calls
from tests.telephony.bridges.fakes import (
    API_KEY,
    API_SECRET,
    AgentServer,
    FakeJoin,
    FakeStreamApi,
    serving,
)


@pytest.fixture(autouse=True)
def _stream_settings(settings):
    settings.BRIDGE = "stream"
    settings.STREAM_API_KEY = API_KEY
    settings.STREAM_API_SECRET = API_SECRET
    settings.STREAM_BASE_URL = ""
    settings.STREAM_CALL_TYPE = "default"
    settings.STREAM_AGENT_USER_ID = "ai-agent"
    settings.STREAM_END_CALL_ON_HANGUP = True
    settings.STREAM_JOIN_TIMEOUT = 5.0
    settings.AGENT_SERVER_URL = ""
    settings.AGENT_SERVER_TIMEOUT = 2.0
    settings.AGENT_ARRIVAL_TIMEOUT = 10.0
    settings.STREAM_BIDIRECTIONAL_CODEC = "PCMU"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    stream_calls.reset_clients()
    agent_server_client.reset_clients()
    yield
    stream_calls.reset_clients()
    agent_server_client.reset_clients()


@pytest.fixture
async def fake_stream():
    """Stream's REST API behind the real AsyncStream, installed as this loop's client."""
    api = FakeStreamApi()
    client = api.client()
    stream_calls.install_client(client)
    yield api
    await client.aclose()


@pytest.fixture
async def agent_server(settings):
    """The agent server's HTTP API on a real socket; AGENT_SERVER_URL points at it."""
    app = AgentServer()
    async with serving(app) as url:
        app.url = settings.AGENT_SERVER_URL = url
        yield app
        client = agent_server_client.get_agent_server()
        if client is not None:
            await client.aclose()


@pytest.fixture
def fake_join() -> FakeJoin:
    return FakeJoin()


async def new_call(**fields) -> Call:
    values = {
        "direction": "inbound",
        "from_number": "+15557654321",
        "to_number": "+15550001111",
        "status": "streaming",
        "call_control_id": f"v3:{uuid.uuid4()}",
        "bridge": "stream",
        **fields,
    }
    return await Call.objects.acreate(**values)
