"""calls/sql.py reads and writes what the ORM does, on SQLite and on PostgreSQL.

The checks live in tests/calls/sql_contract.py, runnable against any configured database:
here on the test database (SQLite) in-process, and on a real PostgreSQL (tests/services.py)
in a `manage.py shell` of its own, configured as production is.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from calls import sql
from calls.models import Call
from tests.calls import sql_contract
from tests.environment import TEST_SIGNING_SEED, _public_key_b64
from tests.services import manage, postgres_server, worker_env


@pytest.mark.django_db
def test_the_written_out_statements_read_and_write_what_the_orm_does_on_sqlite():
    assert connection.vendor == "sqlite"
    sql_contract.check()
    sql_contract.check()  # again, with every statement and row reader already cached


@pytest.mark.services
def test_the_written_out_statements_read_and_write_what_the_orm_does_on_postgresql():
    with postgres_server() as pg:
        # A production-like worker's environment, with what its system checks require.
        env = worker_env(
            DATABASE_URL=pg.url,
            PUBLIC_HOST="127.0.0.1",
            TELNYX_PUBLIC_KEY=_public_key_b64(TEST_SIGNING_SEED),
        )
        check = (
            "from django.db import connection; from tests.calls.sql_contract import check; "
            "check(); check(); print('checked on', connection.vendor)"
        )
        try:
            manage(env, "migrate", "-v0")
            output = manage(env, "shell", "-c", check)
        except RuntimeError as failed:  # manage() raises, with the command's output
            pytest.fail(str(failed), pytrace=False)
    assert output.strip().splitlines()[-1] == "checked on postgresql", output


class Statements:
    """The statements run on the connection, with their parameters."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.seen.append((sql, params))
        return execute(sql, params, many, context)


@pytest.mark.django_db
def test_values_reach_the_database_as_parameters_never_in_the_sql_text():
    call = Call.objects.create(direction=Call.Direction.INBOUND)
    hostile = "x'; DELETE FROM calls_call; --"
    statements = Statements()
    with connection.execute_wrapper(statements):
        sql.update(
            Call,
            call.pk,
            {
                "failure_reason": hostile,
                "hangup_cause": sql.Unless("hangup_source", hostile, hostile, sql.Once(hostile)),
            },
            within={"status": [hostile, Call.Status.INITIATED]},
        )
        assert sql.get(Call, "call_control_id", hostile) is None
        assert not sql.exists(Call, "from_number", hostile)
    assert len(statements.seen) == 3
    for text, params in statements.seen:
        assert hostile not in text
        assert hostile in params
    call.refresh_from_db()
    assert (call.failure_reason, call.hangup_cause) == (hostile, hostile)


@pytest.mark.django_db
def test_an_unless_with_nothing_otherwise_keeps_the_column_and_sends_no_parameter_for_it():
    call = Call.objects.create(direction=Call.Direction.INBOUND, hangup_source="callee")
    statements = Statements()
    with connection.execute_wrapper(statements):
        rows = sql.update(
            Call, call.pk, {"hangup_source": sql.Unless("hangup_cause", "reconciled", "caller")}
        )
    assert rows == 1
    [(text, params)] = statements.seen
    assert 'ELSE "hangup_source" END' in text
    assert params == ["reconciled", "caller", call.pk.hex]
    call.refresh_from_db()
    assert call.hangup_source == "callee"
