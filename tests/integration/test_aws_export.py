"""providers.aws reading a CUR 2.0 / FOCUS Data Export from S3 in moto (server mode, real boto3
over HTTP on 127.0.0.1)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from bot.errors import ConfigError, InputError, ProviderError
from providers.aws import select_data_keys
from tests.fakes import aws as moto_fakes
from tests.fakes.aws import MotoServer

# the shared fixtures: one moto server per run, reset and with dummy credentials per test
moto_server = moto_fakes.moto_server
aws = moto_fakes.aws
source_for = moto_fakes.source_for


FOCUS_COLUMNS = (
    "AvailabilityZone,BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,"
    "BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,"
    "ChargeFrequency,ChargePeriodEnd,ChargePeriodStart,CommitmentDiscountCategory,"
    "CommitmentDiscountId,CommitmentDiscountName,CommitmentDiscountStatus,CommitmentDiscountType,"
    "ConsumedQuantity,ConsumedUnit,ContractedCost,ContractedUnitPrice,EffectiveCost,"
    "InvoiceIssuerName,ListCost,ListUnitPrice,PricingCategory,PricingQuantity,PricingUnit,"
    "ProviderName,PublisherName,RegionId,RegionName,ResourceId,ResourceName,ResourceType,"
    "ServiceCategory,ServiceName,SkuId,SkuPriceId,SubAccountId,SubAccountName,Tags"
).split(",")


def _focus_csv_gz(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FOCUS_COLUMNS, quoting=csv.QUOTE_NONNUMERIC)
    writer.writeheader()
    for row in rows:
        full = dict.fromkeys(FOCUS_COLUMNS, "NULL")
        full.update(
            BillingAccountId="999999999999",
            BillingCurrency="USD",
            BillingPeriodStart="2024-09-01 00:00:00",
            BillingPeriodEnd="2024-10-01 00:00:00",
            ChargeCategory="Usage",
            ChargeFrequency="Usage-Based",
            ProviderName="AWS",
            PublisherName="Amazon Web Services, Inc.",
            InvoiceIssuerName="Amazon Web Services, Inc.",
            RegionId="us-east-1",
            ServiceCategory="Compute",
            ServiceName="Amazon Elastic Compute Cloud",
            SubAccountId="111111111111",
            SubAccountName="prod-main",
        )
        full.update(row)
        writer.writerow(full)
    return gzip.compress(out.getvalue().encode())


def _hour(resource: str, start: str, billed: str, effective: str) -> dict[str, str]:
    day, hour = start.split(" ")
    end_hour = f"{int(hour[:2]) + 1:02d}{hour[2:]}"
    return {
        "ResourceId": resource,
        "ChargePeriodStart": start,
        "ChargePeriodEnd": f"{day} {end_hour}",
        "BilledCost": billed,
        "EffectiveCost": effective,
        "ListCost": billed,
        "Tags": json.dumps({"team": "web"}),
    }


def test_export_reads_focus_files_and_skips_manifests(aws: MotoServer, source_for: Any) -> None:
    root = "exports/finops-focus"
    body = _focus_csv_gz(
        [
            _hour("i-0abc", "2024-09-01 10:00:00", "0.10", "0.08"),
            _hour("i-0abc", "2024-09-01 11:00:00", "0.15", "0.12"),
            _hour("i-0abc", "2024-09-02 10:00:00", "0.20", "0.16"),
            _hour("vol-0def", "2024-09-01 00:00:00", "0.05", "0.05"),
        ]
    )
    s3 = aws.client("s3")
    try:
        s3.create_bucket(Bucket="billing")
        s3.put_object(
            Bucket="billing",
            Key=f"{root}/data/BILLING_PERIOD=2024-09/finops-focus-00001.csv.gz",
            Body=body,
        )
        s3.put_object(
            Bucket="billing",
            Key=f"{root}/metadata/BILLING_PERIOD=2024-09/finops-focus-Manifest.json",
            Body=b'{"exportName": "finops-focus", "dataFiles": []}',
        )
    finally:
        s3.close()
    source = source_for(export="s3://billing/exports")

    everything = source.fetch()
    first_day = source.fetch(date(2024, 9, 1), date(2024, 9, 1))

    assert everything.source == "s3://billing/exports"
    assert everything.lines_read == 4
    totals = {(r.resource_id, r.day): round(r.billed_cost, 6) for r in everything.rows}
    assert totals == {
        ("i-0abc", date(2024, 9, 1)): 0.25,
        ("i-0abc", date(2024, 9, 2)): 0.20,
        ("vol-0def", date(2024, 9, 1)): 0.05,
    }
    assert {r.day for r in first_day.rows} == {date(2024, 9, 1)}
    assert sum(r.effective_cost for r in first_day.rows) == pytest.approx(0.25)


def test_a_bad_export_file_is_named_by_its_s3_url(aws: MotoServer, source_for: Any) -> None:
    key = "exports/cur/data/BILLING_PERIOD=2024-09/cur-00001.csv"
    s3 = aws.client("s3")
    try:
        s3.create_bucket(Bucket="billing")
        s3.put_object(Bucket="billing", Key=key, Body=b"just,some\ncolumns,here\n")
    finally:
        s3.close()

    with pytest.raises(InputError, match=f"s3://billing/{key}"):
        source_for(export="s3://billing/exports").fetch()


def _obj(key: str, minute: int) -> dict[str, Any]:
    return {"Key": key, "LastModified": datetime(2024, 10, 2, 6, minute, tzinfo=UTC)}


def test_export_key_selection() -> None:
    data = "p/cur/data"
    listing = [
        _obj("p/cur/metadata/BILLING_PERIOD=2024-09/cur-Manifest.json", 9),
        _obj(f"{data}/BILLING_PERIOD=2024-08/cur-00001.parquet", 1),
        # "create new file" mode: one folder per refresh; only the newest counts
        _obj(f"{data}/BILLING_PERIOD=2024-09/20241001T0000Z-a/cur-00001.csv.gz", 2),
        _obj(f"{data}/BILLING_PERIOD=2024-09/20241002T0000Z-b/cur-00001.csv.gz", 5),
        _obj(f"{data}/BILLING_PERIOD=2024-09/20241002T0000Z-b/cur-00002.csv.gz", 4),
        _obj(f"{data}/BILLING_PERIOD=2024-09/notes.txt", 8),
    ]
    assert select_data_keys(listing) == [
        f"{data}/BILLING_PERIOD=2024-08/cur-00001.parquet",
        f"{data}/BILLING_PERIOD=2024-09/20241002T0000Z-b/cur-00001.csv.gz",
        f"{data}/BILLING_PERIOD=2024-09/20241002T0000Z-b/cur-00002.csv.gz",
    ]
    assert select_data_keys(listing, start=date(2024, 9, 30)) == [
        f"{data}/BILLING_PERIOD=2024-09/20241002T0000Z-b/cur-00001.csv.gz",
        f"{data}/BILLING_PERIOD=2024-09/20241002T0000Z-b/cur-00002.csv.gz",
    ]
    assert select_data_keys(listing, end=date(2024, 8, 31)) == [
        f"{data}/BILLING_PERIOD=2024-08/cur-00001.parquet"
    ]
    two_exports = listing + [_obj("p/focus/data/BILLING_PERIOD=2024-09/focus-00001.csv.gz", 3)]
    with pytest.raises(ConfigError, match="several exports"):
        select_data_keys(two_exports)


def test_missing_export_bucket_names_the_bucket(source_for: Any) -> None:
    source = source_for(export="s3://no-such-billing-bucket/exports")

    with pytest.raises(ProviderError) as caught:
        source.fetch()

    assert type(caught.value) is ProviderError
    message = str(caught.value)
    assert "no-such-billing-bucket" in message and "NoSuchBucket" in message
    assert "'prod'" in message and "ListObjectsV2" in message and "\n" not in message
