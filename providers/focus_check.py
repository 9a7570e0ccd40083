"""Finds the first bad row of a cost file after the fast DuckDB read failed.

Good files never come here: the one-pass read types the required columns itself. When that read
fails, DuckDB's message is long and names a line at best, so this slower second pass walks the
file (CSV with the csv module, Parquet with ``file_row_number``) and says which data row and which
column are wrong, in one line.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import duckdb

from bot.errors import InputError
from providers.focus_sql import (
    FIELDS,
    NULL_STRINGS,
    FileSchema,
    first_line,
    open_text,
    parse_tags,
    quote_ident,
    quote_str,
)

# Values that need no second opinion; anything else is judged by DuckDB's own cast.
_PLAIN_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_PLAIN_TIME = re.compile(r"\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?(Z|[+-]\d\d(:?\d\d)?)?")
_CAST_TYPES = {"cost": "DOUBLE", "time": "TIMESTAMPTZ"}
_WHAT = {"cost": "a number", "time": "a timestamp"}
_KEYS = ("ts", "currency")  # a line without these has no day or currency to be counted in


@dataclass(frozen=True, slots=True)
class Problem:
    """The first bad spot in a file: data row (1-based), physical line, column, what is wrong."""

    row: int
    line: int | None
    column: str | None
    detail: str

    def error(self, name: str) -> InputError:
        where = f"data row {self.row}" + (f" (line {self.line})" if self.line else "")
        if self.column:
            where += f", column {self.column}"
        return InputError(f"{name}: {where}: {self.detail}")


# What a typed cost or time must also be: a finite number (DuckDB reads "NaN", "inf" and
# "1e400"); a moment whose UTC day is a date (not "infinity", not past 9999-12-31).
_USABLE = {
    "cost": "isfinite({})",
    "time": "{} BETWEEN TIMESTAMPTZ '0001-01-01 00:00:00+00' "
            "AND TIMESTAMPTZ '9999-12-31 23:59:59.999999+00'",
}


def usable_sql(kind: str, typed: str) -> str:
    """SQL that is true when the typed value ``typed`` of a cost or time column can be used."""
    return _USABLE[kind].format(typed)


@lru_cache(maxsize=4096)
def _duckdb_accepts(value: str, kind: str) -> bool:
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        typed = f"TRY_CAST(? AS {_CAST_TYPES[kind]})"
        row = con.execute(f"SELECT coalesce({usable_sql(kind, typed)}, false)",
                          [value]).fetchone()
    return bool(row and row[0])


def _valid(value: str, kind: str) -> bool:
    if kind == "cost" and _PLAIN_NUMBER.fullmatch(value):
        return math.isfinite(float(value))
    if kind == "time" and _PLAIN_TIME.fullmatch(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass  # DuckDB reads a few forms Python does not: ask it
        else:
            try:
                moment.astimezone(UTC) if moment.tzinfo else moment
            except OverflowError:  # 9999-12-31 west of UTC: the UTC day is past 9999
                return False
            return True
    if kind == "tags":
        try:
            parse_tags(value)
            return True
        except ValueError:
            return False
    return _duckdb_accepts(value, kind)


def _checks(schema: FileSchema) -> Iterator[tuple[str, str, bool]]:
    """(column, kind, must not be null) for every column the read types or keys on."""
    for field in FIELDS:
        srcs = schema.sources.get(field.alias, ())
        for src in srcs:
            not_null = field.alias in _KEYS and len(srcs) == 1
            if src.key is None and (field.kind != "text" or not_null):
                yield src.column, field.kind, not_null


def _csv_problem(schema: FileSchema) -> Problem | None:
    checks = [(c, k, req) for c, k, req in _checks(schema)]
    data_row = 0
    try:
        with open_text(schema.path, schema.compression) as fh:
            reader = csv.reader(fh, strict=True)
            header = next(reader)
            index = {c: i for i, c in enumerate(header)}
            for row in reader:
                if not row:
                    continue  # blank lines are skipped by the reader too
                data_row += 1
                if len(row) != len(header):
                    detail = f"{len(row)} fields where the header has {len(header)}"
                    return Problem(data_row, reader.line_num, None, detail)
                for column, kind, required in checks:
                    value = row[index[column]]
                    if value in NULL_STRINGS:
                        if required:
                            return Problem(data_row, reader.line_num, column, "value is empty")
                    elif kind != "text" and not _valid(value, kind):
                        detail = f"{value[:40]!r} is not {_WHAT.get(kind, 'a JSON object')}"
                        return Problem(data_row, reader.line_num, column, detail)
    except UnicodeDecodeError as exc:
        return Problem(data_row + 1, None, None, f"not UTF-8 text ({exc.reason})")
    except csv.Error as exc:
        return Problem(data_row + 1, reader.line_num, None, f"malformed CSV ({exc})")
    except (OSError, EOFError) as exc:
        return Problem(data_row + 1, None, None, f"unreadable ({exc})")
    return None


def _parquet_problem(con: duckdb.DuckDBPyConnection, schema: FileSchema) -> Problem | None:
    scan = f"read_parquet({quote_str(str(schema.path))}, file_row_number = true)"
    for column, kind, required in _checks(schema):
        col = quote_ident(column)
        is_text = schema.columns[column].upper() == "VARCHAR"
        value = f"nullif(nullif({col}, 'NULL'), '')" if is_text else col
        tests = [f"{value} IS NULL"] if required else []
        if is_text and kind in _CAST_TYPES:
            cast = f"TRY_CAST({value} AS {_CAST_TYPES[kind]})"
            tests.append(f"NOT coalesce({usable_sql(kind, cast)}, false) AND {value} IS NOT NULL")
        elif kind in _CAST_TYPES:
            tests.append(f"NOT coalesce({usable_sql(kind, col)}, true)")
        if is_text and kind == "tags":
            tests.append(f"NOT coalesce(json_valid({value}), true)")
        if not tests:
            continue
        found = con.execute(
            f"SELECT file_row_number, CAST({col} AS VARCHAR) FROM {scan} "
            f"WHERE {' OR '.join(tests)} ORDER BY file_row_number LIMIT 1"
        ).fetchone()
        if found:
            raw = found[1]
            detail = (
                "value is empty"
                if raw is None or raw in NULL_STRINGS
                else f"{raw[:40]!r} is not {_WHAT.get(kind, 'a JSON object')}"
            )
            return Problem(int(found[0]) + 1, None, column, detail)
    return None


_DUCKDB_LINE = re.compile(r"Line: (\d+)")
_DUCKDB_COLUMN = re.compile(r'column "([^"]+)"')
_DUCKDB_FILE = re.compile(r"^\s*file = (.+)$", re.MULTILINE)


def explain(
    con: duckdb.DuckDBPyConnection, schemas: Sequence[FileSchema], reason: str
) -> InputError:
    """The one-line InputError for a failed read: the first bad row found, else the gist of
    ``reason`` (DuckDB's message)."""
    for schema in schemas:
        try:
            problem = (
                _parquet_problem(con, schema) if schema.fmt == "parquet" else _csv_problem(schema)
            )
        except duckdb.Error as inner:
            return InputError(f"{schema.name}: unreadable Parquet file ({first_line(inner)})")
        if problem:
            return problem.error(schema.name)
    text = reason
    file_match = _DUCKDB_FILE.search(text)
    name = ", ".join(s.name for s in schemas)
    if file_match:
        name = next((s.name for s in schemas if str(s.path) == file_match[1].strip()), name)
    where = [f"line {m[1]}" for m in [_DUCKDB_LINE.search(text)] if m]
    where += [f"column {m[1]}" for m in [_DUCKDB_COLUMN.search(text)] if m]
    prefix = f"{name}: {', '.join(where)}: " if where else f"{name}: "
    return InputError(prefix + (text.strip().splitlines() or ["unreadable"])[0])
