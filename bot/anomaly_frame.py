"""``SeriesFrame``: many daily cost series on one calendar, as a 2-D array for the detector."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np


@dataclass(frozen=True, eq=False)
class SeriesFrame:
    """Daily costs of named series on a common run of days.

    ``values[i, d]`` is the cost of ``names[i]`` on ``start + d`` days. A series' history starts
    on its first day with a row; before that the value is NaN (no data), after it a day without
    a row costs 0. Build it with ``from_rows``, ``from_mapping`` or (for millions of rows)
    ``from_codes``.
    """

    names: tuple[str, ...]
    start: date
    values: np.ndarray

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[0] != len(self.names):
            raise ValueError(f"values must be {len(self.names)} series x days, "
                             f"not {self.values.shape}")

    @property
    def days(self) -> int:
        return int(self.values.shape[1])

    @property
    def end(self) -> date:
        """The last day (the day before ``start`` when the frame has no days)."""
        return self.start + timedelta(days=self.days - 1)

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    def index(self, day: date) -> int:
        """Column of ``day``; may be negative or past the end."""
        return (day - self.start).days

    def until(self, last: date) -> SeriesFrame:
        """The same series over the days up to ``last`` (series with no data by then dropped)."""
        cut = max(0, min(self.days, self.index(last) + 1))
        values = self.values[:, :cut]
        keep = ~np.isnan(values).all(axis=1) if cut else np.zeros(len(self.names), bool)
        names = tuple(n for n, k in zip(self.names, keep, strict=True) if k)
        return SeriesFrame(names, self.start, np.ascontiguousarray(values[keep]))

    def series(self, name: str) -> dict[date, float]:
        """One series as ``{day: cost}`` from its first day on."""
        row = self.values[self.names.index(name)]
        return {self.day(i): float(v) for i, v in enumerate(row) if not np.isnan(v)}

    @classmethod
    def from_codes(cls, names: Sequence[str], start: date, codes: np.ndarray,
                   offsets: np.ndarray, costs: np.ndarray, days: int | None = None) -> SeriesFrame:
        """Build from long columns: series number, day number (from ``start``) and cost.

        Rows for the same series and day are added up. ``days`` defaults to the last day seen.
        """
        codes = np.asarray(codes, np.int64)
        offsets = np.asarray(offsets, np.int64)
        costs = np.asarray(costs, np.float64)
        width = int(offsets.max()) + 1 if days is None and len(offsets) else int(days or 0)
        if len(offsets) and (offsets.min() < 0 or offsets.max() >= width):
            raise ValueError("a day falls outside the frame")
        size = len(names) * width
        flat = codes * width + offsets
        values = np.bincount(flat, weights=costs, minlength=size).reshape(len(names), width)
        present = np.bincount(flat, minlength=size).reshape(len(names), width) > 0
        first = np.where(present.any(axis=1), np.argmax(present, axis=1), width)
        values[np.arange(width)[None, :] < first[:, None]] = np.nan
        return cls(tuple(names), start, values)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, date, float]]) -> SeriesFrame:
        """Build from ``(series, day, cost)`` rows in any order."""
        rows = list(rows)
        if not rows:
            return cls((), date(1970, 1, 1), np.zeros((0, 0)))
        names = sorted({r[0] for r in rows})
        number = {n: i for i, n in enumerate(names)}
        start = min(r[1] for r in rows)
        codes = np.fromiter((number[r[0]] for r in rows), np.int64, len(rows))
        offsets = np.fromiter(((r[1] - start).days for r in rows), np.int64, len(rows))
        costs = np.fromiter((r[2] for r in rows), np.float64, len(rows))
        return cls.from_codes(names, start, codes, offsets, costs)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Mapping[date, float]]) -> SeriesFrame:
        """Build from ``{series: {day: cost}}``."""
        return cls.from_rows((name, day, cost) for name, days in data.items()
                             for day, cost in days.items())
