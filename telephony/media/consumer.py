"""A carrier's media WebSocket as a Channels consumer: a thin adapter over MediaSession.

`/<carrier>/media/<call uuid>/<token>`: the token is single-use, short-lived and stored only
as a hash. A refused socket is closed before it is accepted (the server answers the upgrade
with 403), so nothing reaches an unknown call, a stale token or a call that has ended.

Each carrier subclasses `MediaConsumer` with its `wire` format and, if it has any, its own
authentication rules (`carrier_refusal`, `prepare_session`); see telephony.telnyx.consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from calls import sql
from calls.models import Call
from telephony.bridges import create_bridge
from telephony.control import group_name
from telephony.log_context import bind_call
from telephony.media.frames import Wire
from telephony.media.session import MediaSession

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable
    from channels.consumer import _ChannelScope  # the stubs' name for a consumer's scope

logger = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011


class MediaConsumer(AsyncWebsocketConsumer):
    wire: ClassVar[Wire]
    session: MediaSession | None = None
    group: str = ""
    _send_failed = False

    async def __call__(
        self, scope: _ChannelScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """Serve the socket: Channels' AsyncConsumer.__call__, with a cheaper loop.

        Channels waits on the socket and the channel layer together (await_many_dispatch):
        an asyncio.wait and a new task for every message. At 50 frames a second per call that
        was an eighth of the server's time. Here the socket is read in this task; the channel
        layer, which carries a control message or two per call, is read by a second one. One
        lock keeps Channels' promise that a consumer handles one message at a time.
        """
        self.scope = scope
        self.base_send = send
        lock = asyncio.Lock()
        relay: asyncio.Task[None] | None = None
        layer = get_channel_layer(self.channel_layer_alias)
        if layer is not None:
            self.channel_layer = layer
            self.channel_name = await layer.new_channel()
            relay = asyncio.ensure_future(self._relay_channel_layer(lock))
        try:
            while True:
                message = await receive()
                async with lock:
                    session = self.session
                    if message["type"] == "websocket.receive" and session is not None:
                        # A frame (50 a second per call) goes straight to the session: what
                        # dispatch -> websocket_receive -> receive would do, without the hops.
                        await session.on_message(message.get("text"), message.get("bytes"))
                    else:
                        await self.dispatch(message)
        except StopConsumer:
            pass
        finally:
            if relay is not None:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay
            if self.session is not None and not self.session.finished:
                # Only a bug gets here (the disconnect handler finishes normally): still save
                # what the call's statistics and recording hold.
                await asyncio.shield(self.session.finish("media consumer failed"))

    async def _relay_channel_layer(self, lock: asyncio.Lock) -> None:
        assert self.channel_layer is not None
        while True:
            message = await self.channel_layer.receive(self.channel_name)
            try:
                async with lock:
                    await self.dispatch(message)
            except Exception:
                # Under Channels' loop this would end the consumer; end the stream instead of
                # leaving a socket nobody can control.
                logger.exception("control message %s failed", message.get("type"))
                await self.close(code=INTERNAL_ERROR)
                return

    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        token = str(kwargs["token"])
        call = await self._authorize(str(kwargs["call_id"]), token)
        if call is None:
            await self.close(code=POLICY_VIOLATION)
            return
        bind_call(call.pk)
        self.group = group_name(call.pk)
        await self.accept()
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.session = MediaSession(
            call=call, bridge=create_bridge(call.bridge or None), transport=self, wire=self.wire
        )
        self.prepare_session(self.session, token)
        logger.info("media stream accepted")

    def carrier_refusal(self, token: str) -> str | None:
        """Why the carrier's own authentication refuses this socket, or None if it does not.

        Runs in the database thread, once the path's token has matched the call's.
        """
        return None

    def prepare_session(self, session: MediaSession, token: str) -> None:
        """The carrier's rules for a session about to receive its first frame."""

    async def dispatch(self, message: Any) -> None:
        # Channels closes stale database connections (a hop to the sync thread) before every
        # message. Media frames, 50 a second per call, touch no database: skip that for them.
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
            return
        # The connect's only database work is _authorize, a database_sync_to_async that closes
        # stale connections itself: one trip to the database thread per set-up, not two, which
        # counts when a burst of calls is answered at once.
        if message["type"] == "websocket.connect":
            await self.websocket_connect(message)
            return
        await super().dispatch(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session is not None:
            await self.session.on_message(text_data, bytes_data)

    async def stream_control(self, message: dict[str, Any]) -> None:
        if self.session is not None:
            await self.session.on_control(str(message.get("action")))

    async def disconnect(self, code: int) -> None:
        if self.session is not None:
            # 1005 (no status) after `stop` is the normal end (telnyx-protocol.md §1.1).
            await self.session.finish(f"socket closed ({code})")
        if self.group:
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except Exception:  # the layer (Redis) may be down; the group entry expires
                logger.warning("could not leave the stream's group", exc_info=True)

    # MediaSession's transport
    async def send_text(self, text: str) -> None:
        try:
            # The message AsyncWebsocketConsumer.send would build, sent without its two hops:
            # every frame of agent audio comes this way. The ASGI spec lets `bytes` be left
            # out, as Channels does (its test communicator refuses a None one); asgiref's
            # TypedDict wants it.
            await self.base_send({"type": "websocket.send", "text": text})  # type: ignore[arg-type]
        except Exception as exc:
            # The peer is gone (the carrier closes right after `stop`, and frames received
            # before it are still being answered). Each server says so its own way (daphne:
            # autobahn's Disconnected; uvicorn: ClientDisconnected). The disconnect that
            # follows ends the session; failing here would lose its statistics.
            if not self._send_failed:
                logger.info("media socket closed under us: %s", exc)
            self._send_failed = True

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        try:
            await super().close(code=code, reason=reason)
        except Exception as exc:  # already closed by the peer, as in send_text
            logger.info("media socket already closed: %s", exc)

    @database_sync_to_async
    def _authorize(self, call_id: str, token: str) -> Call | None:
        try:
            call = _call_by_id(uuid.UUID(call_id))
        except ValueError:
            call = None
        if call is None:
            logger.warning("refused media socket for unknown call %s", call_id[:40])
            return None
        if not call.media_token_matches(token):
            logger.warning(
                "refused media socket for call %s: token wrong, used or expired", call.pk
            )
            return None
        refusal = self.carrier_refusal(token)
        if refusal is not None:
            logger.warning("refused media socket for call %s: %s", call.pk, refusal)
            return None
        if not call.claim_media_token():  # a second socket for the same call loses here
            logger.warning("refused a second media socket for call %s", call.pk)
            return None
        return call


def _call_by_id(call_id: uuid.UUID) -> Call | None:
    """The call with primary key `call_id`, if any: every new call's media socket looks its
    call up once, in the database thread a burst of calls shares (written out, calls/sql.py)."""
    return sql.get(Call, "id", call_id)
