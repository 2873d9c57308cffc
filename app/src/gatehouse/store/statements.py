"""peewee queries turned into SQL text once, then run many times with new values.

peewee rebuilds a query's SQL from its expression tree on every execution:
a few hundred Python calls per statement, which on the token endpoint's
paths costs more CPU than MariaDB spends answering. A Compiled query is
built once from a function of its parameters, called with marker values;
the SQL text is kept (per database: SQLite and MySQL quote and bind
differently) along with where each marker landed among the bound values,
and every execution binds the real values there. Rows come back through
the query's own cursor wrapper, so a SELECT yields the same model
instances (joined models included) or tuples it would have.

A `.tuples()` SELECT on MySQL/MariaDB is also packed: its columns travel as
one JSON_ARRAY column and are unpacked (json.loads, in C) and converted by
each field as peewee would. PyMySQL parses every column's definition packet
in Python on every execution, about 16 µs a column on this hardware, which
made a 26-column row cost 570 µs of CPU instead of 150.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import peewee

from gatehouse.store.database import database

# Distinctive values: as ints they pass an integer field's conversion, and a
# text field turns them into their decimal string, which is found just as well.
_MARKER_BASE = 7_340_123_401_000


class Compiled:
    def __init__(self, build: Callable, arity: int):
        self._build = build
        self._arity = arity
        self._for = None  # the database the SQL was compiled for
        self._sql = ""
        self._slots: list = []
        self._query = None
        self._converters: list | None = None  # set when the rows come packed (see the module doc)

    def _compile(self) -> None:
        markers = [_MARKER_BASE + i for i in range(self._arity)]
        query = self._build(*markers)
        self._converters = None
        if _packable(query):
            fields = list(query._returning)
            self._converters = [f.python_value if isinstance(f, peewee.Field) else None for f in fields]
            query = query.select(peewee.fn.JSON_ARRAY(*fields))
        sql, params = query.sql()
        slots = []
        for value in params:
            for index, marker in enumerate(markers):
                if value == marker or value == str(marker):
                    slots.append(index)
                    break
            else:
                slots.append(("constant", value))
        missing = set(range(self._arity)) - {s for s in slots if isinstance(s, int)}
        if missing:
            raise ValueError(f"parameters {sorted(missing)} do not appear in the compiled query")
        self._query, self._sql, self._slots, self._for = query, sql, slots, database.obj

    def _params(self, values) -> list:
        """The bound values of one execution, compiling first for a database not seen yet."""
        if len(values) != self._arity:
            raise TypeError(f"expected {self._arity} values, got {len(values)}")
        if self._for is not database.obj:
            self._compile()
        return [values[s] if isinstance(s, int) else s[1] for s in self._slots]

    def _execute(self, values):
        params = self._params(values)  # first: it compiles, and so sets self._sql
        return database.execute_sql(self._sql, params)

    def _rows(self, values):
        cursor = self._execute(values)  # first: it compiles, and so sets self._query
        if self._converters is None:
            return self._query._get_cursor_wrapper(cursor)
        return [self._unpack(packed) for (packed,) in cursor.fetchall()]

    def _unpack(self, packed: str) -> tuple:
        values = json.loads(packed)
        return tuple(
            value if convert is None or value is None else convert(value)
            for convert, value in zip(self._converters, values, strict=True)
        )

    def first(self, *values):
        """The first row of a SELECT (as the query would give it), or None."""
        return next(iter(self._rows(values)), None)

    def rows(self, *values) -> list:
        return list(self._rows(values))

    def rowcount(self, *values) -> int:
        """Rows an UPDATE or DELETE changed."""
        return database.rows_affected(self._execute(values))

    def insert(self, *values) -> None:
        self._execute(values)

    def insert_many(self, rows) -> None:
        """An INSERT for each tuple of values, in one executemany (PyMySQL sends one multi-row INSERT)."""
        params = [self._params(values) for values in rows]  # first: they compile
        database.cursor().executemany(self._sql, params)


def _packable(query) -> bool:
    """A SELECT of tuples on MySQL/MariaDB (JSON_ARRAY: MariaDB 10.2+, MySQL 5.7+)."""
    return (
        isinstance(database.obj, peewee.MySQLDatabase)
        and isinstance(query, peewee.Select)
        and getattr(query, "_row_type", None) == peewee.ROW.TUPLE
    )
