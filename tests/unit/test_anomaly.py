from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from bot.anomaly import (
    Alert,
    SeriesFrame,
    detect,
    expected_costs,
    last_complete_day,
    root_cause,
)
from bot.config_sections import AnomalyGates

MONDAY = date(2024, 1, 1)
GATES = AnomalyGates()


def frame(*rows: tuple[str, np.ndarray], start: date = MONDAY) -> SeriesFrame:
    return SeriesFrame(tuple(n for n, _ in rows), start, np.array([v for _, v in rows], float))


def noisy(level: float, days: int, sigma: float, seed: int) -> np.ndarray:
    """A flat series with multiplicative log-normal noise."""
    return level * np.exp(np.random.default_rng(seed).normal(0.0, sigma, days))


def dates(start: date, days: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(days)]


def weekly(weekday: float, weekend: float, days: int, sigma: float, seed: int) -> np.ndarray:
    shape = np.array([weekday if d.weekday() < 5 else weekend for d in dates(MONDAY, days)])
    return shape * noisy(1.0, days, sigma, seed)


def optscale_alerts(x: np.ndarray) -> np.ndarray:
    """Days on which OptScale's rule fires: cost > mean(previous 7 days) x 1.30."""
    means = np.array([x[t - 7: t].mean() for t in range(7, len(x))])
    return np.flatnonzero(x[7:] > means * 1.3) + 7


def test_quiet_weekends_do_not_alert_on_mondays() -> None:
    costs = weekly(1000.0, 60.0, 140, 0.04, seed=1)
    naive = optscale_alerts(costs)
    mondays = [t for t in naive if (MONDAY + timedelta(days=int(t))).weekday() == 0]
    assert len(mondays) >= 15  # the data does have the Monday jump
    assert detect(frame(("team-dev", costs)), gates=GATES) == []


def test_weekly_batch_day_is_seasonality() -> None:
    costs = noisy(400.0, 140, 0.05, seed=2)
    costs[2::7] *= 3.0  # every Wednesday
    assert detect(frame(("etl", costs)), gates=GATES) == []


def test_monthly_fee_on_the_first_is_expected() -> None:
    days = dates(MONDAY, 182)
    costs = noisy(200.0, 182, 0.03, seed=3)
    fee_from_april = costs.copy()
    for i, d in enumerate(days):
        if d.day == 1:
            costs[i] += 3000.0  # support fee every month
            if d.month >= 4:
                fee_from_april[i] += 3000.0  # a new RI fee from April on
    assert detect(frame(("support", costs)), gates=GATES) == []
    alerts = detect(frame(("ri", fee_from_april)), gates=GATES)
    assert [a.day for a in alerts] == [date(2024, 4, 1)]  # new once, then expected


def test_charge_on_another_day_is_expected_after_two_months() -> None:
    days = dates(MONDAY, 200)
    costs = noisy(200.0, 200, 0.03, seed=4)
    fees = [i for i, d in enumerate(days) if d.day == 20]
    costs[fees] += 2500.0
    alerts = detect(frame(("marketplace", costs)), gates=GATES)
    assert {a.day for a in alerts} <= {days[fees[0]], days[fees[1]]}
    assert len(alerts) >= 1


def test_spike_alerts_once_with_its_figures() -> None:
    costs = noisy(500.0, 120, 0.03, seed=5)
    costs[70:73] += 1500.0  # a 3-day runaway job
    alerts = detect(frame(("acct", costs)), gates=GATES)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.series == "acct" and a.day == MONDAY + timedelta(days=70)
    assert a.actual == costs[70]
    assert a.expected == pytest.approx(500.0, rel=0.06)
    assert a.impact == pytest.approx(a.actual - a.expected)
    assert a.impact_pct == pytest.approx(100.0 * a.impact / a.expected)
    assert a.score >= GATES.min_score
    assert a.causes == ()


def test_level_shift_alerts_once() -> None:
    costs = noisy(300.0, 160, 0.04, seed=6)
    costs[80:] *= 2.0
    alerts = detect(frame(("svc", costs)), gates=GATES)
    assert [a.day for a in alerts] == [MONDAY + timedelta(days=80)]


def test_new_episode_after_return_to_normal() -> None:
    costs = noisy(500.0, 160, 0.03, seed=7)
    costs[60:62] += 2000.0
    costs[110] += 2000.0
    alerts = detect(frame(("svc", costs)), gates=GATES)
    assert [a.day for a in alerts] == [MONDAY + timedelta(days=60), MONDAY + timedelta(days=110)]


def test_a_planned_decrease_is_not_alerted() -> None:
    costs = weekly(1000.0, 300.0, 160, 0.04, seed=8)
    costs[70:] *= 0.3
    assert detect(frame(("rightsized", costs)), gates=GATES) == []


def test_ramp_is_caught_while_a_trend_is_not() -> None:
    days = np.arange(180)
    trend = noisy(400.0, 180, 0.03, seed=9) * 1.2 ** (days / 30)  # +20% a month
    ramp = noisy(400.0, 180, 0.03, seed=10)
    ramp[100:] *= 1 + np.minimum(days[100:] - 99, 14) / 14 * 1.5  # +150% over two weeks
    assert detect(frame(("growing", trend)), gates=GATES) == []
    alerts = detect(frame(("leaking", ramp)), gates=GATES)
    assert len(alerts) == 1 and 100 <= (alerts[0].day - MONDAY).days < 114


def test_history_gate() -> None:
    costs = noisy(500.0, 60, 0.03, seed=11)
    costs[25] += 2000.0
    assert len(detect(frame(("young", costs)), gates=GATES)) == 1
    assert detect(frame(("young", costs)), gates=AnomalyGates(min_history_days=30)) == []


def test_dollar_gate() -> None:
    costs = noisy(10.0, 100, 0.03, seed=12)
    costs[70] += 20.0  # +200%, but only $20
    assert detect(frame(("tiny", costs)), gates=GATES) == []
    assert len(detect(frame(("tiny", costs)), gates=AnomalyGates(min_impact=10))) == 1


def test_percent_gate() -> None:
    costs = noisy(10000.0, 100, 0.01, seed=13)
    costs[70] *= 1.15  # $1,500, but only +15%
    gates = AnomalyGates(min_score=2.0)
    assert detect(frame(("big", costs)), gates=gates) == []
    assert len(detect(frame(("big", costs)), gates=gates.model_copy(
        update={"min_impact_pct": 10.0}))) == 1


def test_tiny_noisy_series_do_not_alert() -> None:
    rng = np.random.default_rng(14)
    rows = []
    for i in range(60):
        costs = rng.uniform(0.2, 6.0) * np.exp(rng.normal(0.0, 0.8, 150))
        costs[rng.random(150) < 0.3] = 0.0
        rows.append((f"lambda-{i}", costs))
    assert detect(frame(*rows), gates=GATES) == []


def test_complete_through_ignores_partial_days() -> None:
    costs = noisy(500.0, 80, 0.03, seed=15)
    costs[79] += 3000.0
    last = MONDAY + timedelta(days=79)
    assert [a.day for a in detect(frame(("s", costs)), gates=GATES)] == [last]
    assert detect(frame(("s", costs)), gates=GATES,
                  complete_through=last - timedelta(days=1)) == []
    # with the default 2-day lag, the day is judged three days later
    assert last_complete_day(last + timedelta(days=2), GATES) < last
    assert last_complete_day(last + timedelta(days=3), GATES) == last


def _estate(seed: int, n: int = 80, days: int = 150) -> SeriesFrame:
    """Mixed series with anomalies, for properties that must hold on any data."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        costs = weekly(rng.uniform(50, 5000), rng.uniform(0.1, 1.0), days, rng.uniform(0.02, 0.2),
                       seed=seed * 1000 + i)
        start = int(rng.integers(0, 40))
        costs[:start] = np.nan  # series appear over time
        at = int(rng.integers(start + 20, days))
        costs[at: at + int(rng.integers(1, 30))] *= rng.uniform(1.5, 4.0)
        rows.append((f"s{i}", costs))
    return frame(*rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_prefix_gives_the_same_alerts(seed: int) -> None:
    full = _estate(seed)
    alerts = detect(full, gates=GATES)
    assert len(alerts) >= 20
    for cut in (40, 75, 110, 149):
        last = full.day(cut)
        before = [a for a in alerts if a.day <= last]
        assert detect(full.until(last), gates=GATES) == before
        assert detect(full, gates=GATES, complete_through=last) == before
    since = full.day(90)
    assert detect(full, gates=GATES, since=since) == [a for a in alerts if a.day >= since]


def test_mapping_input_and_frame_building() -> None:
    built = SeriesFrame.from_rows([("b", date(2024, 1, 3), 1.0), ("a", date(2024, 1, 1), 2.0),
                                   ("a", date(2024, 1, 1), 0.5), ("a", date(2024, 1, 4), 1.0)])
    assert built.names == ("a", "b") and built.start == date(2024, 1, 1) and built.days == 4
    assert built.values[0].tolist() == [2.5, 0.0, 0.0, 1.0]  # duplicates add up, gaps cost 0
    assert np.isnan(built.values[1, :2]).all() and built.values[1, 2:].tolist() == [1.0, 0.0]
    assert built.series("b") == {date(2024, 1, 3): 1.0, date(2024, 1, 4): 0.0}
    costs = noisy(500.0, 100, 0.03, seed=16)
    costs[70] += 2500.0
    mapping = {"m": dict(zip(dates(MONDAY, 100), costs.tolist(), strict=True))}
    assert detect(mapping, gates=GATES) == detect(frame(("m", costs)), gates=GATES)
    assert detect({}, gates=GATES) == []


def test_root_cause_ranks_the_driver_first() -> None:
    causes = root_cause({"EC2": 900.0, "S3": 130.0, "RDS": 300.0, "Lambda": 5.0},
                        {"EC2": 300.0, "S3": 100.0, "RDS": 300.0, "CloudFront": 20.0})
    assert [c.name for c in causes] == ["EC2", "S3", "Lambda", "(other)"]
    assert (causes[0].name, causes[0].delta) == ("EC2", 600.0)
    assert causes[0].share == pytest.approx(600 / 615)
    assert sum(c.share for c in causes) == pytest.approx(1.0)
    assert causes[-1].delta == -20.0  # CloudFront went away, against the total


def test_root_cause_edge_cases() -> None:
    assert root_cause({"a": 1.0}, {"a": 1.0}) == []
    down = root_cause({"a": 50.0, "b": 100.0}, {"a": 100.0, "b": 110.0}, top=1)
    assert [(c.name, c.share) for c in down] == [("a", pytest.approx(50 / 60)),
                                                 ("(other)", pytest.approx(10 / 60))]


def test_expected_costs_explain_an_alert() -> None:
    ec2 = noisy(700.0, 100, 0.03, seed=17)
    s3 = noisy(200.0, 100, 0.03, seed=18)
    ec2[80] += 1500.0
    total = detect(frame(("team", ec2 + s3)), gates=GATES)
    assert len(total) == 1 and total[0].day == MONDAY + timedelta(days=80)
    items = frame(("EC2", ec2), ("S3", s3))
    baseline = expected_costs(items, total[0].day)
    assert baseline["EC2"] == pytest.approx(700.0, rel=0.05)
    current = {"EC2": float(ec2[80]), "S3": float(s3[80])}
    causes = root_cause(current, baseline)
    assert causes[0].name == "EC2" and causes[0].share > 0.9
    assert expected_costs(items, MONDAY - timedelta(days=1)) == {}
    assert isinstance(total[0], Alert)


def test_blocks_and_threads_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    estate = _estate(4, n=70)
    whole = detect(estate, gates=GATES)
    monkeypatch.setattr("bot.anomaly_scan.BLOCK", 16)  # five blocks on two threads
    assert detect(estate, gates=GATES) == whole and len(whole) >= 15
