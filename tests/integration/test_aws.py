"""providers.aws against moto in server mode (real boto3 over HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from bot.config import AwsAccount
from bot.errors import ProviderAuthError, ProviderError, ProviderThrottled
from providers.aws import AwsSource, ce_time_period, default_period
from providers.aws_common import resource_id_from_arn, translate_error
from providers.base import CostSource, Inventory, load_factory
from tests.conftest import free_port
from tests.fakes import aws as moto_fakes
from tests.fakes.aws import DEFAULT_ACCOUNT, MotoServer

# the shared fixtures: one moto server per run, reset and with dummy credentials per test
moto_server = moto_fakes.moto_server
aws = moto_fakes.aws
source_for = moto_fakes.source_for


def test_registry_builds_a_source_that_is_both_protocols(aws: MotoServer) -> None:
    source = load_factory("aws")(moto_fakes.account(aws))
    try:
        assert isinstance(source, AwsSource)
        assert isinstance(source, CostSource) and isinstance(source, Inventory)
        assert source.name == "prod"
    finally:
        source.close()


def test_without_endpoint_url_boto3_follows_aws_endpoint_url(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint_url)
    source = AwsSource(AwsAccount(provider="aws", name="prod"), max_attempts=1)
    try:
        assert source.caller_account() == DEFAULT_ACCOUNT
    finally:
        source.close()


# --- inventory --------------------------------------------------------------------------------


# an Amazon image moto knows in every region (describe_images would list thousands: slow)
IMAGE = "ami-03cf127a"


def _run(ec2: Any, name: str, **tags: str) -> str:
    all_tags = [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in tags.items()]
    reply = ec2.run_instances(
        ImageId=IMAGE,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": all_tags}],
    )
    return str(reply["Instances"][0]["InstanceId"])


def test_inventory_over_two_regions(aws: MotoServer, source_for: Any) -> None:
    east, west = aws.client("ec2", "us-east-1"), aws.client("ec2", "eu-west-1")
    s3 = aws.client("s3", "us-east-1")
    try:
        web = _run(east, "web-1", owner="alice@example.com", team="web")
        batch = _run(west, "batch-1", owner="bob@example.com")
        west.stop_instances(InstanceIds=[batch])
        old = _run(west, "old-1")
        west.terminate_instances(InstanceIds=[old])
        volume = west.create_volume(
            AvailabilityZone="eu-west-1a",
            Size=20,
            TagSpecifications=[
                {"ResourceType": "volume", "Tags": [{"Key": "owner", "Value": "carol"}]}
            ],
        )["VolumeId"]
        s3.create_bucket(Bucket="team-data")
        s3.put_bucket_tagging(
            Bucket="team-data", Tagging={"TagSet": [{"Key": "team", "Value": "data"}]}
        )
    finally:
        for client in (east, west, s3):
            client.close()

    items = list(source_for(regions=["us-east-1", "eu-west-1"]).inventory())

    ids = [i.resource_id for i in items]
    assert len(ids) == len(set(ids)), "each resource once, though EC2 and tagging both list it"
    by_id = {i.resource_id: i for i in items}
    assert not any(i.startswith("arn:aws:ec2") for i in ids), "EC2 ids are bare, as in CUR"
    assert old not in by_id
    first = by_id[web]
    assert (first.name, first.state, first.region, first.resource_type) == (
        "web-1",
        "running",
        "us-east-1",
        "instance",
    )
    assert first.tags == {"Name": "web-1", "owner": "alice@example.com", "team": "web"}
    assert first.account_id == DEFAULT_ACCOUNT and first.provider == "AWS"
    assert first.service == "Amazon Elastic Compute Cloud"
    assert first.created_at is not None and first.created_at.tzinfo is not None
    assert by_id[batch].state == "stopped" and by_id[batch].region == "eu-west-1"
    assert by_id[batch].tags["owner"] == "bob@example.com"
    assert by_id[volume].resource_type == "volume" and by_id[volume].tags == {"owner": "carol"}
    assert by_id[volume].state == "available" and by_id[volume].region == "eu-west-1"
    bucket = by_id["team-data"]
    assert (bucket.service, bucket.resource_type, bucket.name) == (
        "Amazon Simple Storage Service",
        "bucket",
        "team-data",
    )
    assert bucket.tags == {"team": "data"}
    # the root volumes the instances got are listed too, untagged
    assert sum(1 for i in items if i.resource_type == "volume") >= 3


def test_arn_ids_follow_the_billing_data() -> None:
    assert resource_id_from_arn("arn:aws:ec2:us-east-1:111:instance/i-0abc")[0] == "i-0abc"
    assert resource_id_from_arn("arn:aws:ec2:us-east-1:111:volume/vol-1")[0] == "vol-1"
    assert resource_id_from_arn("arn:aws:s3:::logs-bucket")[:2] == ("logs-bucket", "s3")
    nat = "arn:aws:ec2:us-west-2:111:natgateway/nat-0f7"
    assert resource_id_from_arn(nat) == (nat, "ec2", "us-west-2", "111", "natgateway")
    logs = "arn:aws:logs:us-east-1:111:log-group:/aws/lambda/x"
    assert resource_id_from_arn(logs)[4] == "log-group"


# --- Cost Explorer ----------------------------------------------------------------------------


def _group(account: str, service: str, unblended: str, amortized: str | None) -> dict[str, Any]:
    metrics = {"UnblendedCost": {"Amount": unblended, "Unit": "USD"}}
    if amortized is not None:
        metrics["AmortizedCost"] = {"Amount": amortized, "Unit": "USD"}
    return {"Keys": [account, service], "Metrics": metrics}


def _day(day: str, end: str, *groups: dict[str, Any]) -> dict[str, Any]:
    return {
        "TimePeriod": {"Start": day, "End": end},
        "Total": {},
        "Groups": list(groups),
        "Estimated": False,
    }


def _recording_session(calls: list[dict[str, Any]]) -> boto3.Session:
    session = boto3.Session()

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(json.loads(json.dumps(params)))

    session.events.register("provide-client-params.ce.GetCostAndUsage", record)
    return session


def test_cost_explorer_rows_pages_and_inclusive_end(aws: MotoServer, source_for: Any) -> None:
    aws.queue_cost_and_usage(
        [
            {
                "ResultsByTime": [
                    _day(
                        "2024-09-01",
                        "2024-09-02",
                        _group(
                            "111111111111", "Amazon Elastic Compute Cloud - Compute", "10.5", "8.25"
                        ),
                        _group("111111111111", "Tax", "0", "0"),
                    )
                ],
                "DimensionValueAttributes": [
                    {"Value": "111111111111", "Attributes": {"description": "prod-main"}}
                ],
                "NextPageToken": "page-2",
            },
            {
                "ResultsByTime": [
                    _day(
                        "2024-09-02",
                        "2024-09-03",
                        _group("222222222222", "AWS Lambda", "1.25", None),
                    )
                ],
                "DimensionValueAttributes": [],
            },
        ]
    )
    calls: list[dict[str, Any]] = []
    source = source_for(session=_recording_session(calls))

    batch = source.fetch(date(2024, 9, 1), date(2024, 9, 2))

    assert calls[0]["TimePeriod"] == {"Start": "2024-09-01", "End": "2024-09-03"}
    assert calls[0]["Granularity"] == "DAILY"
    assert set(calls[0]["Metrics"]) == {"UnblendedCost", "AmortizedCost"}
    assert [g["Key"] for g in calls[0]["GroupBy"]] == ["LINKED_ACCOUNT", "SERVICE"]
    assert [c.get("NextPageToken") for c in calls] == [None, "page-2"]
    assert batch.lines_read == 3
    rows = sorted(batch.rows, key=lambda r: r.day)
    assert len(rows) == 2, "the all-zero Tax group is dropped"
    ec2, lam = rows
    assert ec2.day == date(2024, 9, 1)
    assert ec2.resource_id == "aws/111111111111/Amazon Elastic Compute Cloud - Compute"
    assert (ec2.provider, ec2.billing_account_id, ec2.sub_account_id) == (
        "AWS",
        DEFAULT_ACCOUNT,
        "111111111111",
    )
    assert ec2.sub_account_name == "prod-main"
    assert (ec2.billed_cost, ec2.effective_cost, ec2.list_cost, ec2.currency) == (
        10.5,
        8.25,
        10.5,
        "USD",
    )
    assert lam.day == date(2024, 9, 2), "the inclusive end day is in the result"
    assert lam.effective_cost == 1.25, "EffectiveCost falls back to UnblendedCost"


def test_cost_explorer_default_period_is_the_last_30_full_days(
    aws: MotoServer,
    source_for: Any,
) -> None:
    calls: list[dict[str, Any]] = []
    source = source_for(
        session=_recording_session(calls), clock=lambda: datetime(2024, 10, 1, 8, tzinfo=UTC)
    )

    batch = source.fetch()

    assert calls[0]["TimePeriod"] == {"Start": "2024-09-01", "End": "2024-10-01"}
    assert batch.rows == []


def test_period_helpers() -> None:
    assert default_period(date(2024, 3, 1)) == (date(2024, 1, 31), date(2024, 2, 29))
    assert ce_time_period(date(2024, 12, 1), date(2024, 12, 31)) == {
        "Start": "2024-12-01",
        "End": "2025-01-01",
    }


def test_no_export_and_no_cost_explorer_reads_nothing(source_for: Any) -> None:
    assert source_for(cost_explorer=False).fetch(date(2024, 9, 1), date(2024, 9, 2)).rows == ()


# --- errors -----------------------------------------------------------------------------------


def _client_error(code: str, operation: str = "GetCostAndUsage") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Rate exceeded\nnow"}}, operation)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("Throttling", ProviderThrottled),
        ("ThrottlingException", ProviderThrottled),
        ("RequestLimitExceeded", ProviderThrottled),
        ("TooManyRequestsException", ProviderThrottled),
        ("LimitExceededException", ProviderThrottled),
        ("AuthFailure", ProviderAuthError),
        ("UnrecognizedClientException", ProviderAuthError),
        ("InvalidClientTokenId", ProviderAuthError),
        ("AccessDenied", ProviderAuthError),
        ("AccessDeniedException", ProviderAuthError),
        ("ExpiredToken", ProviderAuthError),
        ("403", ProviderAuthError),
        ("NoSuchBucket", ProviderError),
        ("InvalidParameterValue", ProviderError),
    ],
)
def test_client_errors_are_translated(code: str, kind: type[ProviderError]) -> None:
    error = translate_error(_client_error(code), account="prod", call="ce:GetCostAndUsage")

    assert type(error) is kind
    assert str(error) == (
        f"AWS account 'prod': ce:GetCostAndUsage failed: {code} (Rate exceeded now)"
    )


def test_botocore_errors_are_translated() -> None:
    missing = translate_error(NoCredentialsError(), account="prod", call="sts:GetCallerIdentity")
    down = translate_error(
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), account="prod", call="s3:X"
    )

    assert type(missing) is ProviderAuthError and "NoCredentialsError" in str(missing)
    assert type(down) is ProviderError and "http://127.0.0.1:9" in str(down)


def test_no_credentials_is_an_auth_error(
    aws: MotoServer,
    source_for: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with pytest.raises(ProviderAuthError, match="failed: NoCredentialsError"):
        list(source_for().inventory())


def test_unreachable_endpoint_is_a_provider_error(aws: MotoServer) -> None:
    port = free_port()  # a port nothing listens on
    account = AwsAccount(provider="aws", name="prod", endpoint_url=f"http://127.0.0.1:{port}")
    source = AwsSource(account, max_attempts=1)
    try:
        with pytest.raises(ProviderError, match="EndpointConnectionError"):
            source.fetch(date(2024, 9, 1), date(2024, 9, 1))
    finally:
        source.close()


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _throttling_session(throttles: int, attempts: list[str]) -> boto3.Session:
    """A session whose first ``throttles`` CE calls get Cost Explorer's throttling reply."""
    session = boto3.Session()

    def send(request: Any, **_: Any) -> AWSResponse | None:
        attempts.append(request.url)
        if len(attempts) > throttles:
            return None  # the real request goes to moto
        body = json.dumps({"__type": "LimitExceededException", "message": "Rate exceeded"})
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        return AWSResponse(request.url, 400, headers, _Body(body.encode()))

    session.events.register("before-send.ce.GetCostAndUsage", send)
    return session


def test_throttling_is_retried_then_reported(source_for: Any) -> None:
    attempts: list[str] = []
    patient = source_for(session=_throttling_session(1, attempts), max_attempts=2)
    assert patient.fetch(date(2024, 9, 1), date(2024, 9, 1)).rows == []
    assert len(attempts) == 2

    attempts.clear()
    hasty = source_for(session=_throttling_session(1, attempts), max_attempts=1)
    with pytest.raises(
        ProviderThrottled, match="ce:GetCostAndUsage failed: LimitExceededException"
    ):
        hasty.fetch(date(2024, 9, 1), date(2024, 9, 1))
    assert len(attempts) == 1
