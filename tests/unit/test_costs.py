from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.costs import (
    Change,
    Period,
    by_currency,
    money,
    month_end_forecast,
    pct,
    period_bounds,
    previous,
    signed_money,
)


def test_periods_end_yesterday() -> None:
    today = date(2026, 11, 27)
    assert period_bounds("7d", today=today) == Period(date(2026, 11, 20), date(2026, 11, 26))
    assert period_bounds("30d", today=today).days == 30
    assert period_bounds("mtd", today=today) == Period(date(2026, 11, 1), date(2026, 11, 26))
    # on the 1st, month to date is the whole previous month
    assert period_bounds("mtd", today=date(2026, 12, 1)) == Period(date(2026, 11, 1),
                                                                  date(2026, 11, 30))


def test_previous_period() -> None:
    p = Period(date(2026, 11, 20), date(2026, 11, 26))
    assert previous(p) == Period(date(2026, 11, 13), date(2026, 11, 19))
    mtd = Period(date(2026, 3, 1), date(2026, 3, 30))
    assert previous(mtd, month_aligned=True) == Period(date(2026, 2, 1), date(2026, 2, 28))


def test_change() -> None:
    assert Change(150.0, 100.0).delta == 50.0
    assert Change(150.0, 100.0).pct == pytest.approx(50.0)
    assert Change(5.0, 0.0).pct is None
    assert pct(None) == "n/a" and pct(12.345) == "+12.3%"


def test_currencies_never_summed() -> None:
    assert by_currency([("USD", 1.0), ("EUR", 2.0), ("USD", 3.0)]) == {"USD": 4.0, "EUR": 2.0}


def test_money() -> None:
    assert money(1234.5) == "$1,234.50"
    assert money(-3) == "-$3.00"
    assert money(10, "EUR") == "10.00 EUR"


def test_a_change_of_money_carries_its_sign() -> None:
    assert signed_money(361.75) == "+$361.75" and signed_money(-2.7) == "-$2.70"
    assert signed_money(10, "EUR") == "+10.00 EUR"
    assert signed_money(0.004) == "$0.00" and signed_money(-0.004) == "$0.00"
    assert money(-0.004) == "$0.00"  # not "-$0.00"


def test_forecast_extends_recent_run_rate() -> None:
    today = date(2026, 11, 11)  # data through the 10th
    daily = {date(2026, 11, 1) + timedelta(days=i): 10.0 for i in range(10)}
    daily[date(2026, 10, 31)] = 999.0  # last month is not month to date
    assert month_end_forecast(daily, today=today) == pytest.approx(300.0)
