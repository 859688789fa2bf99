"""Call recordings: `POST Calls/{sid}/Recordings.json` and the recording status callback.

Reference: https://www.twilio.com/docs/voice/api/recording (create with RecordingChannels
mono|dual, RecordingStatusCallback and RecordingStatusCallbackEvent "in-progress completed
absent"; update Status=stopped|paused|in-progress, "Twilio.CURRENT" naming the one in progress).
A recording completes when stopped or when the call ends; its callback then says so.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from telephony.simulation.clock import now_utc
from telephony.twilio.simulator import callbacks, errors
from telephony.twilio.simulator.account import API_VERSION, new_sid, rfc2822
from telephony.twilio.simulator.calls import SimCall

if TYPE_CHECKING:
    from telephony.twilio.simulator.carrier import Carrier

_STATUSES = ("stopped", "paused", "in-progress")
_PRIVATE = ("media_url", "_callback", "_events", "_started")


class Recorder:
    def __init__(self, carrier: Carrier) -> None:
        self.carrier = carrier

    def start(self, call: SimCall, form: dict[str, str], *, source: str) -> dict[str, Any]:
        if call.status != "in-progress":
            raise errors.not_in_progress()
        if call.recording is not None:
            raise errors.ApiError(400, 21220, "A recording is already in progress for this call")
        channels = form.get("RecordingChannels") or "mono"
        if channels not in ("mono", "dual"):
            raise errors.invalid_parameter("RecordingChannels", channels)
        sid = new_sid("RE")
        account = self.carrier.account
        started = now_utc()
        recording: dict[str, Any] = {
            "account_sid": account.sid,
            "api_version": API_VERSION,
            "call_sid": call.sid,
            "conference_sid": None,
            "date_created": rfc2822(started),
            "date_updated": rfc2822(started),
            "start_time": rfc2822(started),
            "duration": None,
            "sid": sid,
            "price": None,
            "price_unit": "USD",
            "status": "in-progress",
            "channels": 2 if channels == "dual" else 1,
            "source": source,
            "error_code": None,
            "encryption_details": None,
            "track": "both",
            "uri": account.path(f"Calls/{call.sid}/Recordings/{sid}.json"),
            # Where the audio would be: api.twilio.com, https, as our server requires.
            "media_url": f"https://api.twilio.com{account.path(f'Recordings/{sid}')}",
            "_callback": form.get("RecordingStatusCallback") or "",
            "_events": tuple((form.get("RecordingStatusCallbackEvent") or "completed").split()),
            "_started": started,
        }
        call.recording = recording
        call.recordings.append(recording)
        self._notify(call, recording, "in-progress")
        return public(recording)

    def update(self, call: SimCall, recording_sid: str, status: str) -> dict[str, Any]:
        if status not in _STATUSES:
            raise errors.invalid_parameter("Status", status)
        recording = self._find(call, recording_sid)
        if status == "stopped":
            self._complete(call, recording)
        elif recording["status"] != "completed":
            recording["status"] = status
            recording["date_updated"] = rfc2822()
        return public(recording)

    async def finish(self, call: SimCall) -> None:
        """The call ended: the recording in progress completes."""
        if call.recording is not None:
            self._complete(call, call.recording)

    def _complete(self, call: SimCall, recording: dict[str, Any]) -> None:
        if recording["status"] == "completed":
            return
        recording["status"] = "completed"
        recording["duration"] = str(int((now_utc() - recording["_started"]).total_seconds()))
        recording["date_updated"] = rfc2822()
        if call.recording is recording:
            call.recording = None
        self._notify(call, recording, "completed")

    def _notify(self, call: SimCall, recording: dict[str, Any], status: str) -> None:
        if recording["_callback"] and status in recording["_events"]:
            params = callbacks.recording_params(call, recording)
            self.carrier.send(call, recording["_callback"], f"recording.{status}", params)

    def _find(self, call: SimCall, recording_sid: str) -> dict[str, Any]:
        if recording_sid == "Twilio.CURRENT":
            if call.recording is None:
                raise errors.no_recording_in_progress()
            return call.recording
        for recording in call.recordings:
            if recording["sid"] == recording_sid:
                return recording
        raise errors.not_found(
            self.carrier.account.path(f"Calls/{call.sid}/Recordings/{recording_sid}.json")
        )


def public(recording: dict[str, Any]) -> dict[str, Any]:
    """The recording as the REST API shows it."""
    return copy.deepcopy({k: v for k, v in recording.items() if k not in _PRIVATE})
