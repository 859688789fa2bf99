"""Client of the Vision Agents agent server: summon an agent into a Stream call, dismiss it.

Reference: the agent server's HTTP API (issue #5).
`POST {AGENT_SERVER_URL}/calls/{call_id}/sessions` with `{"call_type": ...}` answers 201 with
`{"session_id": ...}`, or 429 when it has no capacity; `DELETE .../sessions/{session_id}` ends
the session. Every request goes through `_request`, bounded as a whole by
AGENT_SERVER_TIMEOUT (httpx's own timeouts are per phase, so a server that trickles its
answer could otherwise hold the caller in silence for much longer).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings

from telephony.http import json_object, tls_context
from telephony.loop_local import LoopLocal

logger = logging.getLogger(__name__)


class AgentServerError(Exception):
    """The agent could not be summoned; `str(error)` is the reason stored on the call."""


class AgentServerClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport, verify=tls_context())

    async def start_session(self, *, call_id: str, call_type: str) -> str:
        """Ask for an agent to join the Stream call; returns the agent session id."""
        response = await self._request(
            "POST", f"/calls/{quote(call_id, safe='')}/sessions", json={"call_type": call_type}
        )
        if response.status_code == 429:
            raise AgentServerError("agent server at capacity (429)")
        if response.status_code not in (200, 201):
            raise AgentServerError(f"agent server error ({response.status_code})")
        session_id = json_object(response).get("session_id")
        if not isinstance(session_id, str) or not session_id:
            raise AgentServerError("agent server answered without a session_id")
        return session_id

    async def end_session(self, *, call_id: str, session_id: str) -> None:
        """Dismiss the agent. A session the server no longer knows is already over."""
        path = f"/calls/{quote(call_id, safe='')}/sessions/{quote(session_id, safe='')}"
        response = await self._request("DELETE", path)
        if response.status_code >= 400 and response.status_code != 404:
            raise AgentServerError(
                f"agent server refused to end the session ({response.status_code})"
            )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = self.base_url + path
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._http.request(method, url, **kwargs)
        except (TimeoutError, httpx.TimeoutException):
            raise AgentServerError(
                f"agent server did not answer within {self.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise AgentServerError(f"agent server unreachable ({type(exc).__name__})") from exc
        logger.info("agent server %s %s: %d", method, path, response.status_code)
        return response


_clients: LoopLocal[AgentServerClient] = LoopLocal()


def get_agent_server() -> AgentServerClient | None:
    """This loop's client, or None when no agent server is configured (anyone may join)."""
    if not settings.AGENT_SERVER_URL:
        return None
    client = _clients.current()
    wanted = settings.AGENT_SERVER_URL.rstrip("/")
    if client is None or (client.base_url, client.timeout) != (
        wanted,
        settings.AGENT_SERVER_TIMEOUT,
    ):
        client = AgentServerClient(wanted, timeout=settings.AGENT_SERVER_TIMEOUT)
        _clients.install(client)
    return client


def reset_clients() -> None:
    _clients.reset()
