"""A fake BigQuery REST API (v2) that really runs the queries it receives, on DuckDB.

It implements what ``google-cloud-bigquery``'s ``Client.query_and_wait`` calls:

    POST /bigquery/v2/projects/{p}/queries            jobs.query
    GET  /bigquery/v2/projects/{p}/queries/{job}      jobs.getQueryResults (pageToken, maxResults)
    GET  /bigquery/v2/projects/{p}/jobs/{job}         jobs.get

Tables live in an in-memory DuckDB database with nested columns (STRUCTs, lists of STRUCTs:
``tests.fakes.gcp_billing.EXPORT_COLUMNS`` is the billing export's). The received GoogleSQL runs
there with its named parameters bound, so a wrong query gives wrong rows or an error, as
BigQuery would. Two documented rewrites bridge the dialects, nothing more:

* a backtick-quoted table path `` `p.d.t` `` becomes the DuckDB identifier ``"p.d.t"``;
* a named parameter ``@name`` becomes DuckDB's ``$name``.

Answers use BigQuery's REST encoding (every scalar a string, TIMESTAMP as int64 microseconds when
``formatOptions.useInt64Timestamp`` is set, RECORD as ``{"f": [...]}``, REPEATED as a list of
``{"v": ...}``). Pages are at most ``max_page_rows`` rows. Errors use BigQuery's error JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from tests.fakes.gcp_billing import errors_reply
from tests.fakes.http import Call, FakeServer, Reply, json_reply


def bigquery_error(status: int, reason: str, message: str, *, domain: str = "global") -> Reply:
    """BigQuery's error JSON (``error.errors[].reason`` drives the client's retries)."""
    return errors_reply(status, message, reason, domain=domain)


class QueryError(Exception):
    """The fake's rendering of a failed query: an HTTP status, a reason and a message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


@dataclass
class _Job:
    project: str
    job_id: str
    query: str
    schema: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    created_ms: int


_TOKENS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`([^`]*)`|@(\w+)|--[^\n]*")
_QUERIES = re.compile(r"^/bigquery/v2/projects/([^/]+)/queries(?:/([^/]+))?$")
_JOBS = re.compile(r"^/bigquery/v2/projects/([^/]+)/jobs/([^/]+)$")


class FakeBigQuery(FakeServer):
    """BigQuery's query endpoints over an in-memory DuckDB database of export tables."""

    def __init__(
        self,
        *,
        max_page_rows: int = 100_000,
        tokens: Iterable[str] = ("test-token",),
        location: str = "US",
    ) -> None:
        super().__init__()
        self.max_page_rows = max_page_rows
        self.tokens = set(tokens)
        self.location = location
        self.executed: list[tuple[str, dict[str, Any]]] = []  # (DuckDB SQL, bound parameters)
        self._db = duckdb.connect()
        self._db_lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}

    def stop(self) -> None:
        super().stop()
        self._db.close()

    # --- data ---------------------------------------------------------------------------

    def create_table(self, table: str, columns: str) -> None:
        """Create ``project.dataset.table`` (DuckDB column DDL) unless it exists."""
        with self._db_lock:
            self._db.execute(f'CREATE TABLE IF NOT EXISTS "{table}" ({columns})')

    def insert_rows(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows (column -> value; a missing column is NULL) to a table."""
        with self._db_lock:
            names = [r[0] for r in self._db.execute(f'DESCRIBE "{table}"').fetchall()]
            batch = [{name: row.get(name) for name in names} for row in rows]
            if batch:
                values = ", ".join(f"${name}" for name in names)
                self._db.executemany(f'INSERT INTO "{table}" VALUES ({values})', batch)

    # --- HTTP ---------------------------------------------------------------------------

    def not_found_body(self, call: Call) -> Any:
        message = f"Not found: URL {call.path}"
        return bigquery_error(404, "notFound", message).body

    def handle(self, call: Call) -> Reply:
        if call.headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
            return bigquery_error(
                401,
                "required" if "authorization" not in call.headers else "authError",
                "Request is missing required authentication credential. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        queries, jobs = _QUERIES.match(call.path), _JOBS.match(call.path)
        try:
            if queries and call.method == "POST" and queries.group(2) is None:
                return self._jobs_query(queries.group(1), call)
            if queries and call.method == "GET" and queries.group(2):
                return self._get_query_results(queries.group(1), queries.group(2), call)
            if jobs and call.method == "GET":
                return json_reply(self._job_resource(self._job(jobs.group(1), jobs.group(2))))
        except QueryError as exc:
            return bigquery_error(exc.status, exc.reason, exc.message)
        return self.not_found(call)

    def _jobs_query(self, project: str, call: Call) -> Reply:
        body = call.json() or {}
        if body.get("useLegacySql", True):
            raise QueryError(400, "invalid", "this fake runs GoogleSQL only (useLegacySql=false)")
        sql, params = _translate(body.get("query", ""), body.get("queryParameters", []))
        schema, rows = self._run(sql, params, body.get("formatOptions", {}))
        job = _Job(
            project,
            f"job_{uuid.uuid4().hex[:20]}",
            body["query"],
            schema,
            rows,
            int(dt.datetime.now(dt.UTC).timestamp() * 1000),
        )
        with self._db_lock:
            self._jobs[job.job_id] = job
        page = self._page(job, body.get("maxResults"), 0)
        return json_reply(
            {
                "kind": "bigquery#queryResponse",
                **page,
                "cacheHit": False,
                "totalBytesProcessed": str(64 * len(rows)),
                "jobComplete": True,
            }
        )

    def _get_query_results(self, project: str, job_id: str, call: Call) -> Reply:
        job = self._job(project, job_id)
        start = int(call.param("startIndex") or 0)
        token = call.param("pageToken")
        if token:
            start = _offset(token, job.job_id)
        max_results = call.param("maxResults")
        page = self._page(job, int(max_results) if max_results is not None else None, start)
        body = {
            "kind": "bigquery#getQueryResultsResponse",
            "etag": job.job_id,
            **page,
            "jobComplete": True,
            "cacheHit": False,
        }
        fields = call.param("fields")
        if fields:  # partial response: the client asks for a few top-level keys only
            body = {k: v for k, v in body.items() if k in fields.split(",")}
        return json_reply(body)

    # --- helpers ------------------------------------------------------------------------

    def _job(self, project: str, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is None or job.project != project:
            raise QueryError(404, "notFound", f"Not found: Job {project}:{self.location}.{job_id}")
        return job

    def _page(self, job: _Job, max_results: int | None, start: int) -> dict[str, Any]:
        size = self.max_page_rows if max_results is None else min(max_results, self.max_page_rows)
        rows = job.rows[start : start + size]
        page: dict[str, Any] = {
            "jobReference": {
                "projectId": job.project,
                "jobId": job.job_id,
                "location": self.location,
            },
            "schema": {"fields": job.schema},
            "totalRows": str(len(job.rows)),
        }
        if max_results != 0:
            page["rows"] = rows
            if start + size < len(job.rows):
                page["pageToken"] = _token(job.job_id, start + size)
        return page

    def _job_resource(self, job: _Job) -> dict[str, Any]:
        ref = {"projectId": job.project, "jobId": job.job_id, "location": self.location}
        stamp = str(job.created_ms)
        return {
            "kind": "bigquery#job",
            "id": f"{job.project}:{self.location}.{job.job_id}",
            "jobReference": ref,
            "configuration": {
                "jobType": "QUERY",
                "query": {"query": job.query, "useLegacySql": False},
            },
            "status": {"state": "DONE"},
            "statistics": {
                "creationTime": stamp,
                "startTime": stamp,
                "endTime": stamp,
                "query": {"totalBytesProcessed": "0", "statementType": "SELECT"},
            },
        }

    def _not_found_message(self, exc: Exception) -> str:
        missing = re.search(r"Table with name (\S+) does not exist", str(exc))
        if missing is None:
            return f"Not found: {_first_line(exc)}"
        project, _, rest = missing.group(1).partition(".")
        return f"Not found: Table {project}:{rest} was not found in location {self.location}"

    def _run(
        self, sql: str, params: dict[str, Any], options: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        int64_ts = bool(options.get("useInt64Timestamp"))
        with self._db_lock:
            self.executed.append((sql, params))
            try:
                cursor = self._db.execute(sql, params)
                description = cursor.description or []
                records = cursor.fetchall()
            except duckdb.CatalogException as exc:
                raise QueryError(404, "notFound", self._not_found_message(exc)) from exc
            except duckdb.Error as exc:
                raise QueryError(400, "invalidQuery", _first_line(exc)) from exc
        schema = [_field(name, kind) for name, kind, *_ in description]
        rows = [
            {"f": [_cell(v, f, int64_ts) for v, f in zip(r, schema, strict=True)]} for r in records
        ]
        return schema, rows


def _translate(query: str, parameters: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    declared = {p["name"]: _param_value(p) for p in parameters}
    used: dict[str, Any] = {}

    def replace(match: re.Match[str]) -> str:
        table, name = match.group(1), match.group(2)
        if table is not None:
            return '"' + table.replace('"', '""') + '"'
        if name is not None:
            if name not in declared:
                raise QueryError(400, "invalidQuery", f"Query parameter '{name}' not found")
            used[name] = declared[name]
            return f"${name}"
        return match.group(0)

    return _TOKENS.sub(replace, query), used


def _param_value(param: Mapping[str, Any]) -> Any:
    kind = param["parameterType"]["type"]
    raw = (param.get("parameterValue") or {}).get("value")
    if raw is None:
        return None
    converters: dict[str, Any] = {
        "STRING": str,
        "INT64": int,
        "FLOAT64": float,
        "NUMERIC": Decimal,
        "BOOL": lambda v: v == "true",
        "DATE": dt.date.fromisoformat,
        "TIMESTAMP": lambda v: dt.datetime.fromisoformat(v).astimezone(dt.UTC).replace(tzinfo=None),
    }
    if kind not in converters:
        raise QueryError(400, "invalid", f"this fake does not bind {kind} parameters")
    return converters[kind](raw)


_SCALARS = {
    "varchar": "STRING",
    "bigint": "INTEGER",
    "integer": "INTEGER",
    "hugeint": "INTEGER",
    "smallint": "INTEGER",
    "double": "FLOAT",
    "float": "FLOAT",
    "decimal": "NUMERIC",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMP",
}


def _field(name: str, kind: Any) -> dict[str, Any]:
    mode = "NULLABLE"
    if kind.id == "list":
        mode, kind = "REPEATED", kind.children[0][1]
    if kind.id == "struct":
        fields = [_field(child, child_kind) for child, child_kind in kind.children]
        return {"name": name, "type": "RECORD", "mode": mode, "fields": fields}
    if kind.id not in _SCALARS:
        raise QueryError(400, "invalidQuery", f"the fake cannot return a {kind} column")
    return {"name": name, "type": _SCALARS[kind.id], "mode": mode}


def _cell(value: Any, field: Mapping[str, Any], int64_ts: bool) -> dict[str, Any]:
    if field["mode"] == "REPEATED":
        item = {**field, "mode": "NULLABLE"}
        return {"v": [_cell(v, item, int64_ts) for v in value or []]}
    return {"v": _scalar(value, field, int64_ts)}


def _scalar(value: Any, field: Mapping[str, Any], int64_ts: bool) -> Any:
    if value is None:
        return None
    kind = field["type"]
    if kind == "RECORD":
        return {"f": [_cell(value[f["name"]], f, int64_ts) for f in field["fields"]]}
    if kind == "BOOLEAN":
        return "true" if value else "false"
    if kind in ("DATE",):
        return value.isoformat()
    if kind == "TIMESTAMP":
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        micros = (moment - _EPOCH) // dt.timedelta(microseconds=1)
        return str(micros) if int64_ts else repr(micros / 1_000_000)
    if kind == "FLOAT":
        return repr(float(value))
    return str(value)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _token(job_id: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{job_id}:{offset}".encode()).decode()


def _offset(token: str, job_id: str) -> int:
    try:
        owner, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if owner == job_id:
            return int(offset)
    except ValueError:
        pass
    raise QueryError(400, "invalid", "Invalid page token")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
