"""Getting a call's Stream call and agent ready before the caller speaks, and releasing them.

Preparation starts as soon as a call is known (inbound `call.initiated`, or `place_call`),
concurrently with answering or dialing. Its outcome lives on the Call row, because the media
socket that needs it may land on another worker:

    bridge_status: "" -> preparing -> ready (agent summoned) -> joined (phone in the call)
                   -> ended (teardown), or failed from any live state.

Every move is a guarded conditional UPDATE (Call.amove_bridge, with the moves allowed in
Call.BRIDGE_MOVES); the worker whose row count is 1 owns what follows (the cleanup, the
apology), so duplicate preparations, a hangup racing preparation and a join failure racing
a hangup each act once. What preparation creates after the call was torn down, it removes
itself.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from calls.models import Call, CallEvent
from telephony import actions, tasks
from telephony.bridges import agent_server, stream_calls
from telephony.bridges.agent_server import AgentServerError
from telephony.bridges.stream_calls import StreamCallError
from telephony.log_context import call_context

logger = logging.getLogger(__name__)

ANSWER_WAIT = 10.0  # seconds an apology waits for the call to be answered
POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class Preparation:
    status: str
    stream_call_id: str
    agent_session_id: str
    error: str

    @classmethod
    def of(cls, call: Call) -> Preparation:
        return cls(
            call.bridge_status, call.stream_call_id, call.agent_session_id, call.bridge_error
        )


class PreparationFailed(Exception):
    """The call's bridge failed or ended; whoever failed it has told the caller."""


async def prepare(*, call_id: uuid.UUID) -> Preparation:
    """Create the Stream call and summon the agent, once per call across all workers."""
    with call_context(call_id):
        if await Call.amove_bridge(call_id, Call.BridgeStatus.PREPARING):
            call = await Call.objects.aget(pk=call_id)
            try:
                await _summon_agent(call, await _create_stream_call(call))
            except (StreamCallError, AgentServerError) as exc:
                await fail(call_id=call_id, reason=str(exc))
        return await stored(call_id)


async def stored(call_id: uuid.UUID) -> Preparation:
    return Preparation.of(await Call.objects.aget(pk=call_id))


async def _create_stream_call(call: Call) -> str:
    stream_call_id = await stream_calls.create_call(call)
    if not await Call.arecord_bridge_fact(call.pk, "stream_call_id", stream_call_id):
        # Torn down meanwhile: nobody else knows this Stream call exists.
        await _end_stream_call(stream_call_id)
        raise _Abandoned
    return stream_call_id


async def _summon_agent(call: Call, stream_call_id: str) -> None:
    server = agent_server.get_agent_server()
    session_id = ""
    if server is not None:
        session_id = await server.start_session(
            call_id=stream_call_id, call_type=settings.STREAM_CALL_TYPE
        )
        # Kept if the phone joined first (it waits only for the Stream call); if the call
        # was torn down meanwhile, nobody else knows this session exists.
        if not await Call.arecord_bridge_fact(call.pk, "agent_session_id", session_id):
            await _dismiss_agent(stream_call_id, session_id)
            return
    await Call.amove_bridge(call.pk, Call.BridgeStatus.READY)
    await _note(call.pk, "bridge.ready", {"agent_session_id": session_id})


class _Abandoned(StreamCallError):
    def __init__(self) -> None:
        super().__init__("the call ended while it was being prepared")


async def wait_for_stream_call(*, call_id: uuid.UUID, timeout: float) -> str:
    """The Stream call's id once it exists (the agent may still be on its way).

    Raises PreparationFailed, or TimeoutError. Starts the preparation if nobody did (its
    webhook follow-up was lost, or the call was created some other way).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    started = False
    while True:
        call = await Call.objects.aget(pk=call_id)
        if call.bridge_status in (Call.BridgeStatus.FAILED, Call.BridgeStatus.ENDED):
            raise PreparationFailed(call.bridge_error or f"the bridge has {call.bridge_status}")
        if call.stream_call_id:
            return call.stream_call_id
        if call.bridge_status == Call.BridgeStatus.NONE and not started:
            started = True
            tasks.spawn(prepare(call_id=call_id), name=f"prepare:{call_id}")
        if loop.time() >= deadline:
            raise TimeoutError
        await asyncio.sleep(POLL_INTERVAL)


async def mark_joined(*, call_id: uuid.UUID, join_ms: int) -> bool:
    joined = await Call.amove_bridge(call_id, Call.BridgeStatus.JOINED, bridge_join_ms=join_ms)
    if joined:
        await _note(call_id, "bridge.joined", {"join_ms": join_ms})
    return joined


async def note_participant(*, call_id: uuid.UUID, user_id: str, session_id: str) -> None:
    """Someone other than the phone and the configured agent user joined the Stream call."""
    await _note(
        call_id, "bridge.participant_joined", {"user_id": user_id, "session_id": session_id}
    )


async def fail(*, call_id: uuid.UUID, reason: str) -> bool:
    """Record why the bridge failed, release the agent, and apologise to the caller. Once."""
    if not await Call.amove_bridge(call_id, Call.BridgeStatus.FAILED, bridge_error=reason):
        return False
    logger.warning("bridge failed: %s", reason)
    await _note(call_id, "bridge.failed", {"reason": reason})
    call = await Call.objects.aget(pk=call_id)
    # Separate tasks: the caller of fail() (a join task) may be cancelled by the hangup.
    tasks.spawn(_release(call), name=f"bridge-release:{call_id}")
    tasks.spawn(_end_phone_leg(call_id, reason), name=f"bridge-apology:{call_id}")
    return True


async def teardown(*, call_id: uuid.UUID) -> None:
    """The phone leg is over: dismiss the agent and, by setting, end the Stream call. Once,
    whether the media session's close or the hangup webhook (no media ever came) gets here."""
    with call_context(call_id):
        if await Call.amove_bridge(call_id, Call.BridgeStatus.ENDED):
            await _note(call_id, "bridge.ended", {})
            await _release(await Call.objects.aget(pk=call_id))


async def _release(call: Call) -> None:
    if call.agent_session_id:
        await _dismiss_agent(call.stream_call_id or str(call.pk), call.agent_session_id)
    if call.stream_call_id:
        await _end_stream_call(call.stream_call_id)


async def _dismiss_agent(stream_call_id: str, session_id: str) -> None:
    server = agent_server.get_agent_server()
    if server is None:
        return
    try:
        await server.end_session(call_id=stream_call_id, session_id=session_id)
    except AgentServerError as exc:
        logger.warning("could not end agent session %s: %s", session_id, exc)


async def _end_stream_call(stream_call_id: str) -> None:
    if not settings.STREAM_END_CALL_ON_HANGUP:
        return
    try:
        await stream_calls.end_call(stream_call_id)
    except StreamCallError as exc:
        logger.warning("could not end Stream call %s: %s", stream_call_id, exc)


@tasks.call_control  # the apology (or the hangup) is never dropped, however busy we are
async def _end_phone_leg(call_id: uuid.UUID, reason: str) -> None:
    """Never leave the caller in silence: apologise once the call is answered (an inbound
    call is being answered right now), or give up on an unanswered call."""
    call = await _wait_for_answer(call_id)
    if not call.is_live:
        return
    if call.status in (Call.Status.ANSWERED, Call.Status.STREAMING):
        await actions.apologize_and_hang_up(call=call, reason=reason)
        return
    await sync_to_async(call.mark_failed)(reason=reason)
    await actions.hang_up(call=call)


async def _wait_for_answer(call_id: uuid.UUID) -> Call:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ANSWER_WAIT
    while True:
        call = await Call.objects.aget(pk=call_id)
        unanswered = call.status in (Call.Status.INITIATED, Call.Status.RINGING)
        if not unanswered or loop.time() >= deadline:
            return call
        await asyncio.sleep(POLL_INTERVAL * 5)


async def _note(call_id: uuid.UUID, event_type: str, payload: dict[str, Any]) -> None:
    await sync_to_async(CallEvent.note)(
        call_id, source=CallEvent.Source.SYSTEM, type=event_type, payload=payload
    )
