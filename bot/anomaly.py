"""Cost anomalies: which daily series cost more than they normally do, and why.

Public interface::

    detect(frame, *, gates, complete_through=None, since=None) -> list[Alert]
    last_complete_day(today, gates) -> date              # complete_through for a scheduled scan
    root_cause(current, baseline, top=3) -> list[Cause]
    expected_costs(frame, day) -> dict[str, float]     # a breakdown's baseline for root_cause
    SeriesFrame                                         # series x days (bot.anomaly_frame)

A series is any scope's daily cost (an account, a service, a team, an owner, a resource). What
counts as an anomaly (the model: ``bot.anomaly_model``; gates and episodes: ``bot.anomaly_scan``):

* Increases only, as AWS Cost Anomaly Detection does: a drop (a planned decrease, a resource
  deleted) is never alerted; the baseline follows it down within about two weeks.
* Weekly seasonality is part of the baseline (a team with quiet weekends does not alert on
  Mondays, a weekly batch day does not alert), and so is a trend of up to ~1% a day. A ramp
  faster than ~3% a day is an anomaly; a slower one blends into the trend.
* Recurring monthly charges: what the previous 1st of the month cost above its baseline is
  expected again on the 1st (support fees, RI / Savings Plan fees); on another day of the month,
  a charge seen on that day in both previous months. A 1st whose previous 1st is not in the
  data is not judged at all (it may carry the month's fees).
* Gates (``AnomalyGates``): ``min_history_days`` of data before the day, an impact
  ``actual - expected >= min_impact`` ($) and ``>= min_impact_pct`` (% of expected), and a score
  ``>= min_score``; or two days in a row passing the $ and % gates at half that score. The score
  is the day's log ratio to the expected cost in robust scales of the series' own past
  deviations (a MAD-like median), so a noisy series needs a bigger jump. Tiny series fail the
  $ gate. A young series gets a wide scale.
* One alert per episode, on the day it is first detected. The episode goes on, silently, while
  days stay elevated (every gate at half strength) and ends after 7 days that are not; the next
  anomaly after that is a new episode. A level shift thus alerts once: the baseline takes the
  new level as normal within 4 to 11 days and the episode ends.
* Causal: the alerts of day D use data up to D only, so a scan of a prefix of the days gives
  the same alerts for those days. Billing data lags 24-48 h: ``complete_through`` is the last
  complete day; later days are ignored (``AnomalyGates.lag_days`` says how many to leave out).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from bot.anomaly_frame import SeriesFrame
from bot.anomaly_model import DEFAULT_TUNING, Tuning
from bot.anomaly_model import baseline as weekly_baseline
from bot.anomaly_scan import Calendar, scan
from bot.config_sections import AnomalyGates

__all__ = ["Alert", "Cause", "SeriesFrame", "Tuning", "detect", "expected_costs",
           "last_complete_day", "root_cause"]

OTHER = "(other)"


@dataclass(frozen=True, slots=True)
class Cause:
    """One item behind a change: its own change and its share of the total change."""

    name: str
    delta: float
    share: float


@dataclass(frozen=True, slots=True)
class Alert:
    """The day an anomalous episode of one series was detected.

    ``impact = actual - expected``; ``impact_pct`` is that in % of expected (``inf`` when nothing
    was expected); ``score`` is the robust z-score of the day (log ratio of actual to expected
    in scales of the series' usual deviation). ``causes`` is empty until the caller explains the
    alert with ``root_cause`` (``dataclasses.replace(alert, causes=...)``).
    """

    series: str
    day: date
    expected: float
    actual: float
    impact: float
    impact_pct: float
    score: float
    causes: tuple[Cause, ...] = ()


def detect(frame: SeriesFrame | Mapping[str, Mapping[date, float]], *, gates: AnomalyGates,
           complete_through: date | None = None, since: date | None = None,
           tuning: Tuning = DEFAULT_TUNING, workers: int = 2) -> list[Alert]:
    """Alerts of all series, ordered by day then series.

    ``complete_through``: the last day whose costs are complete (None: every day is); days after
    it are ignored. ``since``: report only alerts on days from then on; the result equals the
    full scan's alerts from that day, since episodes that began earlier are still followed.
    ``workers``: threads over blocks of series (the results do not depend on it).
    """
    if not isinstance(frame, SeriesFrame):
        frame = SeriesFrame.from_mapping(frame)
    if complete_through is not None:
        frame = frame.until(complete_through)
    if not frame.names or frame.days == 0:
        return []
    hits = scan(frame.values, Calendar.of(frame.start, frame.days), gates=gates, tuning=tuning,
                workers=workers)
    first = 0 if since is None else max(0, frame.index(since))
    order = np.lexsort((hits.rows, hits.cols))
    alerts: list[Alert] = []
    for i in order:
        col = int(hits.cols[i])
        if col < first:
            continue
        expected, actual = float(hits.expected[i]), float(hits.actual[i])
        impact = actual - expected
        alerts.append(Alert(
            series=frame.names[int(hits.rows[i])], day=frame.day(col), expected=expected,
            actual=actual, impact=impact,
            impact_pct=impact * 100.0 / expected if expected > 0 else float("inf"),
            score=float(hits.score[i])))
    return alerts


def last_complete_day(today: date, gates: AnomalyGates) -> date:
    """The last day whose billing data is complete on ``today``: the ``lag_days`` days before
    today may still be partial (and today always is)."""
    return today - timedelta(days=gates.lag_days + 1)


def expected_costs(frame: SeriesFrame, day: date,
                   tuning: Tuning = DEFAULT_TUNING) -> dict[str, float]:
    """What each series of ``frame`` was expected to cost on ``day``, from the days before it
    (weekly baseline, recurring charges not included).

    Give it the breakdown of an alerted series (its services, resources or accounts as series)
    to get the ``baseline`` of ``root_cause``. Series without enough history are left out.
    """
    if not 0 <= frame.index(day) < frame.days:
        return {}
    known = frame.until(day)
    expected = weekly_baseline(known.values, tuning)[:, known.index(day)]
    return {n: float(v) for n, v in zip(known.names, expected, strict=True) if not np.isnan(v)}


def root_cause(current: Mapping[str, float], baseline: Mapping[str, float],
               top: int = 3) -> list[Cause]:
    """The items that explain the change from ``baseline`` to ``current``, biggest first.

    Items are ranked by how much they moved in the direction of the total change; each carries
    its delta and its share of the total delta. When more than ``top`` items moved, the rest are
    summed into one ``(other)`` item, so the shares always add up to 1 (an item that moved
    against the total has a negative share). No change at all gives an empty list.
    """
    names = set(current) | set(baseline)
    deltas = {n: float(current.get(n, 0.0)) - float(baseline.get(n, 0.0)) for n in names}
    total = sum(deltas.values())
    if total == 0 or not np.isfinite(total):
        return []
    sign = 1.0 if total > 0 else -1.0
    ranked = sorted((n for n in names if deltas[n] != 0), key=lambda n: (-sign * deltas[n], n))
    causes = [Cause(n, deltas[n], deltas[n] / total) for n in ranked[:top]]
    rest = sum(deltas[n] for n in ranked[top:])
    if rest != 0:
        causes.append(Cause(OTHER, rest, rest / total))
    return causes
