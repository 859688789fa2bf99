"""ResilientRedisChannelLayer's contract with channels_redis: a failed receive can be retried."""

from __future__ import annotations

import asyncio
import socket

import pytest
from channels_redis.core import RedisChannelLayer
from redis.exceptions import RedisError

from tests.framework_pins import Pins, drift

# What ResilientRedisChannelLayer.receive relies on, as reviewed (see tests/framework_pins.py):
# that these raise RedisError or OSError when Redis goes away, and leave the layer's receive
# state (count, lock, buffers) as they found it, so waiting again is safe.
# One line per pin, as `python -m tests.framework_pins` prints it.
# fmt: off
CHANNELS_REDIS_PINS: Pins = {
    "channels_redis.core.RedisChannelLayer.receive": ("4.3.0", "158a09895d9a7c8ed3db4aae70514dc7ad3ed81a2af73545f8c65bf4c82b6a57"),
    "channels_redis.core.RedisChannelLayer.receive_single": ("4.3.0", "5a498bb3a2545bf16417e95dfafba14a39177ebf8f76369ee5caeed838688a5f"),
    "channels_redis.core.RedisChannelLayer._brpop_with_clean": ("4.3.0", "363a120edcef61d5ea5d37cd2a55cae6a5e0d2f136c479d32e45ded43bbbcd7d"),
}
# fmt: on


@pytest.mark.parametrize("dotted", CHANNELS_REDIS_PINS)
def test_the_channels_redis_internals_the_layer_relies_on_are_still_the_reviewed_ones(dotted):
    problem = drift(
        dotted,
        CHANNELS_REDIS_PINS[dotted],
        override="ResilientRedisChannelLayer.receive (telephony/channel_layer.py)",
        pins_file="CHANNELS_REDIS_PINS in tests/telephony/test_channel_layer.py",
    )
    assert problem is None, problem


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_channels_redis_still_leaves_receive_ready_for_a_retry_when_redis_is_down():
    layer = RedisChannelLayer(hosts=[{"address": f"redis://127.0.0.1:{_closed_port()}"}])
    channel = await layer.new_channel()
    try:
        for _ in range(2):  # the second attempt sees what the first one left behind
            with pytest.raises(RedisError):
                await asyncio.wait_for(layer.receive(channel), 10)
            assert layer.receive_count == 0
            assert layer.receive_lock is None
            assert channel not in layer.receive_buffer
    finally:
        await layer.close_pools()
