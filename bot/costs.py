"""Cost arithmetic on totals: periods, change vs the previous period, forecasts, budgets."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True, slots=True)
class Period:
    """An inclusive range of UTC days."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def label(self) -> str:
        return f"{self.start:%b %d} – {self.end:%b %d}"


def period_bounds(period: str, *, today: date) -> Period:
    """``7d`` / ``30d``: the last complete days; ``mtd``: month to date. Both end yesterday."""
    end = today - timedelta(days=1)
    if period == "mtd":
        return Period(end.replace(day=1), end)
    days = int(period.removesuffix("d"))
    return Period(end - timedelta(days=days - 1), end)


def previous(period: Period, *, month_aligned: bool = False) -> Period:
    """The period just before: same length, or the same days of the previous month."""
    if month_aligned:
        start = (period.start - timedelta(days=1)).replace(day=1)
        last = calendar.monthrange(start.year, start.month)[1]
        return Period(start, start.replace(day=min(period.end.day, last)))
    return Period(period.start - timedelta(days=period.days), period.start - timedelta(days=1))


@dataclass(frozen=True, slots=True)
class Change:
    """Current vs previous spend: absolute and relative (None when nothing came before)."""

    current: float
    before: float

    @property
    def delta(self) -> float:
        return self.current - self.before

    @property
    def pct(self) -> float | None:
        return None if abs(self.before) < 1e-9 else 100.0 * self.delta / self.before


def by_currency(totals: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Sum (currency, cost) pairs per currency; currencies are never added together."""
    out: dict[str, float] = {}
    for currency, cost in totals:
        out[currency] = out.get(currency, 0.0) + cost
    return out


def month_end_forecast(daily: Mapping[date, float], *, today: date) -> float:
    """Month-to-date plus the average of the last 7 complete days for each remaining day."""
    end = today - timedelta(days=1)
    month_start = end.replace(day=1)
    mtd = sum(v for d, v in daily.items() if month_start <= d <= end)
    recent = [daily.get(end - timedelta(days=i), 0.0) for i in range(7)]
    remaining = calendar.monthrange(end.year, end.month)[1] - end.day
    return mtd + remaining * (sum(recent) / len(recent))


def money(amount: float, currency: str = "USD") -> str:
    """``$1,234.56`` for USD, ``1,234.56 EUR`` otherwise (never ``-$0.00``)."""
    sign = "-" if round(amount, 2) < 0 else ""
    if currency == "USD":
        return f"{sign}${abs(amount):,.2f}"
    return f"{sign}{abs(amount):,.2f} {currency}"


def signed_money(amount: float, currency: str = "USD") -> str:
    """A change of money: ``+$12.00``, ``-$3.50`` (rounded to zero: ``$0.00``)."""
    shown = money(amount, currency)
    return f"+{shown}" if round(amount, 2) > 0 else shown


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


@dataclass(frozen=True, slots=True)
class Line:
    """One named amount in a breakdown (a service, a resource, an account...)."""

    name: str
    currency: str
    cost: float


@dataclass(frozen=True, slots=True)
class CostReport:
    """What `/finops costs` shows: totals, change vs the previous period, top drivers."""

    scope: str
    period: Period
    totals: dict[str, Change]  # per currency
    services: list[Line]
    resources: list[Line]
