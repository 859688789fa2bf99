"""Who else is in the Stream call, and when the phone leg should give up on it.

The agent leaving ends the phone call after a short grace (a session migrating to another SFU
leaves and rejoins); everyone else having left ends it after a longer one (without an agent
server, whoever joins is the one the caller talks to). The phone's own sessions don't count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class Presence:
    agent_gone_grace = 1.0
    empty_call_grace = 10.0

    def __init__(self, *, phone_user: str, agent_user: str, on_gone: Callable[[str], None]):
        self._phone_user, self._agent_user = phone_user, agent_user
        self._on_gone = on_gone
        self._present: dict[str, str] = {}  # session id -> user id
        self._someone_came = False
        self._timer: asyncio.TimerHandle | None = None

    def arrived(self, participant: Any) -> None:
        if participant.user_id == self._phone_user:
            return
        self._present[participant.session_id] = participant.user_id
        self._someone_came = True
        self.stop()

    def left(self, participant: Any) -> None:
        if participant.user_id == self._phone_user:
            return
        self._present.pop(participant.session_id, None)
        agent = self._agent_user
        if participant.user_id == agent and agent not in self._present.values():
            self._gone_after(self.agent_gone_grace, "the agent left the Stream call")
        elif self._someone_came and not self._present:
            self._gone_after(self.empty_call_grace, "everyone else left the Stream call")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _gone_after(self, grace: float, reason: str) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(grace, self._on_gone, reason)
