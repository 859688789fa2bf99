"""The media consumer's contract with Channels.

The consumer replaces Channels' serving loop (AsyncConsumer.__call__ and await_many_dispatch)
and skips part of AsyncConsumer.dispatch for media frames. These tests fail when the Channels
code it copies or depends on changes, so the override is reviewed again.
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import channels
import pytest
from channels.consumer import AsyncConsumer, get_handler_name
from channels.db import DatabaseSyncToAsync

from telephony.media.consumer import MediaConsumer
from tests.framework_pins import Pins, drift

REPO = Path(__file__).resolve().parents[3]

# What the consumer copies or depends on, as reviewed (see tests/framework_pins.py).
# One line per pin, as `python -m tests.framework_pins` prints it.
# fmt: off
CHANNELS_PINS: Pins = {
    # Replaced by the consumer's own loop: the same set-up, then one reader task per source.
    "channels.consumer.AsyncConsumer.__call__": ("4.3.2", "e52238720872dbc3f854519bc971aa7eb41553e63c8729081549ce42465ee419"),
    "channels.utils.await_many_dispatch": ("4.3.2", "30ef889498560da3d72e6a695d2c17cf4a22b4948f2af6d53394343f4aace51d"),
    "channels.layers.get_channel_layer": ("4.3.2", "3064602a661d3ccdbdd3f72731dc48f4dfa9635121d8d9460210f9e63ae10c85"),
    # Skipped for websocket.receive and websocket.connect (its aclose_old_connections and
    # handler lookup); for the connect, this closes stale connections instead.
    "channels.consumer.AsyncConsumer.dispatch": ("4.3.2", "39f34e7d4fb0f6552de4ade665b943fe78137379702af6b58c79a14c49a75520"),
    "channels.db.DatabaseSyncToAsync.thread_handler": ("4.3.2", "00f86b58c522f98e24add023ffd40b25cfeab1cc2007cbc003b63a7677f9cfc7"),
    "channels.consumer.get_handler_name": ("4.3.2", "c88c7b7d8763fb61b5864b9ee6eb442f1e3f9d5b42b4f7651622d8c33d384193"),
    # Copied for every media frame (__call__ hands the text, else the bytes, to the session).
    "channels.generic.websocket.AsyncWebsocketConsumer.websocket_receive": ("4.3.2", "165d159d99adfd8ae966d4b3e5e49419163d854cac704ba655bb16e33017fcd1"),
    # Raises StopConsumer, which is what ends the consumer's loop.
    "channels.generic.websocket.AsyncWebsocketConsumer.websocket_disconnect": ("4.3.2", "10f38aa55fd51ff5e66e84eec77773a996e279de59190aef99322e27d354f078"),
    # Wrapped by close(), which swallows a peer that has gone; send() is copied by send_text(),
    # which builds its message and swallows a gone peer the same way.
    "channels.generic.websocket.AsyncWebsocketConsumer.close": ("4.3.2", "c2f5b8bca1838db47cffa889fc03bab8720e5e86f924cb7b1158cec1abca0cf5"),
    "channels.generic.websocket.AsyncWebsocketConsumer.send": ("4.3.2", "52ce6c1290fea21799795fc0b3c9292cd9a0a3039b0b78ad807db746622edc40"),
    # Sends through base_send, which the consumer's __call__ sets.
    "channels.consumer.AsyncConsumer.send": ("4.3.2", "bc80485d75ed3e049e043d9bdfaccf76708ceb10231f99045dd4bb9f59962c27"),
}
# fmt: on

# Attributes AsyncConsumer.__call__ sets that ours deliberately does not, and why.
NOT_SET_BY_OURS = {
    # Our relay task reads self.channel_layer.receive(self.channel_name) itself; nothing in
    # Channels but AsyncConsumer.__call__ reads it (checked below).
    "channel_receive",
}


def _where(function: Any) -> str:
    path = Path(inspect.getsourcefile(function) or "?").resolve()
    return f"{function.__qualname__} ({path.relative_to(REPO)})"


OVERRIDE = ", ".join(
    _where(getattr(MediaConsumer, name)) for name in ("__call__", "dispatch", "close", "send_text")
)


@pytest.fixture(autouse=True)
def _in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.mark.parametrize("dotted", CHANNELS_PINS)
def test_the_channels_internals_the_consumer_relies_on_are_still_the_reviewed_ones(dotted):
    problem = drift(
        dotted,
        CHANNELS_PINS[dotted],
        override=OVERRIDE,
        pins_file="CHANNELS_PINS in tests/telephony/media/test_consumer_contract.py",
    )
    assert problem is None, problem


async def _serve_until_disconnect(call: Any) -> tuple[MediaConsumer, dict[str, Any], Any]:
    """Run `call` (a serving loop) on a new consumer whose peer hangs up at once."""
    consumer = MediaConsumer()
    scope = {"type": "websocket", "path": "/telnyx/media/x/y", "headers": []}
    messages = [{"type": "websocket.disconnect", "code": 1000}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # a server sends nothing after the disconnect
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError(f"nothing should be sent, not {message}")

    await asyncio.wait_for(call(consumer, scope, receive, send), 5)
    return consumer, scope, send


# Channels closes stale database connections around each message, on the sync thread.
@pytest.mark.django_db(transaction=True)
async def test_ours_still_sets_up_every_attribute_channels_call_sets_up():
    theirs, _, _ = await _serve_until_disconnect(AsyncConsumer.__call__)
    ours, scope, send = await _serve_until_disconnect(MediaConsumer.__call__)

    expected = set(vars(theirs)) - NOT_SET_BY_OURS
    assert expected <= set(vars(ours)), (
        f"Channels' AsyncConsumer.__call__ now sets {sorted(expected - set(vars(ours)))}, "
        f"which {OVERRIDE} does not: set it up there too (or, if nothing reads it, add it to "
        "NOT_SET_BY_OURS with the reason)."
    )
    assert ours.scope is scope
    assert ours.base_send is send
    assert ours.channel_layer is theirs.channel_layer
    for name in expected:
        assert type(getattr(ours, name)) is type(getattr(theirs, name)), name


def test_nothing_in_channels_still_reads_what_ours_does_not_set():
    package = Path(channels.__file__).parent
    call_source = inspect.getsource(AsyncConsumer.__call__)
    for name in NOT_SET_BY_OURS:
        uses = sum(path.read_text().count(name) for path in package.rglob("*.py"))
        assert uses == call_source.count(name), (
            f"Channels now uses {name} outside AsyncConsumer.__call__; {OVERRIDE} does not "
            "set it up, so review whether it must."
        )


def test_ours_is_still_a_consumer_whose_send_channels_would_store_as_is():
    # Channels wraps `send` in async_to_sync for sync consumers; ours always stores it as is.
    assert MediaConsumer._sync is False


def test_channels_still_routes_websocket_receive_to_the_handler_our_dispatch_calls():
    assert get_handler_name({"type": "websocket.receive"}) == "websocket_receive"


def test_channels_still_routes_websocket_connect_to_the_handler_our_dispatch_calls():
    assert get_handler_name({"type": "websocket.connect"}) == "websocket_connect"


def test_the_connects_database_work_still_closes_stale_connections_itself():
    # Our dispatch skips Channels' aclose_old_connections for the connect on that promise.
    assert isinstance(vars(MediaConsumer)["_authorize"], DatabaseSyncToAsync)
