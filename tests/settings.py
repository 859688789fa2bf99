"""The test suite's settings: phonebridge's own, read from a clean, known environment."""

from __future__ import annotations

import os

import tests.environment  # noqa: F401  (must run before the settings read the environment)
from phonebridge.settings import *  # noqa: F403

# A file (not in-memory) test database: the live ASGI server, its sync_to_async thread and
# the tests all use it at once, and SQLite's WAL mode needs a file.
DATABASES["default"]["TEST"] = {"NAME": f"/tmp/phonebridge-test-{os.getpid()}.sqlite3"}  # noqa: F405
