"""Written-out SQL for the statements every call makes several times.

A burst of new calls (or of calls ending) runs all its webhooks' and media sockets' database
work on one thread, and the CPU of that work holds the GIL that the event loop carrying every
call's audio needs. For these few statements Django's query compiler costs several times
what the database takes to run them: looking a call up by one column compiles a SELECT of
its sixty-odd columns and builds their converters anew each time (about 0.2 ms of CPU, the
query 0.03 ms), a status move with its facts compiles CASE and COALESCE expressions (0.3-1 ms),
and an `exists()` costs 0.12 ms against 0.015 ms written out. So they are written out here,
each shape once, with every value adapted by its own model field (`get_db_prep_value` /
`get_db_prep_save`) and every row converted by the converters the ORM itself would use, so
that they read and write what the ORM does on SQLite and PostgreSQL (tests/calls/test_sql.py
holds them to it). The models say what to write (calls/models.py); this module only says it
in SQL. Everything else uses the ORM.

Only our models' own table and column names are spliced into the SQL; values are always
parameters.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)
Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]

# UPDATE assignments ------------------------------------------------------------------


@dataclass(frozen=True)
class Once:
    """Set the column to `value` only where it is still unknown (NULL, or '' for a column
    that cannot be NULL): the first value stays, whichever worker wrote it."""

    value: object


@dataclass(frozen=True)
class AtMost:
    """Lower the column to `value` where it is above it (NULL stays NULL)."""

    value: object


@dataclass(frozen=True)
class Unless:
    """Where `column` equals `equals`, set `value`; elsewhere do `otherwise` (a plain value,
    or Once or AtMost; None keeps the column as it is)."""

    column: str
    equals: object
    value: object
    otherwise: object = None

    def __post_init__(self) -> None:
        if self.equals is None:  # `column = NULL` is never true in SQL
            raise ValueError("Unless compares with a value; None would never match")


Assignment = Once | AtMost | Unless


def update(
    model: type[models.Model],
    pk: object,
    values: Mapping[str, object],
    *,
    within: Mapping[str, Sequence[object]] | None = None,
    null: Mapping[str, bool] | None = None,
) -> int:
    """UPDATE the row `pk` of `model`: each column of `values` to a plain value or an
    Assignment, where each column of `within` is one of its values and each of `null` is
    (True) or is not (False) NULL. The number of rows changed."""
    within, null = within or {}, null or {}
    shape = (
        model,
        connection.vendor,
        tuple((name, _shape(value)) for name, value in values.items()),
        tuple((name, len(options)) for name, options in within.items()),
        tuple(null.items()),
    )
    params: list[Any] = []
    for name, value in values.items():
        params.extend(_assignment_params(model, name, value))
    params.append(_field(model, model._meta.pk.name).get_db_prep_value(pk, connection))
    for name, options in within.items():
        field = _field(model, name)
        params.extend(field.get_db_prep_value(option, connection) for option in options)
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(*shape), params)
        return int(cursor.rowcount)


def _shape(value: object) -> object:
    if isinstance(value, Unless):
        return (
            Unless,
            value.column,
            "keep" if value.otherwise is None else _shape(value.otherwise),
        )
    return type(value) if isinstance(value, Once | AtMost) else None


@functools.cache
def _update_sql(
    model: type[models.Model],
    vendor: str,
    assignments: tuple[tuple[str, object], ...],
    within: tuple[tuple[str, int], ...],
    null: tuple[tuple[str, bool], ...],
) -> str:
    quote = connection.ops.quote_name
    sets = ", ".join(
        f"{quote(_field(model, name).column)} = {_assignment_sql(model, name, shape)}"
        for name, shape in assignments
    )
    where = [f"{quote(model._meta.pk.column)} = %s"]
    where += [
        f"{quote(_field(model, name).column)} IN ({', '.join(['%s'] * count)})"
        for name, count in within
    ]
    where += [
        f"{quote(_field(model, name).column)} IS {'' if is_null else 'NOT '}NULL"
        for name, is_null in null
    ]
    table = quote(model._meta.db_table)
    return f"UPDATE {table} SET {sets} WHERE {' AND '.join(where)}"  # noqa: S608


def _assignment_sql(model: type[models.Model], name: str, shape: object) -> str:
    field = _field(model, name)
    column = connection.ops.quote_name(field.column)
    if shape is None:
        return "%s"
    if shape is Once:
        if field.null:
            return f"COALESCE({column}, %s)"
        return f"CASE WHEN {column} = '' THEN %s ELSE {column} END"
    if shape is AtMost:
        return f"CASE WHEN {column} > %s THEN %s ELSE {column} END"
    assert isinstance(shape, tuple)  # Unless
    _, test, otherwise = shape
    tested = connection.ops.quote_name(_field(model, test).column)
    other = column if otherwise == "keep" else _assignment_sql(model, name, otherwise)
    return f"CASE WHEN {tested} = %s THEN %s ELSE {other} END"


def _assignment_params(model: type[models.Model], name: str, value: object) -> list[Any]:
    field = _field(model, name)
    if isinstance(value, Once):
        return [field.get_db_prep_save(value.value, connection)]
    if isinstance(value, AtMost):
        prepared = field.get_db_prep_save(value.value, connection)
        return [prepared, prepared]
    if isinstance(value, Unless):
        tested = _field(model, value.column).get_db_prep_value(value.equals, connection)
        params = [tested, field.get_db_prep_save(value.value, connection)]
        if value.otherwise is not None:
            params += _assignment_params(model, name, value.otherwise)
        return params
    return [field.get_db_prep_save(value, connection)]


# SELECT ------------------------------------------------------------------------------


class _Reader:
    """Builds objects of a model from rows of `SELECT <every column>`, for one connection
    (it keeps no reference to it: the connection is the key it is cached under)."""

    def __init__(self, model: type[models.Model], db: BaseDatabaseWrapper) -> None:
        fields = model._meta.concrete_fields
        table = model._meta.db_table
        quote = db.ops.quote_name
        self.model = model
        self.attnames = [f.attname for f in fields]
        columns = ", ".join(quote(f.column) for f in fields)
        select = f"SELECT {columns} FROM {quote(table)} WHERE "  # noqa: S608
        # One statement per column looked up by, written once.
        self.select_by = {f.name: f"{select}{quote(f.column)} = %s LIMIT 1" for f in fields}
        # What SQLCompiler.get_converters() finds for each column: the backend's converters
        # (SQLite's text datetimes, UUIDs, booleans) and the field's own from_db_value.
        self.converters: list[tuple[int, list[Converter], Any]] = []
        for index, field in enumerate(fields):
            col = field.get_col(table)
            found = db.ops.get_db_converters(col) + col.get_db_converters(db)
            if found:
                self.converters.append((index, found, col))

    def build(self, row: Sequence[Any], db: BaseDatabaseWrapper) -> Any:
        values = list(row)
        for index, converters, col in self.converters:
            value = values[index]
            for convert in converters:
                value = convert(value, col, db)
            values[index] = value
        return self.model.from_db(db.alias, self.attnames, values)


# Django keeps a connection per thread: each gets its own readers, dropped with it.
_readers: weakref.WeakKeyDictionary[BaseDatabaseWrapper, dict[type[models.Model], _Reader]] = (
    weakref.WeakKeyDictionary()
)


def get(model: type[M], name: str, value: object) -> M | None:
    """The object of `model` whose field `name` is `value` (the first, if several), or None."""
    field = _field(model, name)
    db = connections[DEFAULT_DB_ALIAS]  # this thread's connection
    readers = _readers.setdefault(db, {})
    reader = readers.get(model) or readers.setdefault(model, _Reader(model, db))
    with db.cursor() as cursor:
        cursor.execute(reader.select_by[field.name], [field.get_db_prep_value(value, db)])
        row = cursor.fetchone()
    return None if row is None else reader.build(row, db)


def exists(model: type[models.Model], name: str, value: object) -> bool:
    """Whether a row of `model` has `value` in its field `name`."""
    field = _field(model, name)
    with connection.cursor() as cursor:
        cursor.execute(
            _exists_sql(model, connection.vendor, name),
            [field.get_db_prep_value(value, connection)],
        )
        return cursor.fetchone() is not None


@functools.cache
def _exists_sql(model: type[models.Model], vendor: str, name: str) -> str:
    quote = connection.ops.quote_name
    column = quote(_field(model, name).column)
    return f"SELECT 1 FROM {quote(model._meta.db_table)} WHERE {column} = %s LIMIT 1"  # noqa: S608


# Comparisons a `first` may make: each field equals, or is at least, its value.
OPERATORS = frozenset({"=", ">="})


def first(
    model: type[models.Model],
    names: tuple[str, ...],
    where: tuple[tuple[str, str], ...],
    values: Sequence[object],
    *,
    newest: str | None = None,
) -> tuple[Any, ...] | None:
    """The fields `names` of a row of `model` where each `(field, operator)` of `where` holds
    for its value (`values`, in order): the one whose field `newest` is the greatest when it
    is given, as `.filter(...).order_by("-newest").values_list(*names).first()` reads it; or
    None when no row matches."""
    db = connections[DEFAULT_DB_ALIAS]
    fields = [_field(model, name) for name, _ in where]
    params = [f.get_db_prep_value(v, db) for f, v in zip(fields, values, strict=True)]
    statement, converters = _first_sql(model, db.vendor, names, where, newest)
    with db.cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    if row is None:
        return None
    out = list(row)
    for index, found, col in converters:
        for convert in found:
            out[index] = convert(out[index], col, db)
    return tuple(out)


@functools.cache
def _first_sql(
    model: type[models.Model],
    vendor: str,
    names: tuple[str, ...],
    where: tuple[tuple[str, str], ...],
    newest: str | None,
) -> tuple[str, list[tuple[int, list[Converter], Any]]]:
    quote = connection.ops.quote_name
    table = model._meta.db_table
    conditions = []
    for name, operator in where:
        if operator not in OPERATORS:
            raise ValueError(f"unknown operator {operator!r}")
        conditions.append(f"{quote(_field(model, name).column)} {operator} %s")
    columns = ", ".join(quote(_field(model, name).column) for name in names)
    statement = f"SELECT {columns} FROM {quote(table)} WHERE {' AND '.join(conditions)}"  # noqa: S608
    if newest is not None:
        statement += f" ORDER BY {quote(_field(model, newest).column)} DESC"
    converters = []
    for index, name in enumerate(names):
        col = _field(model, name).get_col(table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if found:
            converters.append((index, found, col))
    return statement + " LIMIT 1", converters


# INSERT ------------------------------------------------------------------------------


def insert(model: type[models.Model], objs: Iterable[models.Model], names: Sequence[str]) -> None:
    """INSERT the objects' fields `names` in one statement, as `bulk_create` does, without
    reading their new primary keys back (nothing on this path uses them)."""
    rows = list(objs)
    if not rows:
        return
    fields = [_field(model, name) for name in names]
    params: list[Any] = []
    for obj in rows:
        params.extend(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(model, connection.vendor, tuple(names), len(rows)), params)


@functools.cache
def _insert_sql(model: type[models.Model], vendor: str, names: tuple[str, ...], count: int) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(_field(model, name).column) for name in names)
    row = "(" + ", ".join(["%s"] * len(names)) + ")"
    table = quote(model._meta.db_table)
    return f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * count)}"  # noqa: S608


def create(obj: models.Model) -> None:
    """INSERT `obj`, as `save(force_insert=True)` does for our models, and read back an
    automatic primary key. It sends no pre_save/post_save signals: nothing listens for these
    models' (a receiver added for them would have to be called here too)."""
    model = type(obj)
    pk = model._meta.pk
    assert pk is not None
    returning = obj.pk is None and bool(getattr(pk, "db_returning", False))  # AutoFields
    fields = [f for f in model._meta.concrete_fields if not (returning and f is pk)]
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    names = tuple(f.name for f in fields)
    sql = _create_sql(model, connection.vendor, names, returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if returning:
            if connection.features.can_return_columns_from_insert:
                obj.pk = cursor.fetchone()[0]
            else:
                obj.pk = connection.ops.last_insert_id(cursor, model._meta.db_table, pk.column)
    obj._state.adding = False
    obj._state.db = connection.alias


@functools.cache
def _create_sql(
    model: type[models.Model], vendor: str, names: tuple[str, ...], returning: bool
) -> str:
    sql = _insert_sql(model, vendor, names, 1)
    if returning and connection.features.can_return_columns_from_insert:
        pk = model._meta.pk
        assert pk is not None
        sql += f" RETURNING {connection.ops.quote_name(pk.column)}"
    return sql


@functools.cache
def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)  # a column of the model's own
    assert field.concrete
    return field
