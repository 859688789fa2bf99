"""Every request a carrier's REST client sends, as a `CarrierCommand` row, and its retries.

Both carriers' chokepoints (telephony/telnyx/client.py, telephony/twilio/client.py) log and
retry the same way, so the console's timeline reads one shape whichever carrier placed the
call, and a call's set-up costs the same writes: one INSERT when a command starts (its body
redacted: a media URL's token is a capability to the call's audio) and one UPDATE of only the
outcome's columns when it ends. What stays in each client is its own protocol: auth, URLs,
how its errors read, which failures are worth another try and how a retry is made safe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from asgiref.sync import sync_to_async
from django.db import DatabaseError
from django.utils import timezone

from calls import sql
from calls.models import Call, CarrierCommand
from calls.redaction import redact

if TYPE_CHECKING:
    from telephony.carrier import CarrierError

logger = logging.getLogger(__name__)

OUTCOME_FIELDS = (
    "attempts",
    "status_code",
    "latency_ms",
    "finished_at",
    "ok",
    "error_code",
    "error_title",
    "error_detail",
)

# Told a finished command's name, its time (retries included) and its error, if any.
Observer = Callable[[str, float, "CarrierError | None"], None]


class Command:
    """One logical request, from its start to its outcome; `row` is None when it is not
    logged (a read the carrier's client does not count as a command, or the log is down)."""

    def __init__(
        self, name: str, row: CarrierCommand | None, observe: Observer | None = None
    ) -> None:
        self.name = name
        self.row = row
        self._observe = observe
        self.started = time.monotonic()

    @classmethod
    async def start(
        cls,
        *,
        carrier: Call.Carrier,
        call: Call | None,
        name: str,
        method: str,
        path: str,
        request_body: dict[str, Any],
        command_id: str | None = None,
        logged: bool = True,
        observe: Observer | None = None,
    ) -> Command:
        row = None
        if logged:
            try:
                row = CarrierCommand(
                    call=call,
                    carrier=carrier,
                    name=name,
                    command_id=command_id,
                    method=method,
                    path=path[:512],
                    # The stream URL's token (in a body or inline TwiML) is never stored.
                    request_body=redact(request_body),
                )
                await sync_to_async(sql.create)(row)  # written out: every call's answer
            except DatabaseError:
                # The command matters more than its log line: send it even if the log is down.
                logger.exception("%s: could not log the command", name)
        return cls(name, row, observe)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    async def finish(
        self, *, attempts: int, status_code: int | None, error: CarrierError | None = None
    ) -> None:
        row = self.row
        if row is None:
            return
        if self._observe is not None:
            self._observe(row.name, self.elapsed(), error)
        row.attempts = attempts
        row.status_code = status_code
        row.latency_ms = round(self.elapsed() * 1000)
        row.finished_at = timezone.now()
        # A command refused because the call is already over did what it was for.
        row.ok = error is None or error.already_ended
        if error is not None:
            row.error_code = error.code[:16]
            row.error_title = error.title[:255]
            row.error_detail = error.detail or str(error)
        try:
            # Only the outcome's columns: the request body was written with the row.
            outcome = {name: getattr(row, name) for name in OUTCOME_FIELDS}
            await sync_to_async(sql.update)(CarrierCommand, row.pk, outcome)
        except DatabaseError:
            logger.exception("%s: could not log the command's outcome", row.name)


@dataclass(frozen=True)
class Failure:
    """An attempt that failed: the carrier's error and how long to wait before the next."""

    error: CarrierError
    delay: float


class Interrupted(Exception):
    """Raised by an attempt to stop at once, without another try (one could do the work
    twice): the command's outcome is `error`, and the caller decides what comes next."""

    def __init__(self, error: CarrierError, delay: float) -> None:
        super().__init__(str(error))
        self.error, self.delay = error, delay


Attempt = Callable[[int], Awaitable["httpx.Response | Failure"]]


async def send(
    command: Command,
    attempt: Attempt,
    *,
    errors: type[CarrierError],
    max_attempts: int,
    sleep: Callable[[float], Awaitable[None]],
) -> httpx.Response:
    """Run `attempt` (told its number, from 1) until it answers, its error is permanent or
    `max_attempts` are spent, sleeping each failure's delay between tries; log the outcome
    of the command, which ends in a response, in an `errors` (the carrier's error class)
    or in `Interrupted`."""
    attempts = 0
    try:
        while True:
            attempts += 1
            outcome = await attempt(attempts)
            if isinstance(outcome, httpx.Response):
                await command.finish(attempts=attempts, status_code=outcome.status_code)
                return outcome
            error = outcome.error
            if error.permanent or attempts >= max_attempts:
                raise error
            logger.info(
                "%s: attempt %d failed (%s); retrying in %.2fs",
                command.name,
                attempts,
                error,
                outcome.delay,
            )
            await sleep(outcome.delay)
    except errors as exc:
        await command.finish(attempts=attempts, status_code=exc.status_code, error=exc)
        raise
    except Interrupted as exc:
        await command.finish(attempts=attempts, status_code=exc.error.status_code, error=exc.error)
        raise
