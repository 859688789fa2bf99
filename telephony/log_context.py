"""Every log line carries the id of the call it is about.

A context variable holds the current call id; webhook handlers, the media session and
services set it with `call_context(call_id)`, and `CallIdFilter` stamps it on each record.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator

current_call_id: contextvars.ContextVar[str] = contextvars.ContextVar("call_id", default="-")


@contextlib.contextmanager
def call_context(call_id: object) -> Iterator[None]:
    token = current_call_id.set(str(call_id))
    try:
        yield
    finally:
        current_call_id.reset(token)


def bind_call(call_id: object) -> None:
    """Set the call id for the rest of the current task (a consumer binds it once at connect)."""
    current_call_id.set(str(call_id))


class CallIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "call_id"):
            record.call_id = current_call_id.get()
        return True
