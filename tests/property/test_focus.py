"""FOCUS cost files made by hypothesis: a good file gives per-currency totals equal to the sums
of its rows; a file with one bad cell gives an InputError naming file, row, line and column."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.errors import InputError
from providers.focus import FocusFileSource
from tests.property import examples

REQUIRED = ("ChargePeriodStart", "BillingCurrency", "BilledCost", "EffectiveCost")
OPTIONAL = ("ProviderName", "BillingAccountId", "SubAccountId", "ResourceId", "ServiceName",
            "RegionId", "ListCost", "Tags")
COSTS = ("BilledCost", "EffectiveCost", "ListCost")
_files = itertools.count()


@dataclass(frozen=True)
class Line:
    """One generated line item: the CSV cells, and what it should add up to."""

    cells: dict[str, str]
    day: date
    currency: str
    costs: tuple[float, float, float]


names = st.text(st.sampled_from('abcXYZ019-_/:., "\'\néü€'), max_size=12)
costs = st.one_of(st.just(0.0), st.floats(-1e6, 1e6, allow_nan=False),
                  st.integers(-10**6, 10**6).map(float))


def _cost_text(value: float, style: int) -> str:
    return [repr(value), f"{value:.6f}", f"{value:.3e}", str(value)][style % 4]


@st.composite
def lines(draw: st.DrawFn) -> Line:
    moment = draw(st.one_of(st.datetimes(datetime(2020, 1, 1), datetime(2030, 12, 31)),
                            st.datetimes(datetime(1950, 1, 1), datetime(2100, 1, 1))))
    offset = draw(st.sampled_from([None, 0, 120, -300, 330]))
    style = draw(st.integers(0, 4))
    if offset is None:
        start = (moment.strftime("%Y-%m-%d") if style == 0
                 else moment.strftime("%Y-%m-%d %H:%M:%S"))
        day = moment.date()
    else:
        aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset)))
        start = (aware.strftime("%Y-%m-%dT%H:%M:%SZ") if offset == 0
                 else aware.isoformat(timespec="seconds"))
        day = aware.astimezone(UTC).date()
    billed, effective, listed = (_cost_text(draw(costs), style + i) for i in range(3))
    null = draw(st.sampled_from([None, "NULL", ""]))  # one cost may be missing: it counts 0
    cells = {
        "ChargePeriodStart": start,
        "BillingCurrency": (currency := draw(st.sampled_from(["USD", "EUR", "JPY", "GBP"]))),
        "BilledCost": billed, "EffectiveCost": effective,
        "ListCost": listed if null is None else null,
        "ProviderName": draw(st.sampled_from(["AWS", "Google Cloud", "Microsoft", "NULL"])),
        "BillingAccountId": draw(names), "SubAccountId": draw(names),
        "ResourceId": draw(st.one_of(names, st.sampled_from(["", "NULL", "i-1", "i-2"]))),
        "ServiceName": draw(names), "RegionId": draw(names),
        "Tags": draw(st.one_of(
            st.sampled_from(["", "NULL", "{}"]),
            st.dictionaries(names, st.one_of(names, st.integers(), st.none()), max_size=3).map(
                lambda d: json.dumps(d, ensure_ascii=False)),
            st.dictionaries(names, names, max_size=2).map(lambda d: json.dumps(
                [{"key": k, "value": v} for k, v in d.items()])))),
    }
    return Line(cells, day, currency,
                (float(billed), float(effective), 0.0 if null is not None else float(listed)))


@st.composite
def files(draw: st.DrawFn) -> tuple[list[str], list[Line], bool]:
    """A header (required columns and some optional ones, in any order), lines, gzipped?"""
    header = list(REQUIRED) + draw(st.lists(st.sampled_from(OPTIONAL), unique=True))
    header = draw(st.permutations(header))
    rows = draw(st.lists(lines(), min_size=1, max_size=8))
    if "ListCost" not in header:
        rows = [Line(r.cells, r.day, r.currency, (*r.costs[:2], 0.0)) for r in rows]
    return list(header), rows, draw(st.booleans())


def write(folder: Path, header: list[str], rows: list[list[str]], gz: bool) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path = folder / f"costs-{next(_files)}.csv{'.gz' if gz else ''}"
    data = buf.getvalue().encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def physical_lines(header: list[str], rows: list[list[str]]) -> list[int]:
    """The line each data row ends on, as a CSV reader counts (fields may hold newlines)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    reader = csv.reader(io.StringIO(buf.getvalue()))
    ends = []
    for _ in reader:
        ends.append(reader.line_num)
    return ends[1:]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("focus-property")


def _close(got: float, want: float, scale: float) -> bool:
    return math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9 * max(scale, 1.0))


def _one_line(start: str, billed: str) -> tuple[list[str], list[Line], bool]:
    cells = {"ChargePeriodStart": start, "BillingCurrency": "USD", "BilledCost": billed,
             "EffectiveCost": "1"}
    moment = datetime.fromisoformat(start)
    day = (moment.astimezone(UTC) if moment.tzinfo else moment).date()
    return list(REQUIRED), [Line(cells, day, "USD", (float(billed), 1.0, 0.0))], False


@settings(max_examples=examples(40))
@given(made=files())
@example(made=_one_line("1969-12-31 12:00:00", "2"))  # before the epoch: the same UTC day
@example(made=_one_line("1969-12-31T23:30:00-01:00", "2"))
def test_a_good_file_adds_up_per_day_and_currency(folder: Path,
                                                  made: tuple[list[str], list[Line], bool]
                                                  ) -> None:
    header, rows, gz = made
    path = write(folder, header, [[r.cells[c] for c in header] for r in rows], gz)
    batch = FocusFileSource(str(path)).fetch()
    assert batch.lines_read == len(rows)
    want: dict[tuple[date, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    scale: dict[tuple[date, str], float] = defaultdict(float)
    for r in rows:
        for i, value in enumerate(r.costs):
            want[(r.day, r.currency)][i] += value
            scale[(r.day, r.currency)] += abs(value)
    got: dict[tuple[date, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for row in batch.rows:
        assert row.currency in ("USD", "EUR", "JPY", "GBP")  # one currency per row, never mixed
        for i, value in enumerate((row.billed_cost, row.effective_cost, row.list_cost)):
            got[(row.day, row.currency)][i] += value
    assert set(got) == set(want)
    for key, totals in want.items():
        assert all(_close(g, w, scale[key]) for g, w in zip(got[key], totals, strict=True)), key


BAD = {
    "BilledCost": ["abc", "1,5", "n/a", "1.2.3", "$5", "5 USD", "NaN", "inf", "-Infinity",
                   "1e400"],
    "EffectiveCost": ["free", "--1", "nan", "1e999"],
    "ListCost": ["x", "Infinity"],
    "ChargePeriodStart": ["yesterday", "2024-13-01", "2024-02-30 00:00:00", "31/12/2024",
                          "2024-01-01T25:00:00", "infinity", "-infinity", "", "10000-01-01",
                          "20224-01-01", "9999-12-31T23:00:00-05:00"],
    "BillingCurrency": ["", "NULL"],
    "Tags": ["{team: core", "[1, 2]", '"just text"', "{", '{"a": 1', "[{\"value\": 1}]"],
}


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[list[str], list[list[str]], bool, int, str, str]:
    """A good file with one bad cell (or one required column missing): header, rows, gz,
    the bad data row (0: the header), the column, the bad value."""
    header, rows, gz = draw(files())
    cells = [[r.cells[c] for c in header] for r in rows]
    if draw(st.integers(0, 5)) == 0:
        gone = draw(st.sampled_from(REQUIRED))
        keep = [i for i, c in enumerate(header) if c != gone]
        return ([header[i] for i in keep], [[row[i] for i in keep] for row in cells], gz, 0,
                gone, "")
    column = draw(st.sampled_from(sorted(BAD)))
    if column not in header:
        header.append(column)
        for r, row in zip(rows, cells, strict=True):
            row.append(r.cells[column])
    value = draw(st.sampled_from(BAD[column]))
    at = draw(st.integers(0, len(cells) - 1))
    cells[at][header.index(column)] = value
    return header, cells, gz, at + 1, column, value


@settings(max_examples=examples(40))
@given(bad=corrupted())
@example(bad=(list(REQUIRED), [["2024-09-01", "USD", "NaN", "1"]], False, 1, "BilledCost",
              "NaN"))
@example(bad=(list(REQUIRED), [["2024-09-01", "USD", "1e400", "1"]], False, 1, "BilledCost",
              "1e400"))
@example(bad=(list(REQUIRED), [["infinity", "USD", "1", "1"]], False, 1, "ChargePeriodStart",
              "infinity"))
@example(bad=(list(REQUIRED), [["2024-01-01", "USD", "1", "1"], ["10000-01-01", "USD", "1", "1"]],
              False, 2, "ChargePeriodStart", "10000-01-01"))  # was dropped without a word
def test_one_bad_cell_is_named_by_file_row_line_and_column(
    folder: Path, bad: tuple[list[str], list[list[str]], bool, int, str, str]
) -> None:
    header, rows, gz, row, column, value = bad
    path = write(folder, header, rows, gz)
    with pytest.raises(InputError) as info:
        FocusFileSource(str(path)).fetch()
    message = str(info.value)
    assert "\n" not in message
    if row == 0:
        assert message == f"{path}: line 1, column {column}: missing required column"
        return
    line = physical_lines(header, rows)[row - 1]
    assert message.startswith(f"{path}: data row {row} (line {line}), column {column}: "), (
        message, value)
