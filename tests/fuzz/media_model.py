"""What a media session must make of a frame sequence (telnyx-protocol.md §1.2).

Each frame is built together with its meaning (`Frame`); `Expected` replays the protocol
over those meanings: which frames are malformed, when the stream must close and with which
code. Frames after the close change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_FRAME_CHARS = 64 * 1024  # settings.MEDIA_MAX_FRAME_BYTES
MAX_BAD_FRAMES = 3  # the fuzz's settings.MEDIA_MAX_BAD_FRAMES: the 4th bad frame closes
TOKEN = "fuzz-stream-token-0123456789abcdef"
# Encoding -> {rate: (bytes per sample, bytes per 20 ms)}; the first rate is the default.
CODECS = {
    "PCMU": {8000: (1, 160)},
    "PCMA": {8000: (1, 160)},
    "L16": {16000: (2, 640), 8000: (2, 320)},
}


@dataclass(frozen=True)
class Frame:
    kind: str  # bad, unknown, connected, start, media, dtmf, mark, error, stop
    text: str
    binary: bytes | None = None  # bad: a binary message, sent instead of the text
    token_ok: bool = False  # connected: carries the expected auth token
    codec: tuple[str, int] | None = None  # start: the format it announces, None if unsupported
    inbound: bool = True  # media: the caller's track
    payload_size: int | None = None  # media: decoded payload bytes; None if not base64
    sequenced: bool = True  # media: a chunk or sequence_number that is an integer
    good: bool = True  # media: a media object; dtmf: one valid digit

    def __repr__(self) -> str:
        if self.binary is not None:
            return f"Frame({self.kind!r}, binary={self.binary!r})"
        text = self.text if len(self.text) < 300 else self.text[:300] + "..."
        return f"Frame({self.kind!r}, {text!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how Hypothesis prints it
        printer.text(repr(self))


@dataclass
class Expected:
    """The protocol, replayed over the meaning of each frame."""

    auth_pending: bool
    codec: tuple[str, int] | None = None
    close: int | None = None
    malformed: int = 0
    frames: int = 0
    other_track: int = 0
    unknown: int = 0
    errors: int = 0

    def feed(self, frame: Frame) -> None:
        if self.close is not None:
            return  # the stream is over
        if frame.kind == "bad":
            return self._bad()
        if self.auth_pending and frame.kind != "connected":
            return self._close(1008)
        getattr(self, f"_{frame.kind}")(frame)

    def _bad(self) -> None:
        self.malformed += 1
        if self.malformed > MAX_BAD_FRAMES:
            self._close(1008)

    def _close(self, code: int) -> None:
        self.close = code

    def _unknown(self, frame: Frame) -> None:
        self.unknown += 1
        self._bad()  # counted as a bad frame too: a stream of them is closed

    def _connected(self, frame: Frame) -> None:
        if self.auth_pending and not frame.token_ok:
            return self._close(1008)
        self.auth_pending = False

    def _start(self, frame: Frame) -> None:
        if self.codec is not None:
            return self._bad()  # a second start
        if frame.codec is None:
            return self._close(1003)
        self.codec = frame.codec

    def _media(self, frame: Frame) -> None:
        if self.codec is None or not frame.good:
            return self._bad()
        if not frame.inbound:
            self.other_track += 1
            return
        width, frame_bytes = CODECS[self.codec[0]][self.codec[1]]
        size = frame.payload_size
        if not size or size % width or size > frame_bytes * 50 or not frame.sequenced:
            return self._bad()
        self.frames += 1

    def _dtmf(self, frame: Frame) -> None:
        if not frame.good:
            self._bad()

    def _mark(self, frame: Frame) -> None:
        pass

    def _error(self, frame: Frame) -> None:
        self.errors += 1

    def _stop(self, frame: Frame) -> None:
        self._close(1000)


@dataclass(frozen=True)
class MediaCase:
    frames: tuple[Frame, ...]
    auth_token: bool  # the session expects the token in the `connected` frame
    expected: Expected = field(repr=False)
