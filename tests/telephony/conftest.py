from __future__ import annotations

from collections.abc import Callable

import pytest

from telephony.telnyx import client as telnyx_client
from tests.fake_telnyx import FakeTelnyx


@pytest.fixture
def fake_telnyx() -> Callable[[], FakeTelnyx]:
    """Install a FakeTelnyx as the current event loop's Telnyx client (call inside the loop)."""
    fake = FakeTelnyx()

    def install() -> FakeTelnyx:
        telnyx_client.install_client(fake.client())
        return fake

    return install
