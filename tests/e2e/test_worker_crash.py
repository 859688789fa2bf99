"""A worker killed mid-call (issue 13, item 6): the caller is not left in silence.

Two real phonebridge workers share PostgreSQL and Redis behind a small TCP balancer, as
behind nginx: the media socket of a call lands on worker B, its webhooks on worker A. B is
SIGKILLed mid-call. Telnyx (the simulator) sees the socket drop and sends streaming.stopped
to A, which finds that no media session recorded an end, starts the stream again with a
fresh token within seconds, and the balancer puts the new socket on A: the caller hears the
agent (here, the echo) again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from telephony.telnyx.simulator.carrier import Carrier
from telephony.telnyx.simulator.server import running_simulator
from tests.live import free_port
from tests.production import pg
from tests.services import (
    Postgres,
    Redis,
    Worker,
    manage,
    postgres_server,
    redis_server,
    worker_env,
)

pytestmark = pytest.mark.services

SEED = hashlib.sha256(b"worker crash simulator").digest()
NUMBER = "+15550600001"


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def redis() -> Iterator[Redis]:
    with redis_server() as server:
        yield server


@contextlib.asynccontextmanager
async def balancer(*ports: int) -> AsyncIterator[int]:
    """A TCP balancer, as nginx's upstream: each connection goes to the first worker that
    accepts it; when a worker dies, its connections are cut (the client sees no close frame).
    """

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        for port in ports:
            try:
                up_r, up_w = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        else:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def until(predicate, timeout: float, step: float = 0.05) -> float:
    """Wait for `predicate()`; returns when it became true (time.monotonic())."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(step)
    return time.monotonic()


async def test_a_call_whose_media_worker_is_killed_gets_a_new_stream_within_five_seconds(
    postgres, redis
):
    carrier = Carrier(signing_seed=SEED, webhook_backoff_s=0.3)
    async with running_simulator(carrier) as sim:
        port_a, port_b = free_port(), free_port()
        async with balancer(port_b, port_a) as public_port:
            env = worker_env(
                DATABASE_URL=postgres.url,
                REDIS_URL=redis.url,
                TELNYX_API_BASE_URL=sim.base_url,
                TELNYX_PUBLIC_KEY=carrier.public_key_b64,
                PUBLIC_HOST=f"127.0.0.1:{public_port}",
            )
            await asyncio.to_thread(manage, env, "migrate", "-v0")
            a, b = Worker("a", port_a, env), Worker("b", port_b, env)
            await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
            try:
                carrier.seed(webhook_event_url=f"{a.url}/telnyx/events", phone_number=NUMBER)
                call = await carrier.start_inbound_call(
                    from_="+15557600001", to=NUMBER, duration_s=60, hangup_by="never"
                )
                first = await _first_stream_flowing(call)
                b.kill()
                lost_at = await until(lambda: first.done.is_set(), 10)
                # The same call, a new socket (through the balancer, now to A), audio again.
                restored_at = await until(
                    lambda: (
                        call.media is not None
                        and call.media is not first
                        and call.media.stats.frames_received > 0
                    ),
                    10,
                )
                await asyncio.sleep(1.0)
                second = call.media
                assert second is not None
                echoed = second.stats.frames_received
                await carrier.end_call(call, "normal_clearing", "caller")
                await carrier.webhooks.flush(timeout=10)
                row = await _settled(postgres.url, call.call_control_id)
            finally:
                a.stop()
                b.stop()

    assert restored_at - lost_at < 5.0, f"new stream after {restored_at - lost_at:.2f}s"
    assert first.stats.closed_by == "server"  # cut, not stopped: the worker died
    assert second.stream.url != first.stream.url  # a fresh token
    assert echoed >= 25, echoed  # a second of echo on the new stream
    types = await asyncio.to_thread(pg.event_types, postgres.url, call.call_control_id)
    assert types.count("media.restarted") == 1, types
    assert types.count("streaming.stopped") == 2, types
    assert (row["status"], row["hangup_cause"]) == ("ended", "normal_clearing"), a.output()


async def _first_stream_flowing(call):
    await until(lambda: call.media is not None and call.media.stats.frames_received > 25, 15)
    return call.media


async def _settled(url: str, call_control_id: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        row = (await asyncio.to_thread(pg.calls, url)).get(call_control_id, {})
        if row.get("status") in ("ended", "failed") or time.monotonic() > deadline:
            return row
        await asyncio.sleep(0.25)
