"""Stream's REST side of a phone call: one shared AsyncStream client, the users, the call.

Reference: stream-bridge.md §2. The phone participant is the user `phone-<call uuid>`; the
Stream call's id is our call's uuid and its type is STREAM_CALL_TYPE. The server-side client
holds the API secret, so neither participant needs a token minted here.

getstream is imported lazily, in a worker thread: its cold import takes ~1.8 s, which must
neither slow every module importing this one nor stall the event loop carrying live calls.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
import uuid
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings

from telephony.loop_local import LoopLocal

if TYPE_CHECKING:
    from getstream import AsyncStream
    from getstream.video.async_call import Call as StreamCall

    from calls.models import Call

T = TypeVar("T")

REST_TIMEOUT = 10.0  # seconds for one Stream REST request, retries included


class StreamCallError(Exception):
    """A Stream REST request failed; `str(error)` is the reason stored on the call."""


def phone_user_id(call_id: uuid.UUID | str) -> str:
    return f"phone-{call_id}"


_import_lock = threading.Lock()


async def import_in_thread(module: str) -> None:
    """Import `module` off the event loop, once. The lock keeps two threads (a preparation
    and a media session starting together) from importing the same modules at once."""
    if module not in sys.modules:
        await asyncio.to_thread(_import, module)


def _import(module: str) -> None:
    with _import_lock:
        importlib.import_module(module)


_clients: LoopLocal[AsyncStream] = LoopLocal()


async def get_stream() -> AsyncStream:
    """The process's AsyncStream client, one per event loop (its connection pool is bound
    to the loop that first used it)."""
    client = _clients.current()
    if client is None:
        if not (settings.STREAM_API_KEY and settings.STREAM_API_SECRET):
            raise StreamCallError("Stream is not configured (STREAM_API_KEY, STREAM_API_SECRET)")
        await import_in_thread("getstream.models")
        from getstream import AsyncStream

        options: dict[str, Any] = {"request_timeout": REST_TIMEOUT}
        if settings.STREAM_BASE_URL:
            options["base_url"] = settings.STREAM_BASE_URL
        client = AsyncStream(settings.STREAM_API_KEY, settings.STREAM_API_SECRET, **options)
        _clients.install(client)
    return client


def install_client(client: AsyncStream) -> None:
    """Use `client` on this loop (tests pass one built over an httpx.MockTransport)."""
    _clients.install(client)


def reset_clients() -> None:
    _clients.reset()


async def stream_call(stream_call_id: str) -> StreamCall:
    return (await get_stream()).video.call(settings.STREAM_CALL_TYPE, stream_call_id)


async def create_call(call: Call) -> str:
    """Upsert the phone user, create the agent user if missing, and get-or-create the Stream
    call; returns its id."""
    from getstream.models import CallRequest, MemberRequest, UserRequest

    stream = await get_stream()
    phone, agent = phone_user_id(call.pk), settings.STREAM_AGENT_USER_ID
    number = call.from_number if call.direction == "inbound" else call.to_number
    users = [UserRequest(id=phone, name=number or "Phone caller", custom={"phone": True})]
    if not await _user_exists(agent):
        # Only when missing: an upsert replaces the whole stored user, which would wipe the
        # name, image and custom data the agent (or an operator) gave it.
        users.append(UserRequest(id=agent))
    await _rest(stream.upsert_users(*users))
    stream_call_id = str(call.pk)
    data = CallRequest(
        created_by_id=agent,
        members=[MemberRequest(user_id=phone), MemberRequest(user_id=agent)],
        custom=call_custom_data(call),
    )
    await _rest((await stream_call(stream_call_id)).get_or_create(data=data))
    return stream_call_id


async def _user_exists(user_id: str) -> bool:
    from getstream.models import QueryUsersPayload

    stream = await get_stream()
    payload = QueryUsersPayload(filter_conditions={"id": {"$eq": user_id}}, limit=1)
    found = await _rest(stream.query_users(payload))
    return any(user.id == user_id for user in found.data.users)


def call_custom_data(call: Call) -> dict[str, Any]:
    """What the agent reads from the Stream call: who is calling whom, and the operator's words."""
    data: dict[str, Any] = {
        "phonebridge_call_id": str(call.pk),
        "direction": call.direction,
        "from": call.from_number,
        "to": call.to_number,
    }
    for key in ("greeting", "instructions"):
        if call.custom_data.get(key):
            data[key] = call.custom_data[key]
    return data


async def send_event(stream_call_id: str, *, user_id: str, custom: dict[str, Any]) -> None:
    """A custom event on the call, delivered to every participant (the agent reacts to it)."""
    call = await stream_call(stream_call_id)
    await _rest(call.send_call_event(user_id=user_id, custom=custom))


async def end_call(stream_call_id: str) -> None:
    """End the Stream call for everyone. A call Stream does not know has nothing to end."""
    from getstream.exceptions import StreamApiException

    try:
        await _rest((await stream_call(stream_call_id)).end(), reraise=StreamApiException)
    except StreamApiException as exc:
        if exc.status_code != 404:
            raise StreamCallError(_describe(exc)) from exc


async def _rest(request: Awaitable[T], *, reraise: type[Exception] | None = None) -> T:
    try:
        async with asyncio.timeout(REST_TIMEOUT):
            return await request
    except TimeoutError:
        raise StreamCallError(f"Stream API did not answer within {REST_TIMEOUT:g} s") from None
    except Exception as exc:
        if reraise is not None and isinstance(exc, reraise):
            raise
        raise StreamCallError(_describe(exc)) from exc


def _describe(exc: Exception) -> str:
    text = str(exc)
    return text if text.startswith("Stream") else f"Stream API error: {text or type(exc).__name__}"
