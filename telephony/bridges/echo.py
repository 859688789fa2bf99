"""The echo bridge: the caller hears themselves. The offline default, and the tool for
measuring the media path's latency and quality without an agent in the loop."""

from __future__ import annotations

from typing import Any

import numpy as np

from telephony.bridges import AgentSink, Bridge, CallInfo, MediaFormat


class EchoBridge(Bridge):
    name = "echo"

    def __init__(self) -> None:
        self._sink: AgentSink | None = None
        self._rate = 8000
        self.frames = 0

    async def start(self, *, call: CallInfo, media_format: MediaFormat, sink: AgentSink) -> None:
        self._sink = sink
        self._rate = media_format.sample_rate

    def feed_caller_audio(self, samples: np.ndarray) -> None:
        if self._sink is not None:
            self.frames += 1
            self._sink.agent_audio(samples, self._rate)

    async def close(self, reason: str) -> None:
        self._sink = None

    def describe(self) -> dict[str, Any]:
        return {"echoed_frames": self.frames}
