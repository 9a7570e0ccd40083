"""FocusFileSource over AWS CUR 2.0 files (CSV and Parquet with maps), and how lines become
rows: two currencies stay two rows, and ties are broken the same way whatever the file order."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bot.records import DailyCost
from providers.focus import FocusFileSource

CUR2_HEADER = (
    "identity_line_item_id,bill_payer_account_id,line_item_usage_account_id,"
    "line_item_usage_account_name,line_item_line_item_type,line_item_usage_start_date,"
    "line_item_product_code,line_item_resource_id,line_item_unblended_cost,"
    "line_item_net_unblended_cost,line_item_currency_code,pricing_public_on_demand_cost,"
    "product_servicecode,product_region_code,product,resource_tags"
)
CUR2_LINES = [
    "a,111,222,dev,Usage,2024-09-01T00:00:00Z,AmazonEC2,i-abc,0.10,0.09,USD,0.12,AmazonEC2,"
    'us-east-1,"{""region"": ""us-east-1""}","{""user_team"": ""core""}"',
    "b,111,222,dev,Usage,2024-09-01T01:00:00Z,AmazonEC2,i-abc,0.10,0.09,USD,0.12,AmazonEC2,"
    'us-east-1,"{""region"": ""us-east-1""}","{""user_team"": ""core"", ""user_owner"": ""ana""}"',
    "c,111,222,dev,Usage,2024-09-01T00:00:00Z,AWSDataTransfer,i-abc,0.01,0.01,USD,0.01,"
    'AWSDataTransfer,eu-west-1,"{""region"": ""eu-west-1""}",{}',
    "d,111,222,dev,Tax,2024-09-01T00:00:00Z,AmazonEC2,,0.50,0.50,USD,0,,,{},{}",
    "e,111,222,dev,Usage,2024-09-02T00:00:00Z,AmazonEC2,i-abc,0.20,,USD,0.25,AmazonEC2,"
    'us-east-1,"{""region"": ""us-east-1""}",',
]


def _cur2_rows(batch: Any) -> dict[tuple[str, date], DailyCost]:
    assert all(r.provider == "AWS" and r.billing_account_id == "111" for r in batch.rows)
    return {(r.resource_id, r.day): r for r in batch.rows}


def test_cur2_columns_map_to_focus(tmp_path: Path) -> None:
    path = tmp_path / "cur2-00001.csv"
    path.write_text("\n".join([CUR2_HEADER, *CUR2_LINES]) + "\n", encoding="utf-8")
    batch = FocusFileSource(str(path)).fetch()
    assert batch.lines_read == 5
    rows = _cur2_rows(batch)
    assert set(rows) == {
        ("i-abc", date(2024, 9, 1)),
        ("i-abc", date(2024, 9, 2)),
        ("AWS/222/AmazonEC2", date(2024, 9, 1)),
    }
    first = rows["i-abc", date(2024, 9, 1)]
    costs = (first.billed_cost, first.effective_cost, first.list_cost)
    assert costs == pytest.approx((0.21, 0.19, 0.25))
    dims = (first.service, first.region, first.sub_account_id, first.sub_account_name)
    assert dims == ("AmazonEC2", "us-east-1", "222", "dev")
    assert dict(first.tags) == {"user_team": "core", "user_owner": "ana"}
    second = rows["i-abc", date(2024, 9, 2)]
    assert second.effective_cost == pytest.approx(0.20)  # no net cost: the unblended cost
    assert dict(second.tags) == {}
    tax = rows["AWS/222/AmazonEC2", date(2024, 9, 1)]
    assert (tax.billed_cost, tax.service) == (pytest.approx(0.5), "AmazonEC2")


def test_cur2_without_net_cost_or_region_code_and_as_parquet_with_maps(tmp_path: Path) -> None:
    csv_path = tmp_path / "cur.csv"
    csv_path.write_text("\n".join([CUR2_HEADER, *CUR2_LINES]) + "\n", encoding="utf-8")
    pq = tmp_path / "cur.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * EXCLUDE (line_item_net_unblended_cost, product_region_code) "
            f"REPLACE ("
            f"CAST(line_item_usage_start_date AS TIMESTAMP) AS line_item_usage_start_date, "
            f"CAST(line_item_unblended_cost AS DECIMAL(18, 6)) AS line_item_unblended_cost, "
            f"CAST(pricing_public_on_demand_cost AS DOUBLE) AS pricing_public_on_demand_cost, "
            f"CAST(CAST(product AS JSON) AS MAP(VARCHAR, VARCHAR)) AS product, "
            f"CAST(CAST(resource_tags AS JSON) AS MAP(VARCHAR, VARCHAR)) AS resource_tags) "
            f"FROM read_csv('{csv_path}', all_varchar = true)) "
            f"TO '{pq}' (FORMAT parquet)"
        )
        kind = con.execute(f"SELECT typeof(resource_tags) FROM '{pq}' LIMIT 1").fetchone()
    assert kind == ("MAP(VARCHAR, VARCHAR)",)
    rows = _cur2_rows(FocusFileSource(str(pq)).fetch())
    first = rows["i-abc", date(2024, 9, 1)]
    assert first.effective_cost == pytest.approx(0.21)  # unblended, as there is no net column
    assert first.region == "us-east-1"  # from the product map
    assert dict(first.tags) == {"user_team": "core", "user_owner": "ana"}


def test_two_currencies_of_one_resource_day_stay_two_rows(tmp_path: Path) -> None:
    path = tmp_path / "fx.csv"
    lines = [CUR2_HEADER, CUR2_LINES[0], CUR2_LINES[0].replace(",USD,", ",EUR,")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = FocusFileSource(str(path)).fetch().rows
    assert sorted((r.resource_id, r.day, r.currency, r.billed_cost) for r in rows) == [
        ("i-abc", date(2024, 9, 1), "EUR", pytest.approx(0.10)),
        ("i-abc", date(2024, 9, 1), "USD", pytest.approx(0.10)),
    ]


def test_ties_are_broken_the_same_way_whatever_the_file_order(tmp_path: Path) -> None:
    header = "ResourceId,ChargePeriodStart,BillingCurrency,BilledCost,EffectiveCost,RegionId,Tags"
    lines = [
        f'r1,2024-09-01 05:00:00,USD,1,1,{region},"{{""team"": ""{region}""}}"'
        for region in ("eu-west-1", "us-east-1", "ap-south-1", "us-west-2")
    ]
    picked = set()
    for run, order in enumerate((lines, lines[::-1], lines[1:] + lines[:1])):
        folder = tmp_path / f"run{run}"
        folder.mkdir()
        for i, line in enumerate(order):
            (folder / f"{i}.csv").write_text(f"{header}\n{line}\n")
        (row,) = FocusFileSource(str(folder)).fetch().rows
        assert row.billed_cost == 4.0
        picked.add((row.region, tuple(row.tags.items())))
    assert len(picked) == 1
