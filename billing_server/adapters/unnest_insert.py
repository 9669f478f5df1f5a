"""Many rows in one PostgreSQL INSERT: one array per column, unnested.

psycopg2 sends an upsert per row when given many rows, and SQLAlchemy's
batched inserts cost more per row than the statement itself. One array
per column keeps the statement's text the same whatever the number of rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, String, Table, TypeDecorator
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

_DIALECT: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's own


def unnest_insert(table: Table) -> str:
    """`INSERT INTO table (...) SELECT * FROM unnest(...)`, for the caller to
    complete (ON CONFLICT, RETURNING) or wrap; parameters named by column."""
    names = ", ".join(column.name for column in table.columns)
    arrays = ", ".join(f"CAST(:{c.name} AS {_array_type(c)})" for c in table.columns)
    return f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})"


def column_arrays(table: Table, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The rows as the parameters of `unnest_insert`: one list per column."""
    return {column.name: [row[column.name] for row in rows] for column in table.columns}


def _array_type(column: Column[Any]) -> str:
    kind = column.type.impl_instance if isinstance(column.type, TypeDecorator) else column.type
    if isinstance(kind, String):
        # Unbounded: a value too long for the column fails there, rather
        # than being cut short by the cast.
        return "text[]"
    return f"{kind.compile(dialect=_DIALECT)}[]"
