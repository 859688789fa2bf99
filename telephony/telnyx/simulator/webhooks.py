"""Webhook delivery as Telnyx does it (telnyx-protocol.md §2.1-2.3).

Each event is POSTed as `{"data": {"record_type": "event", "event_type", "id", "occurred_at",
"payload"}, "meta": {"attempt", "delivered_to"}}`, signed with Ed25519 and re-signed on every
attempt. Events of one call go out one at a time, in order, unless a fault says otherwise:
retries block the call's later events, as a per-call queue would. Failed attempts (timeouts,
5xx, 408, 429) are retried with exponential backoff; other 4xx answers are final. After the
primary URL gives up, the failover URL gets the event.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

from telephony.telnyx.signing import SIGNATURE_HEADER, WebhookSigner
from telephony.telnyx.simulator.clock import iso_micro, now_utc
from telephony.telnyx.simulator.scenario import WebhookFaults

_REORDER_COLLECT_S = 0.05  # how long a reordering lane waits for a batch to shuffle

logger = logging.getLogger(__name__)


@dataclass
class Event:
    event_type: str
    payload: dict[str, Any]
    url: str
    failover_url: str = ""
    timeout_s: float | None = None
    faults: WebhookFaults | None = None
    time_scale: float = 1.0
    api_version: str = "2"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: str = field(default_factory=lambda: iso_micro(now_utc()))

    def body(self, attempt: int, url: str) -> bytes:
        # API v1 apps (the OpenAPI default!) get v1-style names, so a server that forgot to ask
        # for "2" sees unknown events instead of silently working here and failing on Telnyx.
        event_type = (
            self.event_type if self.api_version == "2" else self.event_type.replace(".", "_")
        )
        data = {
            "record_type": "event",
            "event_type": event_type,
            "id": self.id,
            "occurred_at": self.occurred_at,
            "payload": self.payload,
        }
        return json.dumps(
            {"data": data, "meta": {"attempt": attempt, "delivered_to": url}}
        ).encode()


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_type: str
    call_control_id: str | None
    url: str
    attempt: int
    status: int | None
    latency_ms: float
    error: str | None = None
    fault: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender:
    def __init__(
        self,
        signer: WebhookSigner,
        *,
        timeout_s: float = 2.0,
        max_attempts: int = 3,
        backoff_s: float = 1.0,
        faults: WebhookFaults | None = None,
        seed: int | None = None,
        max_records: int = 20_000,
    ) -> None:
        self.signer = signer
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.faults = faults or WebhookFaults()
        self.deliveries: deque[Delivery] = deque(maxlen=max_records)
        self._rng = random.Random(seed)
        self._forger = WebhookSigner()  # a key nobody trusts, for bad-signature faults
        self._lanes: dict[str, deque[Event]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def send(self, lane: str, event: Event) -> str:
        """Queue `event` behind the earlier events of `lane` (a call); returns its id."""
        self._lanes.setdefault(lane, deque()).append(event)
        loop = asyncio.get_running_loop()
        worker = self._workers.get(lane)
        # A worker from another (closed) loop would never run: embedded servers and test
        # runners may reuse one carrier across event loops.
        if worker is None or worker.get_loop() is not loop:
            self._workers[lane] = loop.create_task(self._drain(lane))
        return event.id

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued event has been delivered or given up on."""
        deadline = time.monotonic() + timeout
        while self._workers and time.monotonic() < deadline:
            await asyncio.wait(list(self._workers.values()), timeout=deadline - time.monotonic())

    def for_call(self, call_control_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.call_control_id == call_control_id]

    async def aclose(self) -> None:
        for worker in list(self._workers.values()):
            worker.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _drain(self, lane: str) -> None:
        queue = self._lanes[lane]
        try:
            while queue:
                for event in await self._next_batch(queue):
                    await self._deliver(event)
                    if self._roll((event.faults or self.faults).duplicate):
                        await self._deliver(event, duplicate=True)
        finally:
            if self._workers.get(lane) is asyncio.current_task():
                del self._workers[lane]
            if not queue:
                self._lanes.pop(lane, None)

    async def _next_batch(self, queue: deque[Event]) -> list[Event]:
        window = (queue[0].faults or self.faults).reorder_window
        if window <= 1:
            return [queue.popleft()]
        await asyncio.sleep(_REORDER_COLLECT_S)
        batch = [queue.popleft() for _ in range(min(window, len(queue)))]
        original = list(batch)
        self._rng.shuffle(batch)
        if batch == original and len(batch) > 1:
            batch.reverse()  # a shuffle that changed nothing would not exercise anything
        return batch

    async def _deliver(self, event: Event, *, duplicate: bool = False) -> None:
        attempt = 0
        delivery: Delivery | None = None
        for url in filter(None, (event.url, event.failover_url)):
            for _ in range(self.max_attempts):
                attempt += 1
                fault = "duplicate" if duplicate else self._pick_fault(event, attempt)
                delivery = await self._attempt(event, url, attempt, fault)
                if delivery.ok or not self._should_retry(delivery):
                    return
                await asyncio.sleep(self._backoff(event, delivery, attempt))
        if delivery is not None:
            # Said out loud: a simulator that cannot reach the server otherwise rings nobody,
            # silently (the "Simulate inbound call" on the wrong port).
            logger.warning(
                "Telnyx simulator: gave up delivering %s to %s after %d attempts (%s)",
                event.event_type,
                delivery.url,
                attempt,
                delivery.error or f"HTTP {delivery.status}",
            )

    def _should_retry(self, delivery: Delivery) -> bool:
        if delivery.fault in ("bad_signature", "missing_header"):
            return True  # the corruption was ours; the clean retry lets the call go on
        status = delivery.status
        return status is None or status >= 500 or status in (408, 429)

    def _backoff(self, event: Event, delivery: Delivery, attempt: int) -> float:
        if delivery.fault in ("bad_signature", "missing_header"):
            return 0.0
        return self.backoff_s * 2 ** (attempt - 1) * event.time_scale

    def _pick_fault(self, event: Event, attempt: int) -> str | None:
        faults = event.faults or self.faults
        if attempt > 1:
            return None
        if self._roll(faults.bad_signature):
            return "bad_signature"
        if self._roll(faults.missing_header):
            return "missing_header"
        return None

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    async def _attempt(self, event: Event, url: str, attempt: int, fault: str | None) -> Delivery:
        body = event.body(attempt, url)
        headers = self._headers(event, body, fault)
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            response = await self._http().post(
                url, content=body, headers=headers, timeout=event.timeout_s or self.timeout_s
            )
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        delivery = Delivery(
            event_id=event.id,
            event_type=event.event_type,
            call_control_id=event.payload.get("call_control_id"),
            url=url,
            attempt=attempt,
            status=status,
            latency_ms=(time.monotonic() - started) * 1000,
            error=error,
            fault=fault,
        )
        self.deliveries.append(delivery)
        return delivery

    def _headers(self, event: Event, body: bytes, fault: str | None) -> dict[str, str]:
        timestamp = int(time.time()) + (event.faults or self.faults).skew_s
        signer = self._forger if fault == "bad_signature" else self.signer
        headers = {
            "content-type": "application/json",
            "user-agent": "telnyx-webhooks",
            **signer.sign(body, timestamp),
        }
        if fault == "missing_header":
            del headers[SIGNATURE_HEADER]
        return headers

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client_loop is not loop:
            self._client = None  # its connections belong to a loop that is gone
        if self._client is None:
            self._client_loop = loop
            # Telnyx follows up to 3 redirects (§2.2); created lazily, on the running loop.
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
            self._client = httpx.AsyncClient(follow_redirects=True, max_redirects=3, limits=limits)
        return self._client
