"""Webhook delivery as a carrier does it: per-call ordered lanes, retries, faults.

Events of one call go out one at a time, in order, unless a fault says otherwise: retries
block the call's later events, as a per-call queue would. Failed attempts (timeouts, 5xx,
408, 429) are retried with exponential backoff up to `max_attempts`; other 4xx answers are
final. After the primary URL gives up, the failover URL gets the event. How an event is
encoded and signed is the carrier's (`_encode`): Telnyx signs JSON with Ed25519, Twilio signs
form fields with HMAC-SHA1.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import random
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

from telephony.http import tls_context
from telephony.simulation.scenario import WebhookFaults

_REORDER_COLLECT_S = 0.05  # how long a reordering lane waits for a batch to shuffle
_POOLS = 8  # webhook connection pools (see WebhookSender._http)

logger = logging.getLogger(__name__)


@dataclass
class WebhookEvent:
    event_type: str
    payload: dict[str, Any]
    url: str
    failover_url: str = ""
    timeout_s: float | None = None
    faults: WebhookFaults | None = None
    time_scale: float = 1.0
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def call_id(self) -> str | None:
        """The carrier's id of the call the event is about."""
        return None


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


class WebhookSender(abc.ABC):
    carrier_name = "Carrier"

    def __init__(
        self,
        *,
        timeout_s: float = 2.0,
        max_attempts: int = 3,
        backoff_s: float = 1.0,
        faults: WebhookFaults | None = None,
        seed: int | None = None,
        max_records: int = 20_000,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.faults = faults or WebhookFaults()
        self.deliveries: deque[Delivery] = deque(maxlen=max_records)
        self._rng = random.Random(seed)
        self._lanes: dict[str, deque[WebhookEvent]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._clients: list[httpx.AsyncClient] = []
        self._client_loop: asyncio.AbstractEventLoop | None = None

    @abc.abstractmethod
    def _encode(
        self, event: WebhookEvent, url: str, attempt: int, fault: str | None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one attempt, signed (or corrupted, as `fault` says)."""

    def send(self, lane: str, event: WebhookEvent) -> str:
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
        clients, self._clients = self._clients, []
        for client in clients:
            await client.aclose()

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

    async def _next_batch(self, queue: deque[WebhookEvent]) -> list[WebhookEvent]:
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

    async def _deliver(self, event: WebhookEvent, *, duplicate: bool = False) -> None:
        if not duplicate and self._roll((event.faults or self.faults).drop):
            self._record(event, event.url, 0, None, 0.0, "dropped by a fault", "dropped")
            return
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
                "%s simulator: gave up delivering %s to %s after %d attempts (%s)",
                self.carrier_name,
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

    def _backoff(self, event: WebhookEvent, delivery: Delivery, attempt: int) -> float:
        if delivery.fault in ("bad_signature", "missing_header"):
            return 0.0
        return self.backoff_s * 2 ** (attempt - 1) * event.time_scale

    def _pick_fault(self, event: WebhookEvent, attempt: int) -> str | None:
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

    async def _attempt(
        self, event: WebhookEvent, url: str, attempt: int, fault: str | None
    ) -> Delivery:
        body, headers = self._encode(event, url, attempt, fault)
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            response = await self._http(event.call_id).post(
                url, content=body, headers=headers, timeout=event.timeout_s or self.timeout_s
            )
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        latency_ms = (time.monotonic() - started) * 1000
        return self._record(event, url, attempt, status, latency_ms, error, fault)

    def _record(
        self,
        event: WebhookEvent,
        url: str,
        attempt: int,
        status: int | None,
        latency_ms: float,
        error: str | None,
        fault: str | None,
    ) -> Delivery:
        delivery = Delivery(
            event_id=event.id,
            event_type=event.event_type,
            call_control_id=event.call_id,
            url=url,
            attempt=attempt,
            status=status,
            latency_ms=latency_ms,
            error=error,
            fault=fault,
        )
        self.deliveries.append(delivery)
        return delivery

    def _http(self, call_id: str | None) -> httpx.AsyncClient:
        """The client for `call_id`'s webhooks: one of a few small pools. httpcore's pool
        looks through every connection it holds (and polls each idle one) whenever a
        request starts or ends, so one pool of 150 connections made a burst of 150 calls'
        webhooks cost the simulator more CPU than the server spent answering them, and the
        load benchmarks measured the simulator. How Telnyx reuses its connections is not
        documented; its webhooks come from the call's anchor-site region, not one client
        (telnyx-protocol.md §2.2, "Source IPs"). Several pools open at least as many
        connections to the server as one did, so the server's side is no easier."""
        loop = asyncio.get_running_loop()
        if self._clients and self._client_loop is not loop:
            self._clients = []  # their connections belong to a loop that is gone
        if not self._clients:
            self._client_loop = loop
            # Up to 3 redirects, as Telnyx follows (§2.2); created lazily, on the running loop.
            # Idle connections are kept as long as the pool may open them: a wave of webhooks
            # (every call's call.answered) reuses the last wave's instead of reconnecting.
            limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
            self._clients = [
                httpx.AsyncClient(
                    follow_redirects=True, max_redirects=3, limits=limits, verify=tls_context()
                )
                for _ in range(_POOLS)
            ]
        return self._clients[zlib.crc32((call_id or "").encode()) % _POOLS]
