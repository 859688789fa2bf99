"""Reading the workers' PostgreSQL database from the test (the workers own the schema)."""

from __future__ import annotations

from typing import Any

import psycopg


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute(sql, params).fetchall()


def calls(url: str) -> dict[str, dict[str, Any]]:
    rows = query(
        url,
        "SELECT call_control_id, status, hangup_cause, frames_in, frames_out, failure_reason FROM calls_call",
    )
    keys = ("status", "hangup_cause", "frames_in", "frames_out", "failure_reason")
    return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}


def event_types(url: str, call_control_id: str) -> list[str]:
    rows = query(
        url,
        "SELECT e.type FROM calls_callevent e JOIN calls_call c ON c.id = e.call_id "
        "WHERE c.call_control_id = %s ORDER BY e.occurred_at, e.id",
        call_control_id,
    )
    return [row[0] for row in rows]
