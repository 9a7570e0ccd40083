"""Labelled daily cost series for the anomaly benchmarks (``generate(n, days, seed)``).

Each series is one scope (account, service, team, owner or resource) with the difficulties the
detector must live with:

* level from about $1/day to $10k/day (log-uniform), multiplicative log-normal noise;
* weekly seasonality of varying strength: none, mild weekend dips, quiet weekends (business
  hours environments, weekend factor 0.03-0.4), or a weekly batch day costing 1.5-3x;
* trends of -15% to +25% a month;
* recurring fees on the 1st of the month (support, RI / Savings Plan upfront), 0.5-15x a day;
* planned decreases (rightsizing, an environment torn down): a permanent drop to 20-70%;
* tiny noisy series ($0.2-$15/day, noise sigma 0.4-0.9, some days at 0) with small bursts of
  $2-$20 that the $ gate is meant to swallow (unlabelled: an alert on them is a false positive).

Labelled anomalies (at most two per series, at least 45 days apart, from day 42 on) add a cost
on top of the normal one, sized from the series' level:

* spike: +60% to +400% of the level for 1-3 days; window = those days;
* level shift: +50% to +200% from then on; window = its first 7 days;
* ramp: growing linearly to +80% to +250% over 7-21 days, then staying; window = the ramp.

An anomaly is only injected (and labelled) when it is meaningful for the default gates: on some
day of its window the added cost is >= 1.2 x min_impact and >= 1.2 x min_impact_pct of the normal
cost. Smaller ones are not injected, so every label is something a person would want to hear
about. Deterministic for a given (n, days, seed, start).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from bot.config_sections import AnomalyGates

START = date(2024, 1, 15)  # a Monday; the first 1st of a month comes after 17 days


@dataclass(frozen=True)
class Window:
    """A labelled anomaly: series index and its inclusive day range."""

    series: int
    first: int
    last: int
    kind: str


@dataclass(frozen=True)
class Dataset:
    """Generated costs (series x days), their names, start date and labelled windows."""

    names: list[str]
    start: date
    values: np.ndarray
    windows: list[Window]
    kinds: list[str]  # the normal behaviour of each series


def _weekly(rng: np.random.Generator, kind: str) -> np.ndarray:
    """Weekday factors, Monday first."""
    week = np.ones(7)
    if kind == "mild":
        week[5:] = rng.uniform(0.7, 0.95)
    elif kind == "business":
        week[5:] = rng.uniform(0.03, 0.4)
        week[0] *= rng.uniform(1.0, 1.1)
    elif kind == "batch":
        week[rng.integers(0, 7)] = rng.uniform(1.5, 3.0)
    return week


def _normal_costs(rng: np.random.Generator, kind: str, days: int,
                  start: date) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """(usage cost before noise, deseasonalised level, noise sigma, fixed fees) per day."""
    t = np.arange(days)
    weekday = np.array([(start + timedelta(days=int(i))).weekday() for i in t])
    if kind == "tiny":
        level = np.full(days, rng.uniform(0.2, 15.0))
        sigma = rng.uniform(0.4, 0.9)
        return level * _weekly(rng, "mild")[weekday], level, sigma, np.zeros(days)
    level = np.full(days, 10 ** rng.uniform(0.0, 4.0))
    if rng.random() < 0.6:
        level *= np.exp(np.log1p(rng.uniform(-0.15, 0.25)) / 30.0 * t)
    if rng.random() < 0.1:
        drop_day = int(rng.integers(30, days - 20))
        level[drop_day:] *= rng.uniform(0.2, 0.7)
    sigma = rng.uniform(0.02, 0.15)
    fees = np.zeros(days)
    if rng.random() < 0.25:
        fee = rng.uniform(0.5, 15.0) * level[0]
        fees = np.array([fee if (start + timedelta(days=int(i))).day == 1 else 0.0 for i in t])
    return level * _weekly(rng, kind)[weekday], level, sigma, fees


def _anomaly(rng: np.random.Generator, level: np.ndarray, normal: np.ndarray, begin: int,
             days: int) -> tuple[np.ndarray, int, int, str]:
    """(added cost per day, window first, window last, kind) of one anomaly starting at begin."""
    extra = np.zeros(days)
    kind = str(rng.choice(["spike", "shift", "ramp"], p=[0.45, 0.3, 0.25]))
    if kind == "spike":
        length = int(rng.integers(1, 4))
        extra[begin: begin + length] = rng.uniform(0.6, 4.0) * level[begin]
        return extra, begin, min(days, begin + length) - 1, kind
    if kind == "shift":
        extra[begin:] = rng.uniform(0.5, 2.0) * level[begin]
        return extra, begin, min(days, begin + 7) - 1, kind
    length = int(rng.integers(7, 22))
    top = rng.uniform(0.8, 2.5) * level[begin]
    ramp = np.minimum(np.arange(days - begin) + 1, length) / length * top
    extra[begin:] = ramp
    return extra, begin, min(days, begin + length) - 1, kind


def _meaningful(extra: np.ndarray, normal: np.ndarray, first: int, last: int,
                gates: AnomalyGates) -> bool:
    add, base = extra[first: last + 1], normal[first: last + 1]
    ok = (add >= 1.2 * gates.min_impact) & (add >= 1.2 * gates.min_impact_pct / 100.0 * base)
    return bool(ok.any())


def generate(n_series: int = 3000, days: int = 180, seed: int = 1, start: date = START,
             gates: AnomalyGates | None = None) -> Dataset:
    """A labelled data set; see the module docstring for what is in it."""
    gates = gates or AnomalyGates()
    rng = np.random.default_rng(seed)
    kinds = list(rng.choice(["flat", "mild", "business", "batch", "tiny"], size=n_series,
                            p=[0.25, 0.2, 0.25, 0.1, 0.2]))
    values = np.empty((n_series, days))
    windows: list[Window] = []
    for s, kind in enumerate(kinds):
        usage, level, sigma, fees = _normal_costs(rng, kind, days, start)
        cost = usage * np.exp(rng.normal(0.0, sigma, days) - sigma**2 / 2) + fees
        normal = usage + fees
        if kind == "tiny":
            cost[rng.random(days) < rng.uniform(0.0, 0.5)] = 0.0
            if rng.random() < 0.3:
                burst = int(rng.integers(20, days))
                cost[burst] += rng.uniform(2.0, 20.0)
            values[s] = cost
            continue
        begin = int(rng.integers(42, days - 5)) if rng.random() < 0.45 else -1
        while 0 <= begin < days - 5:
            extra, first, last, what = _anomaly(rng, level, normal, begin, days)
            if _meaningful(extra, normal, first, last, gates):
                cost += extra
                windows.append(Window(s, first, last, what))
            if what != "spike" or rng.random() > 0.3:
                break
            begin += int(rng.integers(45, 90))
        values[s] = cost
    names = [f"{kind}-{s:06d}" for s, kind in enumerate(kinds)]
    return Dataset(names, start, values, windows, [str(k) for k in kinds])
