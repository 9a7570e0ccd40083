"""The detector's CSV front end (``finops-bot detect``): real files in, real files out."""

from __future__ import annotations

import csv
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.anomaly import SeriesFrame, detect
from bot.config_sections import AnomalyGates
from bot.errors import InputError
from handlers.detect import read_costs, run

GATES = AnomalyGates()
HEADER = ["series", "date", "expected", "actual", "impact", "impact_pct", "score"]
START = date(2024, 3, 4)


def _costs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    days = 120
    quiet_weekends = np.array([1.0 if (START + timedelta(days=i)).weekday() < 5 else 0.1
                               for i in range(days)])
    web = 800.0 * quiet_weekends * np.exp(rng.normal(0, 0.04, days))
    web[90:93] += 2400.0  # a runaway job
    data = 150.0 * np.exp(rng.normal(0, 0.05, days))
    data[60:] *= 2.5  # a level shift
    steady = 40.0 * np.exp(rng.normal(0, 0.03, days))
    return {"team:web": web, "service:BigQuery": data, "account:prod": steady}


def _write_input(path: Path, costs: dict[str, np.ndarray], skip: int = 0) -> None:
    """Long format, rows shuffled, the first ``skip`` days of one series absent."""
    rows = [(START + timedelta(days=i), name, float(v)) for name, values in costs.items()
            for i, v in enumerate(values) if not (name == "account:prod" and i < skip)]
    rows.sort(key=lambda r: (r[2] * 7919) % 1)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["series", "cost", "date"])  # any column order
        writer.writerows((n, repr(c), d.isoformat()) for d, n, c in rows)


def test_round_trip(tmp_path: Path) -> None:
    costs = _costs()
    source, target = tmp_path / "costs.csv", tmp_path / "out" / "alerts.csv"
    target.parent.mkdir()
    _write_input(source, costs, skip=10)
    count = run(source, target, GATES)

    with target.open(newline="") as f:
        lines = list(csv.reader(f))
    assert target.read_text().splitlines()[0] == ",".join(HEADER)
    assert lines[0] == HEADER
    expected = detect(read_costs(source), gates=GATES)
    assert count == len(lines) - 1 == len(expected) == 2
    assert [(r[0], r[1]) for r in lines[1:]] == [("service:BigQuery", "2024-05-03"),
                                                ("team:web", "2024-06-02")]
    for row, alert in zip(lines[1:], expected, strict=True):
        assert row[0] == alert.series and date.fromisoformat(row[1]) == alert.day
        figures = [float(v) for v in row[2:]]
        assert figures == pytest.approx([alert.expected, alert.actual, alert.impact,
                                         alert.impact_pct, alert.score], abs=0.051)
        assert row[3] == f"{costs[alert.series][(alert.day - START).days]:.2f}"
    assert list(tmp_path.joinpath("out").iterdir()) == [target]  # no temporary file left


def test_reading_matches_the_frame(tmp_path: Path) -> None:
    costs = _costs()
    source = tmp_path / "costs.csv"
    _write_input(source, costs, skip=10)
    frame = read_costs(source)
    assert frame.names == tuple(sorted(costs)) and frame.start == START
    for name, values in costs.items():
        row = frame.values[frame.names.index(name)]
        if name == "account:prod":
            assert np.isnan(row[:10]).all()  # no history before its first row
            row, values = row[10:], values[10:]
        assert row == pytest.approx(values)
    direct = SeriesFrame.from_mapping({n: {START + timedelta(days=i): float(v)
                                           for i, v in enumerate(vals) if not
                                           (n == "account:prod" and i < 10)}
                                       for n, vals in costs.items()})
    assert detect(frame, gates=GATES) == detect(direct, gates=GATES)


def test_no_alerts_writes_the_header(tmp_path: Path) -> None:
    source, target = tmp_path / "costs.csv", tmp_path / "alerts.csv"
    source.write_text("date,series,cost\n2024-01-01,a,1\n2024-01-02,a,1.5\n")
    assert run(source, target, GATES) == 0
    assert target.read_text() == ",".join(HEADER) + "\n"
    source.write_text("date,series,cost\n")
    assert run(source, target, GATES) == 0


@pytest.mark.parametrize(("content", "where"), [
    ("date,series\n2024-01-01,a\n", "row 1 (header), column 'cost'"),
    ("day,series,cost\n2024-01-01,a,1\n", "row 1 (header), column 'date'"),
    ("date,series,cost\n2024-01-01,a,1\n2024-01-02,a,12,5\n", "not a readable CSV"),
    ("date,series,cost\n2024-01-01,a,1\n2024-01-02,a,twelve\n", "row 3, column 'cost'"),
    ("date,series,cost\n2024-01-01,a,1\n2024-01-02,a,\n", "row 3, column 'cost': no value"),
    ("date,series,cost\n2024-01-01,a,inf\n", "row 2, column 'cost'"),
    ("date,series,cost\n2024-01-01,a,1\n2024-01-01,b,1\n01/02/2024,a,1\n",
     "row 4, column 'date'"),
    ("date,series,cost\n2024-02-30,a,1\n", "row 2, column 'date'"),
    ("date,series,cost\n2024-01-01,,1\n", "row 2, column 'series'"),
    ("", "row 1"),
])
def test_malformed_input(tmp_path: Path, content: str, where: str) -> None:
    source, target = tmp_path / "costs.csv", tmp_path / "alerts.csv"
    source.write_text(content)
    with pytest.raises(InputError) as caught:
        run(source, target, GATES)
    message = str(caught.value)
    assert message.startswith(f"{source}: ") and where in message
    assert "\n" not in message
    assert not target.exists()
    assert list(tmp_path.iterdir()) == [source]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        run(tmp_path / "nope.csv", tmp_path / "alerts.csv", GATES)
    assert not (tmp_path / "alerts.csv").exists()


def test_infinite_impact_pct_round_trips(tmp_path: Path) -> None:
    source, target = tmp_path / "costs.csv", tmp_path / "alerts.csv"
    lines = ["date,series,cost"] + [
        f"{date(2024, 1, 1) + timedelta(days=i)},new-service,{0 if i < 60 else 900}"
        for i in range(62)]
    source.write_text("\n".join(lines) + "\n")
    assert run(source, target, GATES) == 1
    with target.open(newline="") as f:
        row = next(csv.DictReader(f))
    assert row["date"] == "2024-03-01" and row["expected"] == "0.00"
    assert math.isinf(float(row["impact_pct"]))
