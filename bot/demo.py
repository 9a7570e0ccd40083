"""The bundled demo: a small multi-cloud estate with realistic daily costs, relative to today.

Deterministic for a given (today, days, seed). Costs follow weekly seasonality (quiet weekends on
dev/staging compute), a slow trend, a support fee on the 1st of each month, and one real anomaly:
a runaway BigQuery job in the data team's project over the last few days.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from bot.records import DailyCost


@dataclass(frozen=True, slots=True)
class DemoResource:
    """One resource of the demo estate and how its daily cost behaves."""

    resource_id: str
    provider: str
    account: str
    account_name: str
    service: str
    region: str
    resource_type: str
    daily: float  # average weekday cost in USD
    weekend: float = 1.0  # weekend multiplier (0.2 = mostly off at weekends)
    trend: float = 0.0  # relative growth per 30 days
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.tags.get("Name") or self.resource_id.rsplit("/", 1)[-1]


AWS_PROD, AWS_STAGING = "111111111111", "222222222222"
GCP_PROJECT, AZURE_SUB = "data-lake-prod", "3f2c1a9e-web-prod"


def _aws(
    kind: str, name: str, account: str, service: str, daily: float, *, rtype: str,
    weekend: float = 1.0, trend: float = 0.0, tags: dict[str, str] | None = None,
) -> DemoResource:
    account_name = "prod" if account == AWS_PROD else "staging"
    rid = f"arn:aws:{kind}:us-east-1:{account}:{name}"
    return DemoResource(rid, "AWS", account, account_name, service, "us-east-1", rtype, daily,
                        weekend=weekend, trend=trend, tags=tags or {})


def estate(today: date) -> list[DemoResource]:
    """The demo resources; a few carry a TTL that has already passed."""
    expired = (today - timedelta(days=3)).isoformat()
    soon = (today + timedelta(days=2)).isoformat()
    ec2, rds = "Amazon Elastic Compute Cloud", "Amazon Relational Database Service"
    return [
        _aws(
            "ec2",
            "instance/i-0a1b2c3d4e5f60001",
            AWS_PROD,
            ec2,
            62.0,
            rtype="Instance",
            tags={"Name": "api-prod-1", "owner": "alice@example.com", "team": "platform"},
        ),
        _aws(
            "ec2",
            "instance/i-0a1b2c3d4e5f60002",
            AWS_PROD,
            ec2,
            61.0,
            rtype="Instance",
            tags={"Name": "api-prod-2", "owner": "alice@example.com", "team": "platform"},
        ),
        _aws(
            "rds",
            "db/orders-prod",
            AWS_PROD,
            rds,
            95.0,
            rtype="DBInstance",
            trend=0.04,
            tags={"team": "platform"},
        ),
        _aws(
            "s3",
            "bucket/web-assets-prod",
            AWS_PROD,
            "Amazon Simple Storage Service",
            8.5,
            rtype="Bucket",
            trend=0.06,
            tags={"app": "web"},
        ),
        _aws(
            "ec2",
            "instance/i-0a1b2c3d4e5f60010",
            AWS_STAGING,
            ec2,
            24.0,
            weekend=0.25,
            rtype="Instance",
            tags={"Name": "staging-1-app", "environment": "staging-1"},
        ),
        _aws(
            "ec2",
            "instance/i-0a1b2c3d4e5f60011",
            AWS_STAGING,
            ec2,
            24.0,
            weekend=0.25,
            rtype="Instance",
            tags={"Name": "staging-2-app", "environment": "staging-2"},
        ),
        _aws(
            "ec2",
            "instance/i-0a1b2c3d4e5f60012",
            AWS_STAGING,
            ec2,
            18.0,
            weekend=0.25,
            rtype="Instance",
            tags={"Name": "qa-app", "environment": "qa"},
        ),
        _aws(
            "ec2",
            "instance/i-0a1b2c3d4e5f60020",
            AWS_STAGING,
            ec2,
            11.0,
            weekend=0.2,
            rtype="Instance",
            tags={"Name": "perf-test-bob", "owner": "bob@example.com", "ttl": expired},
        ),
        _aws(
            "ec2",
            "volume/vol-0f00000000000021",
            AWS_STAGING,
            ec2,
            3.2,
            rtype="Volume",
            tags={"Name": "old-snapshot-restore", "expires-at": expired},
        ),
        _aws(
            "ec2",
            "instance/i-0a1b2c3d4e5f60022",
            AWS_STAGING,
            ec2,
            6.5,
            weekend=0.3,
            rtype="Instance",
            tags={"Name": "carol-experiment", "ttl": soon, "owner": "carol@example.com"},
        ),
        _aws(
            "ec2",
            "instance/i-0a1b2c3d4e5f60030",
            AWS_STAGING,
            ec2,
            9.0,
            rtype="Instance",
            tags={"Name": "mystery-box"},
        ),
        DemoResource(
            f"//bigquery.googleapis.com/projects/{GCP_PROJECT}/datasets/events",
            "Google Cloud",
            GCP_PROJECT,
            GCP_PROJECT,
            "BigQuery",
            "us-central1",
            "Dataset",
            38.0,
            weekend=0.5,
            tags={"team": "data"},
        ),
        DemoResource(
            f"//container.googleapis.com/projects/{GCP_PROJECT}/clusters/etl",
            "Google Cloud",
            GCP_PROJECT,
            GCP_PROJECT,
            "Kubernetes Engine",
            "us-central1",
            "Cluster",
            72.0,
            trend=0.03,
            tags={"team": "data"},
        ),
        DemoResource(
            f"//storage.googleapis.com/projects/{GCP_PROJECT}/buckets/raw-events",
            "Google Cloud",
            GCP_PROJECT,
            GCP_PROJECT,
            "Cloud Storage",
            "us-central1",
            "Bucket",
            14.0,
            trend=0.08,
            tags={"owner": "bob@example.com"},
        ),
        DemoResource(
            f"/subscriptions/{AZURE_SUB}/resourceGroups/web/providers/"
            "Microsoft.Web/sites/web-frontend",
            "Microsoft",
            AZURE_SUB,
            "web-prod",
            "Azure App Service",
            "westeurope",
            "Microsoft.Web/sites",
            21.0,
            tags={"owner": "carol@example.com"},
        ),
        DemoResource(
            f"/subscriptions/{AZURE_SUB}/resourceGroups/web/providers/"
            "Microsoft.Compute/virtualMachines/web-render-1",
            "Microsoft",
            AZURE_SUB,
            "web-prod",
            "Virtual Machines",
            "westeurope",
            "Microsoft.Compute/virtualMachines",
            17.0,
            weekend=0.4,
        ),
        DemoResource(
            f"/subscriptions/{AZURE_SUB}/resourceGroups/shared/providers/"
            "Microsoft.Sql/servers/legacy-sql",
            "Microsoft",
            AZURE_SUB,
            "web-prod",
            "Azure SQL Database",
            "westeurope",
            "Microsoft.Sql/servers",
            12.0,
        ),
    ]


ANOMALY_RESOURCE_SUFFIX = "datasets/events"
ANOMALY_DAYS_AGO = (4, 3, 2)  # a runaway scheduled query, then fixed
SUPPORT_FEE = 120.0


def _billing_account(res: DemoResource) -> str:
    return {"AWS": "999999999999", "Google Cloud": "01A2B3-C4D5E6-F7A8B9", "Microsoft": "ea-4711"}[
        res.provider
    ]


def generate(today: date, *, days: int = 75, seed: int = 7) -> list[DailyCost]:
    """Daily costs for the ``days`` days before ``today`` (billing data ends yesterday)."""
    rng = random.Random(seed)
    rows: list[DailyCost] = []
    resources = estate(today)
    for offset in range(days, 0, -1):
        day = today - timedelta(days=offset)
        for res in resources:
            growth = 1.0 + res.trend * (days - offset) / 30.0
            season = res.weekend if day.weekday() >= 5 else 1.0
            cost = res.daily * growth * season * rng.uniform(0.93, 1.07)
            if res.resource_id.endswith(ANOMALY_RESOURCE_SUFFIX) and offset in ANOMALY_DAYS_AGO:
                cost *= 4.2
            rows.append(_row(res, day, round(cost, 4)))
        if day.day == 1:  # the monthly AWS Business Support fee, an account-level charge
            fee = DemoResource(
                f"AWS/{AWS_PROD}/AWS Support (Business)",
                "AWS",
                AWS_PROD,
                "prod",
                "AWS Support (Business)",
                "",
                "",
                SUPPORT_FEE,
            )
            rows.append(_row(fee, day, SUPPORT_FEE))
    return rows


def _row(res: DemoResource, day: date, cost: float) -> DailyCost:
    return DailyCost(
        day=day,
        resource_id=res.resource_id,
        provider=res.provider,
        billing_account_id=_billing_account(res),
        sub_account_id=res.account,
        sub_account_name=res.account_name,
        service=res.service,
        currency="USD",
        billed_cost=round(cost * 1.08, 4),
        effective_cost=cost,
        list_cost=round(cost * 1.15, 4),
        region=res.region,
        resource_name=res.name if res.resource_type else "",
        resource_type=res.resource_type,
        tags=res.tags,
    )
