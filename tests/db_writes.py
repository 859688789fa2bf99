"""Counting the statements that change the database, for tests that pin a cost as a count
(writes per call set-up) rather than as a time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.db.backends.signals import connection_created


class Writes:
    """Counts statements that change the database, on the database thread's connection."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not sql.lstrip().upper().startswith(("SELECT", "SAVEPOINT", "RELEASE", "BEGIN")):
            self.statements.append(sql)
        return execute(sql, params, many, context)

    def install(self, sender: Any = None, connection: Any = connection, **kwargs: Any) -> None:
        if self not in connection.execute_wrappers:  # once, though it connects after install
            connection.execute_wrappers.append(self)

    def take(self) -> list[str]:
        taken, self.statements = self.statements, []
        return taken


@pytest.fixture
async def writes() -> AsyncIterator[Writes]:
    counter = Writes()
    # Views, consumers and the command log run their queries on asgiref's one thread for
    # thread-sensitive work: watch its connection, and any it opens anew.
    await sync_to_async(counter.install)()
    connection_created.connect(counter.install)
    yield counter
    connection_created.disconnect(counter.install)
