"""FocusFileSource against the public FOCUS sample, its CSV.gz / Parquet copies, folders and S3."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bot.config import FocusAccount
from bot.errors import InputError, ProviderError
from bot.records import DailyCost
from providers import focus
from providers.base import CostSource, build_source
from providers.focus import FocusFileSource, read_files
from tests.conftest import DATA
from tests.fakes import aws as moto_fakes

moto_server = moto_fakes.moto_server
aws = moto_fakes.aws

SAMPLE = DATA / "focus-sample" / "focus_sample.csv"
Key = tuple[str, str, str, date, str]


def _null(value: str) -> str | None:
    return None if value in ("NULL", "") else value


def _sample_lines() -> list[dict[str, str | None]]:
    with SAMPLE.open(newline="", encoding="utf-8") as fh:
        return [{k: _null(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _key(line: dict[str, str | None]) -> Key:
    """The expected row key of a sample line, computed without DuckDB."""
    provider = line["ProviderName"] or ""
    resource = line["ResourceId"] or f"{provider}/{line['SubAccountId'] or ''}/" + (
        line["ServiceName"] or ""
    )
    start = datetime.fromisoformat(line["ChargePeriodStart"] or "")
    if start.tzinfo is not None:
        start = start.astimezone(UTC)
    account, currency = line["BillingAccountId"] or "", line["BillingCurrency"] or ""
    return (provider, account, resource, start.date(), currency)


def _row_key(row: DailyCost) -> Key:
    return (row.provider, row.billing_account_id, row.resource_id, row.day, row.currency)


def _metric(line: dict[str, str | None], column: str) -> float:
    return float(line[column] or 0)


def _as_table(rows: Any) -> list[tuple[Any, ...]]:
    """Every field of every row, costs rounded so that summation order does not matter."""
    costs = ("billed_cost", "effective_cost", "list_cost")
    dims = ("service", "sub_account_id", "sub_account_name", "region", "resource_name")
    return sorted(
        (*_row_key(r), *(round(getattr(r, c), 9) for c in costs), *(getattr(r, d) for d in dims))
        + (r.resource_type, tuple(sorted(r.tags.items())))
        for r in rows
    )


@pytest.fixture(scope="module")
def sample_batch() -> Any:
    return FocusFileSource(str(SAMPLE)).fetch()


def test_sample_totals_match_the_column_sums(sample_batch: Any) -> None:
    lines = _sample_lines()
    assert sample_batch.lines_read == len(lines) == 1000
    for column, attr, published in (
        ("BilledCost", "billed_cost", 20.520227),
        ("EffectiveCost", "effective_cost", 14.976514),
        ("ListCost", "list_cost", 20.390906),
    ):
        expected = sum(_metric(line, column) for line in lines)
        got = sum(getattr(r, attr) for r in sample_batch.rows)
        assert got == pytest.approx(expected, abs=0.005), column
        assert got == pytest.approx(published, abs=0.000001), column


def test_sample_gives_one_row_per_resource_day_with_its_sums(sample_batch: Any) -> None:
    expected: dict[Key, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for line in _sample_lines():
        sums = expected[_key(line)]
        for i, column in enumerate(("BilledCost", "EffectiveCost", "ListCost")):
            sums[i] += _metric(line, column)
    keys = [_row_key(r) for r in sample_batch.rows]
    assert len(keys) == len(set(keys)) == len(expected)
    for row in sample_batch.rows:
        billed, effective, list_cost = expected[_row_key(row)]
        assert row.billed_cost == pytest.approx(billed, abs=1e-9)
        assert row.effective_cost == pytest.approx(effective, abs=1e-9)
        assert row.list_cost == pytest.approx(list_cost, abs=1e-9)


def test_sample_dimensions_come_from_the_largest_line_and_tags_from_the_latest(
    sample_batch: Any,
) -> None:
    by_key: dict[Key, list[dict[str, str | None]]] = defaultdict(list)
    for line in _sample_lines():
        by_key[_key(line)].append(line)
    multi = 0
    for row in sample_batch.rows:
        lines = by_key[_row_key(row)]
        multi += len(lines) > 1
        top = max(abs(_metric(line, "EffectiveCost")) for line in lines)
        winners = [line for line in lines if abs(_metric(line, "EffectiveCost")) == top]
        assert row.service in {line["ServiceName"] or "" for line in winners}
        assert row.region in {line["RegionId"] or "" for line in winners}
        assert row.sub_account_name in {line["SubAccountName"] or "" for line in winners}
        latest = max(line["ChargePeriodStart"] or "" for line in lines)
        tag_sets = [
            json.loads(line["Tags"]) if line["Tags"] else {}
            for line in lines
            if line["ChargePeriodStart"] == latest
        ]
        assert dict(row.tags) in tag_sets
    assert multi > 0  # the sample does have resource-days with several lines


def test_lines_without_resource_id_keep_their_cost_under_a_synthetic_id(sample_batch: Any) -> None:
    unnamed = [line for line in _sample_lines() if line["ResourceId"] is None]
    assert unnamed, "the sample has line items without a ResourceId"
    synthetic = {_key(line)[2] for line in unnamed}
    rows = [r for r in sample_batch.rows if r.resource_id in synthetic]
    assert {r.resource_id for r in rows} == synthetic
    assert "AWS/70077301883/AmazonCloudWatch" in synthetic
    assert sum(r.billed_cost for r in rows) == pytest.approx(
        sum(_metric(line, "BilledCost") for line in unnamed), abs=1e-9
    )


def test_messy_tag_keys_are_kept_as_given(sample_batch: Any) -> None:
    keys = {k for r in sample_batch.rows for k in r.tags}
    assert " org" in keys and "org" in keys and "Cost department" in keys
    assert all(isinstance(v, str) for r in sample_batch.rows for v in r.tags.values())


def test_period_filter_keeps_days_in_range_and_counts_every_line_read() -> None:
    batch = FocusFileSource(str(SAMPLE)).fetch(date(2024, 9, 10), date(2024, 9, 12))
    assert batch.lines_read == 1000
    assert batch.rows and {r.day for r in batch.rows} <= {date(2024, 9, d) for d in (10, 11, 12)}
    expected = sum(
        _metric(line, "EffectiveCost")
        for line in _sample_lines()
        if date(2024, 9, 10) <= _key(line)[3] <= date(2024, 9, 12)
    )
    assert sum(r.effective_cost for r in batch.rows) == pytest.approx(expected, abs=1e-9)


def test_every_column_lands_in_its_own_field(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text(
        "ProviderName,BillingAccountId,ResourceId,ChargePeriodStart,BillingCurrency,BilledCost,"
        "EffectiveCost,ListCost,ServiceName,SubAccountId,SubAccountName,RegionId,ResourceName,"
        "ResourceType,Tags\n"
        'Acme,payer-1,res-1,2024-09-02T10:00:00Z,EUR,1.5,1.25,2.75,Svc,sub-1,Sub One,region-1,'
        'Name One,Type One,"{""k"": ""v""}"\n',
        encoding="utf-8",
    )
    (row,) = FocusFileSource(str(path)).fetch().rows
    assert row == DailyCost(
        day=date(2024, 9, 2), resource_id="res-1", provider="Acme",
        billing_account_id="payer-1", sub_account_id="sub-1", service="Svc", currency="EUR",
        billed_cost=1.5, effective_cost=1.25, list_cost=2.75, sub_account_name="Sub One",
        region="region-1", resource_name="Name One", resource_type="Type One", tags={"k": "v"},
    )  # fmt: skip


def test_csv_gz_and_parquet_give_the_same_rows(tmp_path: Path, sample_batch: Any) -> None:
    gz = tmp_path / "focus.csv.gz"
    with SAMPLE.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    typed = tmp_path / "typed.parquet"  # real types and real NULLs, as exporters write them
    text = tmp_path / "text.parquet"  # every column a string, nulls as the string NULL
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * FROM read_csv('{SAMPLE}', nullstr = 'NULL', "
            f"types = {{'BillingAccountId': 'VARCHAR', 'SubAccountId': 'VARCHAR'}})) "
            f"TO '{typed}' (FORMAT parquet)"
        )
        con.execute(
            f"COPY (SELECT * FROM read_csv('{SAMPLE}', all_varchar = true)) "
            f"TO '{text}' (FORMAT parquet)"
        )
        assert con.execute(f"SELECT typeof(BilledCost) FROM '{typed}' LIMIT 1").fetchone() == (
            "DOUBLE",
        )
    expected = _as_table(sample_batch.rows)
    for path in (gz, typed, text):
        batch = FocusFileSource(str(path)).fetch()
        assert batch.lines_read == 1000, path.name
        assert _as_table(batch.rows) == expected, path.name


def _split_sample(folder: Path, parts: int = 3) -> None:
    """The sample's lines dealt round-robin into ``parts`` CSV files, each with the header."""
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    for i in range(parts):
        sub = folder / f"month={i}"
        sub.mkdir(parents=True)
        (sub / f"part-{i}.csv").write_text(header + "".join(body[i::parts]), encoding="utf-8")


def test_a_folder_reads_every_cost_file_under_it(tmp_path: Path, sample_batch: Any) -> None:
    _split_sample(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")  # exports put manifests beside the data
    (tmp_path / "README.txt").write_text("not a cost file")
    batch = FocusFileSource(str(tmp_path)).fetch()
    assert batch.lines_read == 1000
    assert _as_table(batch.rows) == _as_table(sample_batch.rows)


def test_an_empty_folder_or_a_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no CSV"):
        FocusFileSource(str(tmp_path)).fetch()
    with pytest.raises(InputError, match="no such file"):
        FocusFileSource(str(tmp_path / "nope.csv")).fetch()
    batch = read_files([], label="empty")  # the shared reader: nothing to read is no error
    assert (batch.source, list(batch.rows), batch.lines_read) == ("empty", [], 0)


@pytest.mark.parametrize("memory", ["32MB", "1MB"])
def test_duckdb_works_within_its_memory_and_reads_again_without_it_if_it_must(
        memory: str, sample_batch: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # 32 MB is enough for the sample; within 1 MB DuckDB cannot even hold the file's blocks
    monkeypatch.setattr(focus, "_DUCKDB_MEMORY", memory)
    monkeypatch.chdir(tmp_path)  # DuckDB's own spill folder would be ./.tmp
    batch = read_files([SAMPLE], label="sample")
    assert _as_table(batch.rows) == _as_table(sample_batch.rows)
    assert batch.day_digests == sample_batch.day_digests
    again = [r.getMessage() for r in caplog.records if "reading them again" in r.getMessage()]
    assert again == ([] if memory == "32MB" else
                     ["sample: reading the cost files needs more than 1MB; reading them again "
                      "without that limit"])
    assert list(tmp_path.iterdir()) == []


def test_without_a_temporary_folder_duckdb_reads_without_a_limit(
        sample_batch: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # a read-only file system: no folder to spill to
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "read-only"))
    batch = read_files([SAMPLE], label="sample")
    assert _as_table(batch.rows) == _as_table(sample_batch.rows)
    assert any("no temporary folder for DuckDB" in r.getMessage() for r in caplog.records)


def test_registry_builds_a_focus_source() -> None:
    account = FocusAccount(provider="focus", name="sample", path=str(SAMPLE))
    source = build_source(account)
    assert isinstance(source, FocusFileSource) and isinstance(source, CostSource)
    batch = source.fetch()
    assert batch.source == "sample" and batch.lines_read == 1000


# --- S3 --------------------------------------------------------------------------------------


@pytest.fixture
def s3(aws: moto_fakes.MotoServer) -> Iterator[Any]:
    client = aws.client("s3")
    client.create_bucket(Bucket="exports")
    yield client
    client.close()


def _upload_split_sample(s3: Any, tmp_path: Path) -> None:
    _split_sample(tmp_path / "parts")
    parts = sorted((tmp_path / "parts").rglob("*.csv"))
    s3.upload_file(str(parts[0]), "exports", "focus/2024-09/part-0.csv")
    gz = tmp_path / "part-1.csv.gz"
    with parts[1].open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    s3.upload_file(str(gz), "exports", "focus/2024-09/part-1.csv.gz")
    pq = tmp_path / "part-2.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (FROM read_csv('{parts[2]}', all_varchar = true)) TO '{pq}'")
    s3.upload_file(str(pq), "exports", "focus/2024-09/part-2.parquet")
    s3.put_object(Bucket="exports", Key="focus/2024-09/manifest.json", Body=b"{}")
    s3.put_object(Bucket="exports", Key="other/ignored.csv", Body=b"not,under,the,prefix\n")


def test_an_s3_prefix_is_downloaded_and_read(s3: Any, tmp_path: Path, sample_batch: Any) -> None:
    _upload_split_sample(s3, tmp_path)
    batch = FocusFileSource("s3://exports/focus/", s3_client=s3).fetch()
    assert batch.lines_read == 1000
    assert _as_table(batch.rows) == _as_table(sample_batch.rows)


def test_without_a_client_boto3_follows_aws_endpoint_url(
    s3: Any, aws: moto_fakes.MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _upload_split_sample(s3, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint_url)
    batch = FocusFileSource("s3://exports/focus/2024-09").fetch(date(2024, 9, 30), None)
    assert batch.lines_read == 1000
    assert batch.rows and {r.day for r in batch.rows} == {date(2024, 9, 30)}


def test_an_empty_prefix_is_a_clear_error(s3: Any) -> None:
    with pytest.raises(InputError, match=r"s3://exports/nothing/: no CSV"):
        FocusFileSource("s3://exports/nothing/", s3_client=s3).fetch()


def test_a_missing_bucket_is_a_provider_error_naming_it(s3: Any) -> None:
    with pytest.raises(ProviderError, match=r"s3://no-such-bucket/x: NoSuchBucket"):
        FocusFileSource("s3://no-such-bucket/x", s3_client=s3).fetch()


def test_an_object_gone_between_list_and_get_names_its_key(s3: Any) -> None:
    s3.put_object(Bucket="exports", Key="focus/a.csv", Body=SAMPLE.read_bytes())
    s3.put_object(Bucket="exports", Key="focus/b.csv", Body=SAMPLE.read_bytes())

    def delete_b_first(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == "focus/b.csv":
            s3.meta.events.unregister("before-parameter-build.s3.GetObject", delete_b_first)
            s3.delete_object(Bucket="exports", Key="focus/b.csv")

    s3.meta.events.register("before-parameter-build.s3.GetObject", delete_b_first)
    with pytest.raises(ProviderError, match=r"s3://exports/focus/b\.csv: NoSuchKey") as info:
        FocusFileSource("s3://exports/focus/", s3_client=s3).fetch()
    assert "\n" not in str(info.value)


def test_an_unreadable_object_is_an_input_error_naming_its_key(s3: Any) -> None:
    s3.put_object(Bucket="exports", Key="focus/ok.csv", Body=SAMPLE.read_bytes())
    s3.put_object(Bucket="exports", Key="focus/broken.csv.gz", Body=b"\x1f\x8b not really gzip")
    with pytest.raises(InputError, match=r"^s3://exports/focus/broken\.csv\.gz: ") as info:
        FocusFileSource("s3://exports/focus/", s3_client=s3).fetch()
    assert "\n" not in str(info.value)
