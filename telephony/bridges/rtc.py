"""The seam between the Stream bridge and getstream's WebRTC SDK (stream-bridge.md §4.3).

The bridge only joins through an `RtcJoin`, shaped like `getstream.video.rtc.join`, and uses
four methods of what it returns. Production passes `rtc_join`; tests pass a fake connection
that runs the SDK's own track, forwarder and PcmData code. `getstream.video.rtc` is imported
here, inside the functions, never at module import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class RtcConnection(Protocol):
    """What the bridge uses of `getstream.video.rtc.ConnectionManager`."""

    def on(self, event: str, f: Callable[..., Any]) -> Any: ...

    async def connect(self) -> None: ...

    async def leave(self) -> None: ...

    async def add_tracks(self, audio: Any = None, video: Any = None) -> None: ...


class RtcJoin(Protocol):
    async def __call__(
        self, call: Any, user_id: str, *, subscription_config: Any = None
    ) -> RtcConnection: ...


async def rtc_join(call: Any, user_id: str, *, subscription_config: Any = None) -> RtcConnection:
    from getstream.video import rtc

    return await rtc.join(call, user_id, subscription_config=subscription_config)


def audio_only_subscription() -> Any:
    from getstream.video.rtc.pb.stream.video.sfu.models.models_pb2 import TRACK_TYPE_AUDIO
    from getstream.video.rtc.tracks import SubscriptionConfig, TrackSubscriptionConfig

    return SubscriptionConfig(default=TrackSubscriptionConfig(track_types=[TRACK_TYPE_AUDIO]))
