"""Imported by tests/settings.py before phonebridge's settings: a clean, known environment.

A developer's .env (with real Telnyx or Stream credentials) must never reach the tests, and
no test may call a real Telnyx or Stream endpoint.
"""

from __future__ import annotations

import os

_CLEARED = (
    "DEBUG",
    "DATABASE_URL",
    "REDIS_URL",
    "PUBLIC_HOST",
    "NGROK_URL",
    "TELNYX_API_KEY",
    "TELNYX_PUBLIC_KEY",
    "TELNYX_PHONE_NUMBER",
    "TELNYX_CALL_CONTROL_APP_ID",
    "TELNYX_PHONE_NUMBER_ID",
    "TELNYX_SKIP_SIGNATURE_VERIFICATION",
    "TELNYX_SIMULATOR",
    "AGENT_SERVER_URL",
    "BRIDGE",
    "PHONEBRIDGE_COMMAND_LINE",
)

for name in _CLEARED:
    os.environ.pop(name, None)
# Live Stream tests (-m live) read these explicitly; keep them out of the settings.
for name in ("STREAM_API_KEY", "STREAM_API_SECRET"):
    if name in os.environ:
        os.environ[f"LIVE_{name}"] = os.environ.pop(name)

os.environ["PHONEBRIDGE_READ_DOT_ENV"] = "0"
os.environ["SECRET_KEY"] = "phonebridge-tests-only"
os.environ["TELNYX_API_BASE_URL"] = "http://127.0.0.1:9/never-called"
os.environ["TELNYX_API_KEY"] = "KEYTEST"
os.environ["TELNYX_CALL_CONTROL_APP_ID"] = "1234567890"
os.environ["TELNYX_PHONE_NUMBER"] = "+15550001111"
os.environ["PUBLIC_HOST"] = "phonebridge.test"
os.environ["TELNYX_API_MAX_ATTEMPTS"] = "4"
os.environ.setdefault("MEDIA_ROOT", "/tmp/phonebridge-test-media")

# The test suite's own Telnyx signing key: tests sign webhooks with it (tests/conftest.py).
TEST_SIGNING_SEED = bytes(range(32))


def _public_key_b64(seed: bytes) -> str:
    import base64

    from nacl.signing import SigningKey

    return base64.b64encode(bytes(SigningKey(seed).verify_key)).decode()


os.environ["TELNYX_PUBLIC_KEY"] = _public_key_b64(TEST_SIGNING_SEED)
os.environ["RECONCILE_INTERVAL"] = "0"  # tests run reconciliation explicitly
