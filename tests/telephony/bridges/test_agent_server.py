"""The agent server client against a stand-in speaking its HTTP API over a real socket."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from telephony.bridges.agent_server import AgentServerError, get_agent_server
from tests.live import free_port


async def test_it_starts_a_session_and_returns_its_id(agent_server):
    session_id = await get_agent_server().start_session(call_id="call-1", call_type="default")
    assert session_id == "agent-session-1"
    assert agent_server.calls("POST") == [("/calls/call-1/sessions", {"call_type": "default"})]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("full", r"agent server at capacity \(429\)"), ("broken", r"agent server error \(500\)")],
)
async def test_it_explains_why_the_server_could_not_take_the_call(agent_server, mode, reason):
    agent_server.mode = mode
    with pytest.raises(AgentServerError, match=reason):
        await get_agent_server().start_session(call_id="call-1", call_type="default")


async def test_it_gives_up_on_a_slow_server_within_the_timeout(agent_server, settings):
    settings.AGENT_SERVER_TIMEOUT = 0.3
    agent_server.mode, agent_server.slow_seconds = "slow", 1.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AgentServerError, match=r"did not answer within 0.3 s"):
        await get_agent_server().start_session(call_id="call-1", call_type="default")
    assert loop.time() - started < 0.8


async def test_it_reports_a_server_that_is_down(settings):
    settings.AGENT_SERVER_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(AgentServerError, match=r"agent server unreachable \(ConnectError\)"):
        await get_agent_server().start_session(call_id="call-1", call_type="default")
    await get_agent_server().aclose()


async def test_it_ends_a_session_and_shrugs_at_one_already_gone(agent_server):
    agent_server.close_seconds = 0.1
    client = get_agent_server()
    session_id = await client.start_session(call_id="call-1", call_type="default")
    await client.end_session(call_id="call-1", session_id=session_id)  # 202: closing
    await client.end_session(call_id="call-1", session_id=session_id)  # 202: still closing
    assert agent_server.sessions == {"agent-session-1": "call-1"}  # until its next cycle
    await asyncio.sleep(0.2)
    await client.end_session(call_id="call-1", session_id=session_id)  # 404: already over
    assert agent_server.sessions == {}
    assert [path for path, _ in agent_server.calls("DELETE")] == [
        "/calls/call-1/sessions/agent-session-1"
    ] * 3


async def test_the_stand_in_refuses_a_body_without_a_call_type_as_fastapi_would(agent_server):
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{agent_server.url}/calls/call-1/sessions", json={})
    assert response.status_code == 422
    assert agent_server.sessions == {}


async def test_without_a_url_there_is_no_agent_server(settings):
    settings.AGENT_SERVER_URL = ""
    assert get_agent_server() is None
