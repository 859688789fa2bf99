"""What both carriers' REST clients stand on: an httpx client for the carrier's API (its base
URL, time-outs and, in tests, a fake carrier's transport) and the retry budget its requests
share. Auth, URLs, error bodies and idempotency stay in each carrier's client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx

from telephony.command_log import Attempt, Command, send
from telephony.http import json_object, tls_context

if TYPE_CHECKING:
    from telephony.carrier import CarrierError


class CarrierHttpClient:
    def __init__(
        self,
        *,
        base_url: str,
        timeout: float,
        max_attempts: int,
        transport: httpx.AsyncBaseTransport | None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            auth=auth,
            headers={**(headers or {}), "Accept": "application/json"},
            # A carrier that cannot be reached is told quickly; a slow answer gets longer.
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            transport=transport,
            verify=tls_context(),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(
        self, command: Command, attempt: Attempt, *, errors: type[CarrierError]
    ) -> dict[str, Any]:
        """Run the command's attempts within this client's budget; its JSON body."""
        response = await send(
            command, attempt, errors=errors, max_attempts=self.max_attempts, sleep=self._sleep
        )
        return json_object(response)
