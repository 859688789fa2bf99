"""Two phonebridge workers sharing a real PostgreSQL and a real Redis, driven over real sockets
by the simulated carrier. Each call's webhooks go to one worker and its media socket to the
other (each worker's PUBLIC_HOST names the other one), so nothing can rely on both landing in
the same process: the hangup webhook must reach the media consumer through Redis."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from telephony.telnyx.simulator.calls import SimCall
from telephony.telnyx.simulator.carrier import Carrier
from telephony.telnyx.simulator.server import running_simulator
from tests.live import free_port
from tests.production import pg
from tests.production.conftest import SEED
from tests.services import Worker, manage, worker_env

pytestmark = pytest.mark.services

CALLS = 20


@dataclass
class Cluster:
    a: Worker
    b: Worker
    carrier: Carrier
    database_url: str

    def route(self, number: str, *, webhooks: Worker, failover: Worker | None) -> None:
        """A Call Control App whose webhooks go to `webhooks`, and a number routed to it."""
        account = self.carrier.account
        profile = account.add_outbound_voice_profile(f"profile {number}")
        app = account.create_application(
            {
                "application_name": f"app {number}",
                "webhook_event_url": f"{webhooks.url}/telnyx/events",
                "webhook_event_failover_url": f"{failover.url}/telnyx/events" if failover else "",
                "webhook_api_version": "2",
                "outbound": {"outbound_voice_profile_id": profile["id"]},
            }
        )
        account.add_phone_number(number, connection_id=app["id"])


async def start_cluster(postgres, redis, carrier: Carrier, simulator_url: str) -> Cluster:
    port_a, port_b = free_port(), free_port()
    env = worker_env(
        DATABASE_URL=postgres.url,
        REDIS_URL=redis.url,
        TELNYX_API_BASE_URL=simulator_url,
        TELNYX_API_KEY="KEYWORKERS",
        TELNYX_PUBLIC_KEY=carrier.public_key_b64,
        PUBLIC_HOST=f"127.0.0.1:{port_a}",  # an allowed host, as the system checks require
    )
    await asyncio.to_thread(manage, env, "migrate", "-v0")
    # Media URLs name the other worker: webhook and media of one call never share a process.
    a = Worker("a", port_a, {**env, "PUBLIC_HOST": f"127.0.0.1:{port_b}"})
    b = Worker("b", port_b, {**env, "PUBLIC_HOST": f"127.0.0.1:{port_a}"})
    await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
    return Cluster(a, b, carrier, postgres.url)


async def ring(carrier: Carrier, numbers: list[str], duration_s: float) -> list[SimCall]:
    return list(
        await asyncio.gather(
            *(
                carrier.start_inbound_call(
                    from_=f"+1555200{i:04d}", to=numbers[i % len(numbers)], duration_s=duration_s
                )
                for i in range(CALLS)
            )
        )
    )


async def settled(database_url: str, ids: list[str], timeout: float = 30.0) -> dict[str, dict]:
    """Wait until every call is final in the database (webhook handling is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await asyncio.to_thread(pg.calls, database_url)
        if (
            all(rows.get(i, {}).get("status") in ("ended", "failed") for i in ids)
            or time.monotonic() > deadline
        ):
            return rows
        await asyncio.sleep(0.25)


def carrier() -> Carrier:
    # Webhooks retried quickly, as Telnyx does, so the test does not wait long.
    return Carrier(
        signing_seed=SEED, webhook_timeout_s=2.0, webhook_max_attempts=3, webhook_backoff_s=0.3
    )


async def test_twenty_calls_split_across_two_workers_all_end_complete(postgres, redis):
    sim_carrier = carrier()
    async with running_simulator(sim_carrier) as sim:
        cluster = await start_cluster(postgres, redis, sim_carrier, sim.base_url)
        try:
            cluster.route("+15550100001", webhooks=cluster.a, failover=None)
            cluster.route("+15550100002", webhooks=cluster.b, failover=None)
            calls = await ring(sim_carrier, ["+15550100001", "+15550100002"], duration_s=3.0)
            ended = await asyncio.gather(*(call.wait_ended(30) for call in calls))
            assert all(ended)
            ids = [call.call_control_id for call in calls]
            rows = await settled(cluster.database_url, ids)
        finally:
            cluster.a.stop()
            cluster.b.stop()

    for call in calls:
        row = rows[call.call_control_id]
        assert (row["status"], row["hangup_cause"]) == ("ended", "normal_clearing"), row
        # The media socket went to the worker that did not get the webhooks.
        webhook_port = call.webhook_url.split(":")[2].split("/")[0]
        assert webhook_port not in call.stream.url
        assert row["frames_in"] >= 100, row
        assert row["frames_out"] >= 100, row
        report = call.media_reports[0]
        assert report.frames_received >= 100
        types = await asyncio.to_thread(pg.event_types, cluster.database_url, call.call_control_id)
        for expected in (
            "call.initiated", "call.answered", "streaming.started", "media.start",
            "media.stop", "streaming.stopped", "call.hangup",
        ):  # fmt: skip
            assert expected in types, (call.call_control_id, types)


async def test_a_worker_killed_mid_call_loses_nothing_and_its_calls_are_reconciled(postgres, redis):
    sim_carrier = carrier()
    async with running_simulator(sim_carrier) as sim:
        cluster = await start_cluster(postgres, redis, sim_carrier, sim.base_url)
        try:
            # A's calls: webhooks to A, media on B. B1's: webhooks to B, retried on A when B
            # is gone (a failover URL, as a load balancer would). B2's: webhooks to B only.
            cluster.route("+15550200001", webhooks=cluster.a, failover=None)
            cluster.route("+15550200002", webhooks=cluster.b, failover=cluster.a)
            cluster.route("+15550200003", webhooks=cluster.b, failover=None)
            numbers = ["+15550200001", "+15550200002", "+15550200003"]
            calls = await ring(sim_carrier, numbers, duration_s=5.0)
            await asyncio.sleep(2.5)
            cluster.b.kill()
            assert all(await asyncio.gather(*(call.wait_ended(40) for call in calls)))
            await sim_carrier.webhooks.flush(timeout=15)
            # What is still live now lost its webhooks with B: reconciliation closes it.
            output = await asyncio.to_thread(
                manage, cluster.a.env, "reconcile_calls", "--idle", "0"
            )
            rows = await settled(
                cluster.database_url, [c.call_control_id for c in calls], timeout=10
            )
        finally:
            cluster.a.stop()
            cluster.b.stop()

    by_number = {n: [c for c in calls if c.to == n] for n in numbers}
    for call in calls:
        assert rows[call.call_control_id]["status"] in ("ended", "failed"), rows[
            call.call_control_id
        ]
    for call in by_number["+15550200001"] + by_number["+15550200002"]:
        types = await asyncio.to_thread(pg.event_types, cluster.database_url, call.call_control_id)
        assert "call.hangup" in types, types  # delivered, through the failover when B was gone
        assert "reconciled" not in types
    for call in by_number["+15550200003"]:
        types = await asyncio.to_thread(pg.event_types, cluster.database_url, call.call_control_id)
        if "call.hangup" not in types:
            assert "reconciled" in types, types
            assert call.call_control_id[:8] or output
    lost = [
        c
        for c in by_number["+15550200003"]
        if "reconciled" in pg.event_types(cluster.database_url, c.call_control_id)
    ]
    assert lost, "B's own calls lost their hangup webhooks and must have been reconciled"


async def test_a_hangup_webhook_on_one_worker_closes_the_stream_on_the_other_within_a_second(
    postgres, redis
):
    sim_carrier = carrier()
    async with running_simulator(sim_carrier) as sim:
        cluster = await start_cluster(postgres, redis, sim_carrier, sim.base_url)
        try:
            cluster.route("+15550400001", webhooks=cluster.a, failover=None)
            # The caller never hangs up: only the webhook below can end this stream.
            call = await sim_carrier.start_inbound_call(
                from_="+15557400001", to="+15550400001", duration_s=60, hangup_by="never"
            )
            assert await call.wait_answered(10)
            async with asyncio.timeout(10):
                while not call.media_reports and call.media is None:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # media flowing on worker B
            media = call.media
            assert media is not None
            assert not media.done.is_set()
            hangup = {
                "call_control_id": call.call_control_id,
                "call_leg_id": call.call_leg_id,
                "call_session_id": call.call_session_id,
                "hangup_cause": "normal_clearing",
                "hangup_source": "callee",
            }
            sent_at = time.monotonic()
            status = await post_signed(cluster.a, sim_carrier, "call.hangup", hangup)
            assert status == 200
            async with asyncio.timeout(5):
                await media.done.wait()
            closed_after = time.monotonic() - sent_at
        finally:
            cluster.a.stop()
            cluster.b.stop()
    report = media.stats
    assert report.closed_by == "server", report
    assert closed_after < 1.0, (
        f"the stream on worker B closed {closed_after:.2f}s after the webhook on A"
    )


async def post_signed(worker: Worker, sim_carrier: Carrier, event_type: str, payload: dict) -> int:
    import json
    import uuid

    import httpx

    body = json.dumps(
        {
            "data": {
                "record_type": "event",
                "event_type": event_type,
                "id": str(uuid.uuid4()),
                "occurred_at": "2026-11-22T10:00:00.000000Z",
                "payload": payload,
            },
            "meta": {"attempt": 1},
        }
    ).encode()
    headers = {
        **sim_carrier.signer.sign(body, int(time.time())),
        "content-type": "application/json",
    }
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(f"{worker.url}/telnyx/events", content=body, headers=headers)
    return response.status_code
