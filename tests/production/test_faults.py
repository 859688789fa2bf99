"""A worker keeps its promises when Redis or the database goes away for a while."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest

from telephony.telnyx.signing import WebhookSigner
from telephony.telnyx.simulator.carrier import Carrier
from telephony.telnyx.simulator.server import running_simulator
from tests.live import free_port
from tests.production import pg
from tests.production.conftest import SEED
from tests.services import Worker, manage, worker_env

pytestmark = pytest.mark.services

NUMBER = "+15550300001"


async def one_worker(postgres, redis, simulator_url: str, public_key: str) -> Worker:
    port = free_port()
    env = worker_env(
        DATABASE_URL=postgres.url,
        REDIS_URL=redis.url,
        TELNYX_API_BASE_URL=simulator_url,
        TELNYX_PUBLIC_KEY=public_key,
        PUBLIC_HOST=f"127.0.0.1:{port}",
    )
    await asyncio.to_thread(manage, env, "migrate", "-v0")
    return await asyncio.to_thread(Worker("solo", port, env).start)


async def health(worker: Worker) -> tuple[int, dict]:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{worker.url}/healthz")
    return response.status_code, response.json()


async def test_without_redis_webhooks_are_stored_media_flows_and_health_is_degraded(
    postgres, redis
):
    carrier = Carrier(signing_seed=SEED, webhook_backoff_s=0.3)
    async with running_simulator(carrier) as sim:
        worker = await one_worker(postgres, redis, sim.base_url, carrier.public_key_b64)
        try:
            carrier.seed(webhook_event_url=f"{worker.url}/telnyx/events", phone_number=NUMBER)
            call = await carrier.start_inbound_call(from_="+15557000001", to=NUMBER, duration_s=6.0)
            assert await call.wait_answered(10)
            await asyncio.sleep(1.5)
            redis.stop()
            try:
                status, body = await health(worker)
                assert (status, body["checks"]) == (
                    503,
                    {"database": "ok", "channel_layer": "unreachable"},
                )
                assert body["status"] == "degraded"
                assert await call.wait_ended(20)
                await carrier.webhooks.flush(timeout=10)
            finally:
                redis.start()
            assert (await health(worker))[0] == 200
            rows = await _settled(postgres.url, call.call_control_id)
        finally:
            worker.stop()
    assert rows["status"] == "ended", worker.output()
    report = call.media_reports[0]
    # The caller kept hearing the echo while Redis was down: about 6 s of 20 ms frames.
    assert report.frames_received >= 250, report
    assert rows["frames_in"] >= 250
    types = await asyncio.to_thread(pg.event_types, postgres.url, call.call_control_id)
    assert {"call.hangup", "streaming.stopped", "media.stop"} <= set(types), types


async def test_a_webhook_during_a_database_outage_gets_a_5xx_and_its_retry_is_stored_once(
    postgres, redis
):
    carrier = Carrier(signing_seed=SEED)
    signer = WebhookSigner(SEED)
    async with running_simulator(carrier) as sim:
        worker = await one_worker(postgres, redis, sim.base_url, carrier.public_key_b64)
        try:
            body = json.dumps(
                {
                    "data": {
                        "record_type": "event",
                        "event_type": "call.hangup",
                        "id": str(uuid.uuid4()),
                        "occurred_at": "2026-11-22T10:00:00.000000Z",
                        "payload": {
                            "call_control_id": "v3:outage",
                            "hangup_cause": "normal_clearing",
                        },
                    },
                    "meta": {"attempt": 1},
                }
            ).encode()

            async def deliver() -> int:
                headers = {
                    **signer.sign(body, int(time.time())),
                    "content-type": "application/json",
                }
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.post(
                        f"{worker.url}/telnyx/events", content=body, headers=headers
                    )
                return response.status_code

            await asyncio.to_thread(postgres.stop)
            try:
                assert await deliver() == 503
                assert (await health(worker))[1]["checks"]["database"] == "unreachable"
            finally:
                await asyncio.to_thread(postgres.start)
            assert await deliver() == 200
            assert await deliver() == 200  # and a duplicate changes nothing
        finally:
            worker.stop()
    [(events,)] = pg.query(
        postgres.url,
        "SELECT count(*) FROM calls_callevent WHERE type = 'call.hangup' AND payload::text LIKE '%%v3:outage%%'",
    )
    [(calls,)] = pg.query(
        postgres.url, "SELECT count(*) FROM calls_call WHERE call_control_id = 'v3:outage'"
    )
    assert (events, calls) == (1, 1)


async def _settled(url: str, call_control_id: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        row = (await asyncio.to_thread(pg.calls, url)).get(call_control_id, {})
        if (
            row.get("status") in ("ended", "failed") and row.get("frames_in")
        ) or time.monotonic() > deadline:
            return row
        await asyncio.sleep(0.25)
