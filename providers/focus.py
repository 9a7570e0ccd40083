"""FOCUS cost files (and AWS CUR 2.0 files) as a cost source: a file, a folder or an S3 prefix.

Files are CSV, gzipped CSV or Parquet. DuckDB (in process, in memory) reads them in one pass and
aggregates the line items to one row per (ProviderName, BillingAccountId, ResourceId, UTC day of
ChargePeriodStart, BillingCurrency); currencies are never summed together. S3 objects are
downloaded with boto3 to a temporary folder first: DuckDB's httpfs extension would have to be
downloaded at run time, which many networks do not allow.

A bad file raises ``InputError`` naming the file, the data row and the column; nothing partial is
returned.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from bot.config import FocusAccount
from bot.errors import InputError, ProviderAuthError, ProviderError, ProviderThrottled
from bot.records import DailyCost
from providers.base import CostBatch
from providers.focus_check import explain
from providers.focus_sql import (
    COST_SUFFIXES,
    FileSchema,
    aggregate_sql,
    inspect,
    parse_tags,
    quote_str,
)

log = logging.getLogger(__name__)

_AUTH_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
_AUTH_EXCEPTIONS = {"NoCredentialsError", "PartialCredentialsError"}
_THROTTLE_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded"}
_DOWNLOAD_THREADS = 8
# DuckDB errors that mean our SQL is wrong; every other one is about the file's contents
_OUR_BUGS = (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException)

# A resource's description (everything but its day and costs) rarely changes from one day to
# the next. Each distinct description is fetched once and each day's row carries only its
# number, the day and the costs: DuckDB builds a Python object per value it returns, and the
# strings (most of them) would otherwise be built again for every day.
_DESCRIPTION = (
    "provider, billing_account_id, resource_id, currency, service, sub_account_id, "
    "sub_account_name, region, resource_name, resource_type, tags"
)
_NULL_AS_EMPTY = (  # as DailyCost has them; a missing currency is an error
    "coalesce(provider, '') AS provider, coalesce(billing_account_id, '') AS billing_account_id, "
    "coalesce(service, '') AS service, coalesce(sub_account_id, '') AS sub_account_id, "
    "coalesce(sub_account_name, '') AS sub_account_name, coalesce(region, '') AS region, "
    "coalesce(resource_name, '') AS resource_name, "
    "coalesce(resource_type, '') AS resource_type, coalesce(tags, '') AS tags"
)
_EPOCH = date(1970, 1, 1)
_FETCH_CHUNK = 50_000
# DuckDB's memory for reading cost files; beyond it, it spills to a temporary folder. Its own
# default is 80% of the machine's memory: aggregating an export billed by the day (2,000,000
# line items, 1,960,000 resource-days) then peaked at 2.1 GB. Within 512 MB that export takes
# about 9 s longer to read (22 s against 13 s) and the ingest peaks under 1 GB; an hourly
# export, far fewer resource-days, is read as fast as without it.
_DUCKDB_MEMORY = "512MB"
# A day's digest (storage.costs.replace_costs leaves a day whose digest is unchanged as it is):
# two sums, modulo 2**64, of a 64-bit hash of each of its rows' stored values, hashed once in
# each column order. In any row order the same, any value changed changes it (but for a 2**-64
# chance), and about 20 times faster than digesting the rows in Python (0.05 against 1.0 s for
# 588,060 rows). The prefix keeps it apart from the digests storage makes itself; a DuckDB
# release that hashed differently would only cost each day one rewrite.
_STORED = ("resource_id", "sub_account_id", "sub_account_name", "service", "region",
           "resource_name", "resource_type", "currency", "coalesce(billed, 0)",
           "coalesce(effective, 0)", "coalesce(list, 0)")  # fmt: skip
_DIGEST_SQL = (
    "SELECT provider, billing_account_id, day, "
    f"sum(CAST(hash({', '.join(_STORED)}) AS HUGEINT)) % {2**64}, "
    f"sum(CAST(hash({', '.join(reversed(_STORED))}) AS HUGEINT)) % {2**64} "
    "FROM daily WHERE day BETWEEN ? AND ? GROUP BY ALL"
)
_DIGEST_PREFIX = "duckdb-hash:"


class FocusFileSource:
    """Cost rows from FOCUS / CUR 2.0 files: a file, a folder (recursive) or ``s3://bucket/prefix``.

    ``s3_client`` is a boto3 S3 client; without one, ``boto3.client("s3")`` is made on first use
    (it honours ``AWS_ENDPOINT_URL`` and the usual credential chain).
    """

    def __init__(self, path: str, *, s3_client: Any | None = None, name: str | None = None):
        self.path = path
        self.name = name or path
        self._s3_client = s3_client

    def fetch(self, start: date | None = None, end: date | None = None) -> CostBatch:
        """Aggregated rows for days in [start, end] (None: every day in the files)."""
        if self.path.startswith("s3://"):
            with tempfile.TemporaryDirectory(prefix="finops-focus-") as tmp:
                paths, names = _download(self.path, self._s3_client, Path(tmp))
                return read_files(paths, label=self.name, start=start, end=end, names=names)
        paths = local_files(Path(self.path))
        return read_files(paths, label=self.name, start=start, end=end)


def from_account(account: FocusAccount) -> FocusFileSource:
    """Registry factory for ``provider: focus`` accounts."""
    return FocusFileSource(account.path, name=account.name)


def is_cost_file(name: str) -> bool:
    """Whether a file or object name looks like a CSV, CSV.gz or Parquet cost file."""
    return name.lower().endswith(COST_SUFFIXES)


def local_files(path: Path) -> list[Path]:
    """The file itself, or every cost file under a folder (recursive, sorted)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and is_cost_file(p.name))
        if not found:
            raise InputError(f"{path}: no CSV, CSV.gz or Parquet files in this folder")
        return found
    raise InputError(f"{path}: no such file or folder")


def read_files(
    paths: Sequence[Path],
    *,
    label: str,
    start: date | None = None,
    end: date | None = None,
    names: Mapping[Path, str] | None = None,
) -> CostBatch:
    """Read and aggregate local cost files into one batch (``label`` becomes its source).

    ``names`` maps a path to the name errors should use (e.g. the ``s3://`` key it came from).
    ``lines_read`` counts every line item in the files, also those outside [start, end].

    DuckDB works within ``_DUCKDB_MEMORY``, spilling to a temporary folder beyond it; should
    a query need more than it can spill, the files are read again with DuckDB's own limit.
    """
    if not paths:
        return CostBatch(source=label, rows=(), lines_read=0)
    span = [start or date.min, end or date.max]
    for memory in (_DUCKDB_MEMORY, None):
        try:
            read = _read(paths, span=span, names=names or {}, memory=memory)
            break
        except duckdb.OutOfMemoryException as exc:
            if memory is None:
                raise ProviderError(f"{label}: out of memory while reading cost files") from exc
            log.warning("%s: reading the cost files needs more than %s; reading them again "
                        "without that limit", label, memory)
    # built once DuckDB is closed, so that its memory and the rows' never add up
    return CostBatch(source=label, rows=_to_rows(*read.rows), lines_read=read.lines_read,
                     day_digests=read.digests)


@dataclass(frozen=True, slots=True)
class _Read:
    lines_read: int
    rows: tuple[list[tuple[Any, ...]], dict[str, np.ndarray]]  # for _to_rows
    digests: dict[tuple[str, str, date], str]


def _read(paths: Sequence[Path], *, span: list[date], names: Mapping[Path, str],
          memory: str | None) -> _Read:
    with _spill_folder() as spill, duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")  # days are UTC days, whatever the host says
        con.execute("SET enable_progress_bar = false")
        con.execute("SET preserve_insertion_order = false")  # the result is sorted anyway
        if spill is not None:  # else DuckDB's own: ./.tmp, wherever the bot runs
            con.execute(f"SET temp_directory = {quote_str(spill)}")
            if memory is not None:
                con.execute(f"SET memory_limit = {quote_str(memory)}")
        schemas = [inspect(con, p, names.get(p, str(p))) for p in paths]
        try:
            con.execute(
                f"CREATE TEMP TABLE daily AS SELECT * REPLACE ({_NULL_AS_EMPTY}) "
                f"FROM ({aggregate_sql(schemas)})"
            )
        except (*_OUR_BUGS, duckdb.OutOfMemoryException):
            raise
        except duckdb.Error as exc:
            raise explain(con, schemas, str(exc)) from exc
        totals = con.execute(
            "SELECT coalesce(sum(lines), 0), "
            "count(*) FILTER (WHERE day IS NULL), count(*) FILTER (WHERE currency IS NULL), "
            "count(*) FILTER (WHERE day NOT BETWEEN DATE '0001-01-01' AND DATE '9999-12-31'), "
            "count(*) FILTER (WHERE NOT (isfinite(billed) AND isfinite(effective) "
            "AND isfinite(list))) "
            "FROM daily"
        ).fetchone()
        assert totals is not None
        lines_read, no_day, no_currency, bad_day, not_finite = (int(v) for v in totals)
        if no_day or no_currency:
            column = "ChargePeriodStart" if no_day else "BillingCurrency"
            raise explain(con, schemas, f"a line item has no {column}")
        if bad_day:  # Python dates end at 9999-12-31: such a line would be dropped unseen
            raise explain(con, schemas, "a ChargePeriodStart is not a day between years 1 and 9999")
        if not_finite:  # NaN, inf, 1e400: no total could be shown or stored
            raise explain(con, schemas, "a cost is not a finite number")
        rows = _fetch(con, schemas, span)
        digests = {
            (provider, account, day): f"{_DIGEST_PREFIX}{first:016x}{second:016x}"
            for provider, account, day, first, second in con.execute(_DIGEST_SQL, span).fetchall()
        }
    return _Read(lines_read, rows, digests)


@contextmanager
def _spill_folder() -> Iterator[str | None]:
    """A temporary folder for DuckDB to spill to; None, and a warning, where none can be made
    (a read-only file system): DuckDB then works without a limit, as it would by default."""
    try:
        folder = tempfile.TemporaryDirectory(prefix="finops-duckdb-")
    except OSError as exc:
        log.warning("no temporary folder for DuckDB to spill to (%s): cost files are read "
                    "without a memory limit", exc)
        yield None
        return
    with folder as path:
        yield path


def _fetch(
    con: duckdb.DuckDBPyConnection, schemas: Sequence[FileSchema], span: list[date]
) -> tuple[list[tuple[Any, ...]], dict[str, np.ndarray]]:
    """The aggregated rows of days in ``span``: each distinct description once (its Tags
    parsed), and per row, sorted by resource then day, its description's number, its day (as
    days since 1970-01-01) and its costs, as arrays."""
    con.execute(
        f"CREATE TEMP TABLE descriptions AS SELECT row_number() OVER (ORDER BY {_DESCRIPTION}) "
        f"- 1 AS number, * FROM (SELECT DISTINCT {_DESCRIPTION} FROM daily "
        "WHERE day BETWEEN ? AND ?)",
        span,
    )
    # Rows with the same Tags text share one dict (read-only, as DailyCost.tags is a Mapping)
    tags_cache: dict[str, dict[str, str]] = {"": {}}
    described = []
    for *text, tags in con.execute(
        f"SELECT {_DESCRIPTION} FROM descriptions ORDER BY number"
    ).fetchall():
        parsed = tags_cache.get(tags)
        if parsed is None:
            try:
                parsed = tags_cache[tags] = parse_tags(tags)
            except ValueError:
                raise explain(con, schemas, f"Tags is not a JSON object: {tags[:60]!r}") from None
        described.append((*text, parsed))
    arrays = con.execute(
        "SELECT number, CAST(day - DATE '1970-01-01' AS INTEGER) AS day, "
        "coalesce(billed, 0) AS billed, coalesce(effective, 0) AS effective, "
        f"coalesce(list, 0) AS list FROM daily JOIN descriptions USING ({_DESCRIPTION}) "
        "WHERE day BETWEEN ? AND ? ORDER BY number, day",
        span,
    ).fetchnumpy()
    return described, arrays


def _to_rows(described: list[tuple[Any, ...]], arrays: dict[str, np.ndarray]) -> list[DailyCost]:
    days: dict[int, date] = {}
    rows: list[DailyCost] = []
    columns = [arrays[name] for name in ("number", "day", "billed", "effective", "list")]
    for first in range(0, len(columns[0]), _FETCH_CHUNK):  # never all as Python values at once
        chunk = (column[first : first + _FETCH_CHUNK].tolist() for column in columns)
        for number, day_number, billed, effective, list_cost in zip(*chunk, strict=True):
            (provider, billing_account, resource, currency, service, sub_account,
             sub_account_name, region, resource_name, resource_type,
             tags) = described[number]  # fmt: skip
            day = days.get(day_number)
            if day is None:
                day = days[day_number] = _EPOCH + timedelta(days=day_number)
            # positionally, in DailyCost's field order: keywords take half as long again
            # (0.3 s more for 600,000 rows)
            rows.append(DailyCost(
                day, resource, provider, billing_account, sub_account, service, currency,
                billed, effective, list_cost, sub_account_name, region, resource_name,
                resource_type, tags,
            ))  # fmt: skip
    return rows


def _download(url: str, client: Any | None, folder: Path) -> tuple[list[Path], dict[Path, str]]:
    """Download every cost object under an ``s3://bucket/prefix`` into ``folder``."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    own_client = client is None
    s3: Any = boto3.client("s3") if client is None else client
    try:
        keys: list[str] = []
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys.extend(o["Key"] for o in page.get("Contents", ()) if is_cost_file(o["Key"]))
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(url, exc) from exc
        if not keys:
            raise InputError(f"{url}: no CSV, CSV.gz or Parquet objects under this prefix")
        keys.sort()
        targets = {key: folder / f"{i:06d}-{key.rsplit('/', 1)[-1]}" for i, key in enumerate(keys)}

        def fetch_one(key: str) -> None:
            try:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"]
                try:
                    with targets[key].open("wb") as out:
                        shutil.copyfileobj(body, out, 1 << 20)
                finally:
                    body.close()
            except (ClientError, BotoCoreError) as exc:
                raise _s3_error(f"s3://{bucket}/{key}", exc) from exc

        with ThreadPoolExecutor(max_workers=min(_DOWNLOAD_THREADS, len(keys))) as pool:
            for future in [pool.submit(fetch_one, key) for key in keys]:
                future.result()
    finally:
        if own_client:
            s3.close()
    return list(targets.values()), {path: f"s3://{bucket}/{key}" for key, path in targets.items()}


def _s3_error(where: str, exc: Exception) -> ProviderError:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    code = str(error.get("Code") or type(exc).__name__)
    message = " ".join(str(error.get("Message") or exc).split())
    text = f"{where}: {code}: {message}"
    if code in _AUTH_CODES or type(exc).__name__ in _AUTH_EXCEPTIONS:
        return ProviderAuthError(text)
    if code in _THROTTLE_CODES:
        return ProviderThrottled(text)
    return ProviderError(text)
