"""``finops-bot detect``: daily costs from a CSV file in, anomaly alerts to a CSV file out.

Input: a header with (at least) ``date,series,cost`` in any order, then one row per series per
day (``date`` as YYYY-MM-DD, ``cost`` a number; rows repeating a series and day are added up).
Output: ``series,date,expected,actual,impact,impact_pct,score``, one row per alert, by date then
series; money with 2 decimals, ``impact_pct`` with 1 (``inf`` when nothing was expected),
``score`` with 2. Every day of the input counts as complete.

A malformed input raises ``InputError`` with one line naming the file, the row (the header is
row 1, as a spreadsheet shows it) and the column, and no output file is written. The output is
written to a temporary file beside it and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from bot.anomaly import Alert, SeriesFrame, detect
from bot.config_sections import AnomalyGates
from bot.errors import InputError

COLUMNS = ("date", "series", "cost")
OUTPUT_COLUMNS = ("series", "date", "expected", "actual", "impact", "impact_pct", "score")


def run(input_path: Path, output_path: Path, gates: AnomalyGates) -> int:
    """Detect anomalies in ``input_path`` and write them to ``output_path``; the alert count."""
    alerts = detect(read_costs(input_path), gates=gates)
    write_alerts(output_path, alerts)
    return len(alerts)


def read_costs(path: Path) -> SeriesFrame:
    """The long ``date,series,cost`` CSV at ``path`` as a ``SeriesFrame``."""
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except pl.exceptions.NoDataError as exc:
        raise InputError(f"{path}: row 1: the file is empty (expected a header "
                         f"{','.join(COLUMNS)})") from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable CSV file: {first_line}") from exc
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(f"{path}: row 1 (header), column {missing[0]!r}: missing "
                         f"(found: {', '.join(map(repr, raw.columns)) or 'nothing'})")
    frame = raw.select(
        pl.col("date").str.strip_chars().alias("text_date"),
        pl.col("series").str.strip_chars().alias("series"),
        pl.col("cost").str.strip_chars().alias("text_cost"),
    ).with_columns(
        pl.col("text_date").str.strptime(pl.Date, "%Y-%m-%d", strict=False).alias("date"),
        pl.col("text_cost").cast(pl.Float64, strict=False).alias("cost"),
    )
    _check(path, frame, "date", frame["date"].is_null(), "text_date", "not a date (YYYY-MM-DD)")
    _check(path, frame, "series", frame["series"].is_null() | (frame["series"] == ""),
           "series", "empty")
    bad_cost = frame["cost"].is_null() | ~frame["cost"].is_finite()
    _check(path, frame, "cost", bad_cost, "text_cost", "not a number")
    if frame.height == 0:
        return SeriesFrame((), date(1970, 1, 1), np.zeros((0, 0)))
    start: date = frame["date"].min()  # type: ignore[assignment]
    coded = frame.select(
        (pl.col("series").rank("dense") - 1).alias("code"),
        (pl.col("date") - pl.lit(start)).dt.total_days().alias("offset"),
        pl.col("cost"),
    )
    names = frame["series"].unique().sort().to_list()
    return SeriesFrame.from_codes(names, start, coded["code"].to_numpy(),
                                  coded["offset"].to_numpy(), coded["cost"].to_numpy())


def _check(path: Path, frame: pl.DataFrame, column: str, bad: pl.Series, shown: str,
           problem: str) -> None:
    """Raise for the first row where ``bad`` holds."""
    if not bad.any():
        return
    index = int(bad.arg_true()[0])
    value = frame[shown][index]
    what = "no value" if value is None or value == "" else f"{problem}: {value!r}"
    raise InputError(f"{path}: row {index + 2}, column {column!r}: {what}")


def write_alerts(path: Path, alerts: Iterable[Alert]) -> None:
    """Write alerts as the detector CSV (header included even when there are none)."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as exc:  # no such folder, no permission, a read-only disk
        raise InputError(f"{path}: cannot write there ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(OUTPUT_COLUMNS)
            for a in alerts:
                writer.writerow([a.series, a.day.isoformat(), f"{a.expected:.2f}",
                                 f"{a.actual:.2f}", f"{a.impact:.2f}", f"{a.impact_pct:.1f}",
                                 f"{a.score:.2f}"])
        os.replace(temporary, path)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # the disk filled up, or the path is a folder
            raise InputError(f"{path}: cannot write there ({exc.strerror or exc})") from exc
        raise
