"""The test suite's settings: phonebridge's own, read from a clean, known environment."""

from __future__ import annotations

import tests.environment  # noqa: F401  (must run before the settings read the environment)
from phonebridge.settings import *  # noqa: F403
