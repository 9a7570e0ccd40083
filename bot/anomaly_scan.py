"""The scan behind ``bot.anomaly.detect``: recurring charges, gates and episodes, in blocks.

For each series and day, on top of ``bot.anomaly_model``:

* recurring charges: the excess (cost above the weekly baseline) of the previous month's 1st is
  expected again on the 1st; on any other day, the smaller excess of the same day of the month
  one and two months back, when both were charges (an excess passing the $ and % gates). A
  1st whose previous 1st is not in the data is not judged: it may carry the month's fees.
* gates: history, $ impact, % impact (increases only) and the score, which is the day's
  residual in scales. A day is anomalous at ``score >= min_score``, or when it and the day
  before both pass the other gates at ``score >= min_score x sustained_fraction``.
* episodes: the first anomalous day alerts; the episode lasts while days stay elevated (every
  gate at ``continue_fraction``) and ends after ``quiet_days`` days that are not.

Series are independent, so blocks of them run on a thread pool (numpy releases the GIL).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from bot.anomaly_model import DEFAULT_TUNING, Model, Tuning, model
from bot.config_sections import AnomalyGates

BLOCK = 1024  # series per block: the working arrays stay in cache


@dataclass(frozen=True)
class Calendar:
    """Per day of a frame: is it the 1st, and the index of the same day of the month one and
    two months back (-1 when that is before the frame)."""

    first_of_month: np.ndarray
    month_back: np.ndarray
    two_months_back: np.ndarray
    monday: int  # index of the first Monday

    @classmethod
    def of(cls, start: date, days: int) -> Calendar:
        dates = [start + timedelta(days=i) for i in range(days)]
        back1 = [max(-1, (_months_back(d, 1) - start).days) for d in dates]
        back2 = [max(-1, (_months_back(d, 2) - start).days) for d in dates]
        return cls(np.array([d.day == 1 for d in dates], bool), np.array(back1, np.int64),
                   np.array(back2, np.int64), (7 - start.weekday()) % 7)


def _months_back(day: date, months: int) -> date:
    """The same day of the month ``months`` earlier (that month's last day when shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    following = date(year + (month == 11), (month + 1) % 12 + 1, 1)
    return date(year, month + 1, min(day.day, (following - timedelta(days=1)).day))


@dataclass(frozen=True)
class Hits:
    """Alerts: series and day indexes, with the figures of each."""

    rows: np.ndarray
    cols: np.ndarray
    expected: np.ndarray
    actual: np.ndarray
    score: np.ndarray

    @classmethod
    def join(cls, parts: list[tuple[int, Hits]]) -> Hits:
        """Hits of consecutive blocks, each given with the row of its first series."""
        if not parts:
            return cls(*(np.zeros(0, np.int64),) * 2, *(np.zeros(0),) * 3)
        return cls(np.concatenate([h.rows + lo for lo, h in parts]),
                   np.concatenate([h.cols for _, h in parts]),
                   np.concatenate([h.expected for _, h in parts]),
                   np.concatenate([h.actual for _, h in parts]),
                   np.concatenate([h.score for _, h in parts]))


def scan(values: np.ndarray, calendar: Calendar, *, gates: AnomalyGates,
         tuning: Tuning = DEFAULT_TUNING, workers: int = 2) -> Hits:
    """The alerts of every series (rows of ``values``) over every day (columns)."""
    starts = range(0, values.shape[0], BLOCK)

    def run(lo: int) -> tuple[int, Hits]:
        return lo, _scan_block(values[lo: lo + BLOCK], calendar, gates, tuning)

    if workers <= 1 or len(starts) <= 1:
        return Hits.join([run(lo) for lo in starts])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return Hits.join(list(pool.map(run, starts)))


def _scan_block(values: np.ndarray, calendar: Calendar, gates: AnomalyGates,
                tuning: Tuning) -> Hits:
    m = model(values, tuning, calendar.monday)
    days = values.shape[1]
    x = values.astype(np.float32)
    scale = np.maximum(m.scale, np.float32(tuning.scale_floor))
    score = m.residual / scale
    recurring, judged = _recurring(m, x, calendar, gates)
    expected = m.expected + recurring
    with np.errstate(invalid="ignore"):
        # Where a recurring charge is expected, the score is the residual against it.
        rows, cols = np.nonzero(recurring > 0)
        pad = m.cushion[rows, cols]
        score[rows, cols] = np.log(np.maximum(x[rows, cols] + pad, pad)
                                   / (expected[rows, cols] + pad)) / scale[rows, cols]
    impact = x - expected
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(expected > 0, impact * np.float32(100) / expected, np.float32(np.inf))

    old_enough = np.arange(days)[None, :] >= m.first[:, None] + gates.min_history_days
    up = judged & old_enough & (impact > 0) & ~np.isnan(score)

    def passing(share: float) -> np.ndarray:
        return up & (impact >= gates.min_impact * share) & (pct >= gates.min_impact_pct * share)

    passes = passing(1.0)
    anomalous = passes & (score >= gates.min_score)
    sustained = passes & (score >= gates.min_score * tuning.sustained_fraction)
    anomalous[:, 1:] |= sustained[:, 1:] & sustained[:, :-1]
    elevated = passing(tuning.continue_fraction)
    elevated &= score >= gates.min_score * tuning.continue_fraction
    alerts = _episodes(anomalous, elevated, tuning.quiet_days)
    rows, cols = np.nonzero(alerts)
    return Hits(rows, cols, expected[rows, cols].astype(np.float64), values[rows, cols],
                score[rows, cols].astype(np.float64))


def _recurring(m: Model, x: np.ndarray, calendar: Calendar,
               gates: AnomalyGates) -> tuple[np.ndarray, np.ndarray]:
    """(recurring charge expected, whether the day can be judged) per series and day."""
    excess = x - m.expected
    charge = np.zeros_like(excess)
    judged = np.ones(excess.shape, bool)
    firsts = np.flatnonzero(calendar.first_of_month)
    known = firsts[calendar.month_back[firsts] >= 0]
    judged[:, firsts[calendar.month_back[firsts] < 0]] = False
    if len(known):
        seen = excess[:, calendar.month_back[known]]
        charge[:, known] = np.fmax(seen, 0)
        judged[:, known] = ~np.isnan(seen)
    other = np.flatnonzero(~calendar.first_of_month & (calendar.two_months_back >= 0))
    if len(other):
        # A charge is what would pass the $ and % gates: a spike, not a wobble.
        with np.errstate(invalid="ignore"):
            charged = ((excess >= gates.min_impact)
                       & (excess >= m.expected * np.float32(gates.min_impact_pct / 100)))
        back1, back2 = calendar.month_back[other], calendar.two_months_back[other]
        both = charged[:, back1] & charged[:, back2]
        charge[:, other] = np.where(both, np.minimum(excess[:, back1], excess[:, back2]), 0)
    return charge, judged


def _episodes(anomalous: np.ndarray, elevated: np.ndarray, quiet_days: int) -> np.ndarray:
    """The first anomalous day of each episode; an episode ends after ``quiet_days`` days in
    a row that are not elevated."""
    n, days = anomalous.shape
    by_day, going_on = np.ascontiguousarray(anomalous.T), np.ascontiguousarray(elevated.T)
    alerts = np.zeros((days, n), bool)
    episode = np.zeros(n, bool)
    quiet = np.zeros(n, np.int32)
    for t in range(days):
        np.greater(by_day[t], episode, out=alerts[t])
        episode |= alerts[t]
        quiet = np.where(going_on[t], 0, quiet + 1)
        episode &= quiet < quiet_days
    return alerts.T
