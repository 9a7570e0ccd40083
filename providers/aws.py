"""AWS: costs from a CUR 2.0 / FOCUS Data Export in S3 (or Cost Explorer), inventory from EC2.

Costs. With ``export`` set, the export's data files under ``s3://bucket/prefix`` are downloaded
and read by ``providers.focus.read_files``. Data Exports write
``<prefix>/<export-name>/data/BILLING_PERIOD=YYYY-MM/...`` plus ``metadata/...Manifest.json``;
only ``.csv``, ``.csv.gz`` and ``.parquet`` keys are read, and only the newest delivery folder of
each period ("create new file" mode keeps every refresh; reading all would count days twice).
Without an export, Cost Explorer gives daily cost per (linked account, service): no resource
level, so rows get the synthetic resource id ``aws/<account>/<service>``.

Inventory: EC2 instances and EBS volumes from EC2 (state, creation time), anything else tagged
from the Resource Groups Tagging API. Ids are those of the billing data, so cost rows and
resources join: CUR ``line_item_resource_id`` (= FOCUS ``ResourceId`` in AWS exports) is the bare
id for instances (``i-...``) and volumes (``vol-...``), the bucket name for S3, the ARN otherwise.

``endpoint_url`` None leaves endpoints to boto3, which honours ``AWS_ENDPOINT_URL[_<SERVICE>]``.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from bot.config import AwsAccount
from bot.errors import ConfigError
from bot.records import DailyCost, InventoryItem
from providers.aws_common import AwsClients, resource_id_from_arn
from providers.base import CostBatch
from providers.focus import read_files

PROVIDER = "AWS"
EC2_SERVICE = "Amazon Elastic Compute Cloud"
DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet")
DEFAULT_DAYS = 30

# ARN service code -> FOCUS ServiceName, so rules matching on service see the billing names.
SERVICE_NAMES = {
    "ec2": EC2_SERVICE,
    "s3": "Amazon Simple Storage Service",
    "rds": "Amazon Relational Database Service",
    "lambda": "AWS Lambda",
    "dynamodb": "Amazon DynamoDB",
    "elasticloadbalancing": "Elastic Load Balancing",
    "sqs": "Amazon Simple Queue Service",
    "sns": "Amazon Simple Notification Service",
    "ecs": "Amazon Elastic Container Service",
    "eks": "Amazon Elastic Container Service for Kubernetes",
    "elasticfilesystem": "Amazon Elastic File System",
    "logs": "AmazonCloudWatch",
}

_PARTITION = re.compile(r"^BILLING_PERIOD=(\d{4})-(\d{2})$")


def default_period(today: date, days: int = DEFAULT_DAYS) -> tuple[date, date]:
    """The last ``days`` complete days before ``today``, both ends inclusive."""
    end = today - timedelta(days=1)
    return end - timedelta(days=days - 1), end


def ce_time_period(start: date, end: date) -> dict[str, str]:
    """Cost Explorer's TimePeriod for our inclusive [start, end]: CE's End is exclusive."""
    return {"Start": start.isoformat(), "End": (end + timedelta(days=1)).isoformat()}


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix without a leading slash)."""
    if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
        raise ConfigError(f"export {url!r}: expected s3://bucket/prefix")
    bucket, _, prefix = url[5:].partition("/")
    return bucket, prefix


def select_data_keys(
    objects: Sequence[Mapping[str, Any]], start: date | None = None, end: date | None = None
) -> list[str]:
    """The data files to read from an export listing (``Key`` and ``LastModified`` per object).

    Skips manifests and anything not CSV/CSV.gz/Parquet; keeps the newest delivery folder per
    billing period; drops billing periods wholly outside [start, end].
    """
    deliveries: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for obj in objects:
        key = str(obj["Key"])
        if not key.lower().endswith(DATA_SUFFIXES):
            continue
        parts = key.split("/")
        index = next((i for i, p in enumerate(parts) if _PARTITION.match(p)), None)
        if index is None:
            deliveries.setdefault(key, {}).setdefault("", []).append(obj)
            continue
        partition = "/".join(parts[: index + 1])
        if not _period_overlaps(parts[index], start, end):
            continue
        folder = "/".join(parts[index + 1 : -1])
        deliveries.setdefault(partition, {}).setdefault(folder, []).append(obj)
    keys: list[str] = []
    for folders in deliveries.values():
        newest = max(folders.values(), key=lambda objs: max(o["LastModified"] for o in objs))
        keys.extend(str(o["Key"]) for o in newest)
    roots = {k.split("/data/")[0] for k in keys if "/data/" in k}
    if len(roots) > 1:
        raise ConfigError(
            f"the export prefix holds several exports ({', '.join(sorted(roots))}); "
            "point it at one of them"
        )
    return sorted(keys)


def _period_overlaps(partition: str, start: date | None, end: date | None) -> bool:
    match = _PARTITION.match(partition)
    assert match is not None
    first = date(int(match[1]), int(match[2]), 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return (start is None or last >= start) and (end is None or first <= end)


def _tags(raw: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in raw or ()}


class AwsSource:
    """One AWS account as a cost source (Data Export or Cost Explorer) and an inventory."""

    def __init__(
        self,
        account: AwsAccount,
        *,
        session: boto3.Session | None = None,
        max_attempts: int = 5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = account.name
        self.account = account
        self._clients = AwsClients(account, session=session, max_attempts=max_attempts)
        self._clock = clock
        self._caller_account: str | None = None

    def close(self) -> None:
        """Close the HTTP connections of every client made so far."""
        self._clients.close()

    def _client(self, service: str, region: str | None = None) -> Any:
        return self._clients.client(service, region)

    def _calling(self, call: str) -> AbstractContextManager[None]:
        return self._clients.calling(call)

    def caller_account(self) -> str:
        """The account id our credentials belong to (cached)."""
        if self._caller_account is None:
            with self._calling("sts:GetCallerIdentity"):
                identity = self._client("sts").get_caller_identity()
            self._caller_account = str(identity["Account"])
        return self._caller_account

    # --- costs --------------------------------------------------------------------------------

    def fetch(self, start: date | None = None, end: date | None = None) -> CostBatch:
        """Daily costs with day in [start, end] (export: all it has when None; CE: 30 days)."""
        if self.account.export:
            return self._fetch_export(self.account.export, start, end)
        if self.account.cost_explorer:
            return self._fetch_cost_explorer(start, end)
        return CostBatch(source=f"aws:{self.name}", rows=())

    def _fetch_export(self, url: str, start: date | None, end: date | None) -> CostBatch:
        bucket, prefix = parse_s3_url(url)
        s3 = self._client("s3")
        where = f"s3://{bucket}/{prefix}"
        objects: list[Mapping[str, Any]] = []
        with self._calling(f"s3:ListObjectsV2 on {where}"):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                objects.extend(page.get("Contents", ()))
        keys = select_data_keys(objects, start, end)
        with tempfile.TemporaryDirectory(prefix="finops-aws-") as tmp:
            names: dict[Path, str] = {}  # local file -> its s3:// url, for error messages
            for index, key in enumerate(keys):
                # the index keeps same-named chunks of different partitions apart
                path = Path(tmp) / f"{index:05d}-{key.rsplit('/', 1)[-1]}"
                names[path] = f"s3://{bucket}/{key}"
                with self._calling(f"s3:GetObject on {names[path]}"):
                    s3.download_file(bucket, key, str(path))
            return read_files(list(names), label=where, start=start, end=end, names=names)

    def _fetch_cost_explorer(self, start: date | None, end: date | None) -> CostBatch:
        if end is None:
            end = default_period(self._clock().date())[1]
        if start is None:
            start = end - timedelta(days=DEFAULT_DAYS - 1)
        source = f"aws-ce:{self.name}"
        if start > end:
            return CostBatch(source=source, rows=())
        payer = self.caller_account()
        ce = self._client("ce", "us-east-1")  # Cost Explorer's one endpoint
        request: dict[str, Any] = {
            "TimePeriod": ce_time_period(start, end),
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost", "AmortizedCost"],
            "GroupBy": [{"Type": "DIMENSION", "Key": k} for k in ("LINKED_ACCOUNT", "SERVICE")],
        }
        rows: list[DailyCost] = []
        names: dict[str, str] = {}
        groups_read = 0
        while True:
            with self._calling("ce:GetCostAndUsage"):
                page = ce.get_cost_and_usage(**request)
            for attr in page.get("DimensionValueAttributes", ()):
                names[str(attr["Value"])] = str(attr.get("Attributes", {}).get("description", ""))
            for period in page.get("ResultsByTime", ()):
                day = date.fromisoformat(period["TimePeriod"]["Start"])
                for group in period.get("Groups", ()):
                    groups_read += 1
                    if _within(day, start, end) and (row := _ce_row(day, group, payer)):
                        rows.append(row)
            token = page.get("NextPageToken")
            if not token:
                break
            request["NextPageToken"] = token
        rows = [replace(r, sub_account_name=names.get(r.sub_account_id, "")) for r in rows]
        return CostBatch(source=source, rows=rows, lines_read=groups_read)

    # --- inventory ----------------------------------------------------------------------------

    def inventory(self) -> Iterator[InventoryItem]:
        """Instances, volumes and tagged resources of every configured region, each once."""
        seen: set[str] = set()
        for region in self.account.regions:
            for item in self._region_inventory(region):
                if item.resource_id not in seen:
                    seen.add(item.resource_id)
                    yield item

    def _region_inventory(self, region: str) -> list[InventoryItem]:
        ec2 = self._client("ec2", region)
        found: dict[str, InventoryItem] = {}
        gone: set[str] = set()
        with self._calling(f"ec2:DescribeInstances in {region}"):
            for page in ec2.get_paginator("describe_instances").paginate():
                for reservation in page.get("Reservations", ()):
                    owner = str(reservation.get("OwnerId", ""))
                    for instance in reservation.get("Instances", ()):
                        state = str(instance.get("State", {}).get("Name", ""))
                        created = _instance_created(instance)
                        item = _ec2_item(instance, "instance", owner, region, state, created)
                        if item.state == "terminated":
                            gone.add(item.resource_id)
                        else:
                            found[item.resource_id] = item
        account = self.caller_account()  # volumes do not name their owner
        with self._calling(f"ec2:DescribeVolumes in {region}"):
            for page in ec2.get_paginator("describe_volumes").paginate():
                for volume in page.get("Volumes", ()):
                    state, created = str(volume.get("State", "")), volume.get("CreateTime")
                    item = _ec2_item(volume, "volume", account, region, state, created)
                    found[item.resource_id] = item
        tagging = self._client("resourcegroupstaggingapi", region)
        with self._calling(f"tag:GetResources in {region}"):
            for page in tagging.get_paginator("get_resources").paginate():
                for mapping in page.get("ResourceTagMappingList", ()):
                    item = _tagged_item(mapping, region)
                    if item.resource_id not in found and item.resource_id not in gone:
                        found[item.resource_id] = item
        return list(found.values())


def from_account(account: AwsAccount) -> AwsSource:
    """Registry factory: the cost source and inventory of one configured AWS account."""
    return AwsSource(account)


def _within(day: date, start: date | None, end: date | None) -> bool:
    return (start is None or day >= start) and (end is None or day <= end)


def _ce_row(day: date, group: Mapping[str, Any], payer: str) -> DailyCost | None:
    linked, service = (list(group["Keys"]) + ["", ""])[:2]
    metrics = group.get("Metrics", {})
    unblended = metrics.get("UnblendedCost") or {}
    amortized = metrics.get("AmortizedCost") or unblended
    billed = float(unblended.get("Amount") or 0)
    effective = float(amortized.get("Amount") or 0)
    if billed == 0 and effective == 0:
        return None  # CE lists every service ever used, mostly at zero
    return DailyCost(
        day=day,
        resource_id=f"aws/{linked}/{service}",
        provider=PROVIDER,
        billing_account_id=payer,
        sub_account_id=str(linked),
        service=str(service),
        currency=str(unblended.get("Unit") or amortized.get("Unit") or "USD"),
        billed_cost=billed,
        effective_cost=effective,
        list_cost=billed,  # CE has no list price; unblended is the closest undiscounted figure
    )


def _instance_created(instance: Mapping[str, Any]) -> datetime | None:
    # LaunchTime moves on every stop/start; the primary ENI's attach time is the creation time.
    created: datetime | None = instance.get("LaunchTime")
    for eni in instance.get("NetworkInterfaces", ()):
        attachment = eni.get("Attachment", {})
        attached = attachment.get("AttachTime")
        if attachment.get("DeviceIndex") == 0 and attached:
            created = min(created, attached) if created else attached
    return created


def _ec2_item(
    raw: Mapping[str, Any], kind: str, account: str, region: str, state: str, created: Any
) -> InventoryItem:
    tags = _tags(raw.get("Tags"))
    return InventoryItem(
        resource_id=str(raw["InstanceId" if kind == "instance" else "VolumeId"]),
        provider=PROVIDER,
        account_id=account,
        region=region,
        service=EC2_SERVICE,
        resource_type=kind,
        name=tags.get("Name", ""),
        tags=tags,
        state=state,
        created_at=created,
    )


def _tagged_item(mapping: Mapping[str, Any], region: str) -> InventoryItem:
    arn = str(mapping["ResourceARN"])
    resource_id, service, arn_region, account, kind = resource_id_from_arn(arn)
    tags = _tags(mapping.get("Tags"))
    return InventoryItem(
        resource_id=resource_id,
        provider=PROVIDER,
        account_id=account,
        region=arn_region or region,
        service=SERVICE_NAMES.get(service, service),
        resource_type=kind,
        name=tags.get("Name") or (resource_id if service == "s3" else ""),
        tags=tags,
    )
