"""Bad cost files: one-line InputErrors naming file, data row and column; never a partial batch."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb
import pytest

from bot.errors import InputError
from providers.focus import FocusFileSource, parse_tags, read_files

HEADER = [
    "ProviderName",
    "BillingAccountId",
    "SubAccountId",
    "ResourceId",
    "ServiceName",
    "RegionId",
    "ChargePeriodStart",
    "BillingCurrency",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "Tags",
]


def _line(**changes: str) -> list[str]:
    row = {
        "ProviderName": "AWS",
        "BillingAccountId": "111111111111",
        "SubAccountId": "222222222222",
        "ResourceId": "i-1",
        "ServiceName": "Amazon Elastic Compute Cloud",
        "RegionId": "us-east-1",
        "ChargePeriodStart": "2024-09-18 22:00:00",
        "BillingCurrency": "USD",
        "BilledCost": "1.5",
        "EffectiveCost": "1.25",
        "ListCost": "2",
        "Tags": '{"team": "core"}',
    }
    row.update(changes)
    return [row[c] for c in HEADER]


def _write(path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _fails(path: Path | str) -> str:
    with pytest.raises(InputError) as info:
        FocusFileSource(str(path)).fetch()
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("column", "bad", "shown"),
    [
        ("BilledCost", "abc", "'abc' is not a number"),
        ("EffectiveCost", "1,5", "'1,5' is not a number"),
        ("ListCost", "free", "'free' is not a number"),
        ("ChargePeriodStart", "yesterday", "'yesterday' is not a timestamp"),
        ("ChargePeriodStart", "2024-13-01 00:00:00", "is not a timestamp"),
        ("ChargePeriodStart", "NULL", "value is empty"),
        ("BillingCurrency", "", "value is empty"),
        ("Tags", "{team: core", "is not a JSON object"),
    ],
)
def test_a_bad_value_names_file_row_and_column(
    tmp_path: Path, column: str, bad: str, shown: str
) -> None:
    bad_line = _line(ResourceId="i-3", **{column: bad})  # alone in its row, so its tags are used
    rows = [_line(), _line(ResourceId="i-2"), bad_line, _line(ResourceId="i-4")]
    path = _write(tmp_path / "costs.csv", rows)
    message = _fails(path)
    assert message.startswith(f"{path}: data row 3 (line 4), column {column}: "), message
    assert shown in message


def test_a_bad_value_deep_in_a_big_gzipped_file_is_found(tmp_path: Path) -> None:
    rows = [_line(ResourceId=f"i-{i}") for i in range(12_000)]
    rows[11_000] = _line(EffectiveCost="n/a")
    plain = _write(tmp_path / "big.csv", rows)
    gz = tmp_path / "big.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    message = _fails(gz)
    assert message.startswith(f"{gz}: data row 11001 (line 11002), column EffectiveCost: ")


def test_the_bad_file_of_several_is_the_one_named(tmp_path: Path) -> None:
    good = _write(tmp_path / "a.csv", [_line()])
    bad = _write(tmp_path / "b.csv", [_line(), _line(BilledCost="x")])
    with pytest.raises(InputError, match=r"b\.csv: data row 2 \(line 3\), column BilledCost"):
        read_files([good, bad], label="two files")


@pytest.mark.parametrize("fields", [len(HEADER) + 1, len(HEADER) - 1])
def test_a_ragged_row_names_file_and_row(tmp_path: Path, fields: int) -> None:
    short_or_long = (_line() + ["one more"])[:fields]
    path = _write(tmp_path / "ragged.csv", [_line(), short_or_long])
    message = _fails(path)
    assert message.startswith(f"{path}: data row 2 (line 3): ")
    assert f"{len(short_or_long)} fields where the header has {len(HEADER)}" in message


def test_an_unterminated_quote_is_malformed_csv(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    text = _write(tmp_path / "ok.csv", [_line(), _line()]).read_text()
    path.write_text(text + 'AWS,1,2,"i-3\n')
    message = _fails(path)
    assert message.startswith(f"{path}: data row 3")


@pytest.mark.parametrize(
    "missing", ["BilledCost", "EffectiveCost", "ChargePeriodStart", "BillingCurrency"]
)
def test_a_missing_required_column_is_named(tmp_path: Path, missing: str) -> None:
    keep = [i for i, c in enumerate(HEADER) if c != missing]
    rows = [[_line()[i] for i in keep]]
    path = _write(tmp_path / "cols.csv", rows, header=[HEADER[i] for i in keep])
    assert _fails(path) == f"{path}: line 1, column {missing}: missing required column"


def test_optional_columns_may_be_missing(tmp_path: Path) -> None:
    header = ["ChargePeriodStart", "BillingCurrency", "BilledCost", "EffectiveCost"]
    path = _write(tmp_path / "minimal.csv", [["2024-09-18", "EUR", "1", ""]], header=header)
    (row,) = FocusFileSource(str(path)).fetch().rows
    assert (row.resource_id, row.currency, row.billed_cost, row.effective_cost, row.list_cost) == (
        "//",
        "EUR",
        1.0,
        0.0,
        0.0,
    )
    assert (row.service, row.region, dict(row.tags)) == ("", "", {})


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("binary.csv", bytes(range(256)) * 4),
        ("empty.csv", b""),
        ("fake.csv.gz", b"\x1f\x8b\x08\x00garbage"),
        ("fake.parquet", b"PAR1 this is no parquet file"),
    ],
)
def test_a_file_that_is_not_csv_or_parquet_is_named(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert _fails(path).startswith(f"{path}: ")


def test_a_truncated_gzip_or_a_damaged_parquet_file_is_named(tmp_path: Path) -> None:
    plain = _write(tmp_path / "full.csv", [_line(ResourceId=f"i-{i}") for i in range(5000)])
    packed = gzip.compress(plain.read_bytes())
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(packed[: len(packed) // 2])
    assert "unreadable" in _fails(truncated)
    whole = tmp_path / "whole.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (FROM read_csv('{plain}')) TO '{whole}' (FORMAT parquet)")
    data = whole.read_bytes()
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(data[:4] + b"x" * 2000 + data[2004:])  # footer intact, pages not
    assert _fails(damaged).startswith(f"{damaged}: ")


def _parquet(tmp_path: Path, select: str) -> Path:
    path = tmp_path / "costs.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")
    return path


def test_a_bad_string_in_a_parquet_file_names_row_and_column(tmp_path: Path) -> None:
    path = _parquet(
        tmp_path,
        "SELECT 'AWS' AS ProviderName, 'i-' || i AS ResourceId, 'USD' AS BillingCurrency, "
        "'2024-09-01T00:00:00Z' AS ChargePeriodStart, "
        "CASE WHEN i = 41 THEN 'abc' ELSE '1.0' END AS BilledCost, 1.0 AS EffectiveCost "
        "FROM range(100) t(i)",
    )
    assert _fails(path).startswith(f"{path}: data row 42, column BilledCost: 'abc' is not a number")


def test_a_null_time_in_parquet_names_row_and_column(tmp_path: Path) -> None:
    path = _parquet(
        tmp_path,
        "SELECT 'USD' AS BillingCurrency, 1.0 AS BilledCost, 1.0 AS EffectiveCost, "
        "CASE WHEN i = 7 THEN NULL ELSE TIMESTAMP '2024-09-01' END AS ChargePeriodStart "
        "FROM range(10) t(i)",
    )
    assert _fails(path) == f"{path}: data row 8, column ChargePeriodStart: value is empty"


def test_cur2_errors_name_the_cur_column(tmp_path: Path) -> None:
    header = ["line_item_usage_start_date", "line_item_unblended_cost", "line_item_currency_code"]
    path = _write(tmp_path / "cur.csv", [["2024-09-01T00:00:00Z", "x1", "USD"]], header=header)
    assert _fails(path).startswith(f"{path}: data row 1 (line 2), column line_item_unblended_cost")
    missing = _write(tmp_path / "cur2.csv", [["2024-09-01T00:00:00Z", "1"]], header=header[:2])
    assert _fails(missing) == (
        f"{missing}: line 1, column line_item_currency_code: missing required column"
    )


def test_a_trailing_comma_after_the_header_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "trailing.csv"
    path.write_text(
        "ChargePeriodStart,BillingCurrency,BilledCost,EffectiveCost,\n2024-09-01,USD,1,2,\n"
    )
    (row,) = FocusFileSource(str(path)).fetch().rows
    assert (row.day, row.billed_cost, row.effective_cost) == (date(2024, 9, 1), 1.0, 2.0)


def test_duplicate_header_names_are_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path / "dup.csv", [_line() + ["2"]], header=HEADER + ["billedcost"])
    assert _fails(path) == f"{path}: line 1, column billedcost: duplicate column name"


def test_a_folder_with_one_bad_file_gives_an_error_not_the_good_files_rows(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "1.csv", [_line()])
    _write(tmp_path / "2.csv", [_line(BilledCost="oops")])
    assert len(FocusFileSource(str(tmp_path / "1.csv")).fetch().rows) == 1
    with pytest.raises(InputError, match=r"2\.csv: data row 1 \(line 2\), column BilledCost"):
        FocusFileSource(str(tmp_path)).fetch()


def test_timestamps_in_any_common_form_land_on_their_utc_day(tmp_path: Path) -> None:
    rows = [
        _line(ChargePeriodStart="2024-09-18 22:00:00", BilledCost="1"),
        _line(ChargePeriodStart="2024-09-18T23:30:00Z", BilledCost="2"),
        _line(ChargePeriodStart="2024-09-18", BilledCost="4"),
        _line(ChargePeriodStart="2024-09-19T01:00:00+02:00", BilledCost="8"),  # 23:00 UTC
        _line(ChargePeriodStart="2024-09-18T20:00:00-05:00", BilledCost="16"),  # next day UTC
    ]
    path = _write(tmp_path / "times.csv", rows)
    got = {r.day: r.billed_cost for r in FocusFileSource(str(path)).fetch().rows}
    assert got == {date(2024, 9, 18): 15.0, date(2024, 9, 19): 16.0}


def test_null_costs_count_as_zero_and_currencies_stay_apart(tmp_path: Path) -> None:
    rows = [
        _line(BilledCost="NULL", EffectiveCost="", ListCost="3"),
        _line(BilledCost="2", EffectiveCost="2", ListCost="NULL"),
        _line(BillingCurrency="EUR", BilledCost="5", EffectiveCost="4", ListCost="6"),
    ]
    path = _write(tmp_path / "fx.csv", rows)
    got = {
        r.currency: (r.billed_cost, r.effective_cost, r.list_cost)
        for r in FocusFileSource(str(path)).fetch().rows
    }
    assert got == {"USD": (2.0, 2.0, 3.0), "EUR": (5.0, 4.0, 6.0)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"a": "x", " org": 1, "n": null, "l": [1]}',
            {"a": "x", " org": "1", "n": "", "l": "[1]"},
        ),
        ('[{"key": "team", "value": "core"}]', {"team": "core"}),
        ("{}", {}),
    ],
)
def test_parse_tags_flattens_to_strings(text: str, expected: dict[str, str]) -> None:
    assert parse_tags(text) == expected


@pytest.mark.parametrize("text", ['"just a string"', "[1, 2]", "{"])
def test_parse_tags_rejects_what_is_not_an_object(text: str) -> None:
    with pytest.raises(ValueError):
        parse_tags(text)
