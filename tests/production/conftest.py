from __future__ import annotations

import hashlib

import pytest

from tests.services import Postgres, Redis, postgres_server, redis_server

SEED = hashlib.sha256(b"multi-worker simulator").digest()


@pytest.fixture(scope="module")
def postgres() -> Postgres:
    with postgres_server() as pg:
        yield pg


@pytest.fixture(scope="module")
def redis() -> Redis:
    with redis_server() as server:
        yield server
