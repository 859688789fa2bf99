"""Fixtures for the fuzz suite: one event loop for a whole run, and the server's error log.

Each fuzz test is a plain (sync) test that runs its thousands of cases on one
`asyncio.Runner`: background tasks the server spawns (answering a call, storing a media
event) live on that loop across cases, as on a real worker, and the test can check the
database between cases from its own thread without an event loop in the way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from telephony import tasks
from telephony.telnyx import client as telnyx_client
from tests.telephony.conftest import FakeTelnyx


class ErrorLog(logging.Handler):
    """Collects every ERROR the server logs: a 500's traceback, a failed background task."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> str:
        """Everything logged since the last take(), with tracebacks; empty when all is well."""
        formatter = logging.Formatter("%(name)s: %(message)s")
        text = "\n".join(formatter.format(record) for record in self.records)
        self.records.clear()
        return text


@pytest.fixture
def server_errors() -> Iterator[ErrorLog]:
    """The server's ERROR records; below that, logging is off (10,000 refusals are noise)."""
    handler = ErrorLog()
    root = logging.getLogger()
    noisy = [logging.getLogger(name) for name in ("telephony", "calls", "django")]
    levels = [logger.level for logger in noisy]
    root.addHandler(handler)
    for logger in noisy:
        logger.setLevel(logging.ERROR)
    yield handler
    root.removeHandler(handler)
    for logger, level in zip(noisy, levels, strict=True):
        logger.setLevel(level)


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner
        runner.run(tasks.drain())


@pytest.fixture
def telnyx(runner: asyncio.Runner) -> FakeTelnyx:
    """A fake Telnyx answering the server's commands on the runner's loop."""
    fake = FakeTelnyx()
    telnyx_client.install_client(fake.client(), loop=runner.get_loop())
    return fake
