"""Who else is in the Stream call, and when the phone leg should give up on it.

The agent leaving ends the phone call after a short grace (a session migrating to another SFU
leaves and rejoins); everyone else having left ends it after a longer one (without an agent
server, whoever joins is the one the caller talks to). The phone's own sessions don't count.

When an agent was summoned (`expect_agent`), an agent that never arrives, or leaves and does
not come back, is a failure (`on_agent_missing`): the agent server's 201 only promises a join
that runs in the background, and may never happen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class Presence:
    agent_gone_grace = 1.0
    empty_call_grace = 10.0

    def __init__(
        self,
        *,
        phone_user: str,
        agent_user: str,
        on_gone: Callable[[str], None],
        on_agent_missing: Callable[[str], None] | None = None,
    ):
        self._phone_user, self._agent_user = phone_user, agent_user
        self._on_gone = on_gone
        self._on_agent_missing = on_agent_missing or on_gone
        self._present: dict[str, str] = {}  # session id -> user id
        self._someone_came = False
        self._timer: asyncio.TimerHandle | None = None
        self._arrival: asyncio.TimerHandle | None = None

    def expect_agent(self, timeout: float) -> None:
        """The agent was summoned: it must be here within `timeout` seconds from now."""
        if self._arrival is None and not self._agent_here():
            reason = f"the agent did not join the Stream call within {timeout:g} s"
            loop = asyncio.get_running_loop()
            self._arrival = loop.call_later(timeout, self._on_agent_missing, reason)

    def arrived(self, participant: Any) -> None:
        if participant.user_id == self._phone_user:
            return
        self._present[participant.session_id] = participant.user_id
        self._someone_came = True
        self._cancel_timer()
        if participant.user_id == self._agent_user:
            self._cancel_arrival()

    def left(self, participant: Any) -> None:
        if participant.user_id == self._phone_user:
            return
        self._present.pop(participant.session_id, None)
        if participant.user_id == self._agent_user and not self._agent_here():
            reason = "the agent left the Stream call"
            self._gone_after(self.agent_gone_grace, reason, self._on_agent_missing)
        elif self._someone_came and not self._present:
            self._gone_after(
                self.empty_call_grace, "everyone else left the Stream call", self._on_gone
            )

    def stop(self) -> None:
        self._cancel_timer()
        self._cancel_arrival()

    def _agent_here(self) -> bool:
        return self._agent_user in self._present.values()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _cancel_arrival(self) -> None:
        if self._arrival is not None:
            self._arrival.cancel()
            self._arrival = None

    def _gone_after(self, grace: float, reason: str, then: Callable[[str], None]) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(grace, then, reason)
