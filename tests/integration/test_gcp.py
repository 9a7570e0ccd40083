"""GCP cost source and discovery: the real google-cloud clients against loopback fakes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core.exceptions import BadRequest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_RETRY
from google.oauth2.credentials import Credentials
from pydantic import ValidationError

from bot.config import GcpAccount
from bot.errors import ConfigError, ProviderAuthError, ProviderError, ProviderThrottled
from providers.base import CostSource, build_source
from providers.gcp import GcpSource, from_account
from tests.fakes.bigquery import FakeBigQuery, bigquery_error
from tests.fakes.gcp_billing import (
    EXPORT_COLUMNS,
    FakeAccount,
    FakeCloudBilling,
    export_line,
    google_error,
)

TABLE = "billing-admin.billing_export.gcp_billing_export_resource_v1_012345_6789AB_CDEF01"
TOKEN = Credentials(token="test-token")
# The library's own retry predicate with a short clock, so persistent failures end fast.
FAST_RETRY = DEFAULT_RETRY.with_delay(initial=0.01, maximum=0.02).with_timeout(0.3)
NO_RETRY: dict[str, Any] = {"retry": None, "job_retry": None}


def at(day: int, hour: int = 12, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2024, month, day, hour, minute, tzinfo=dt.UTC)


@pytest.fixture
def bq() -> Iterator[FakeBigQuery]:
    with FakeBigQuery(max_page_rows=2) as fake:
        fake.create_table(TABLE, EXPORT_COLUMNS)
        yield fake
        fake.assert_clean()


@pytest.fixture
def billing() -> Iterator[FakeCloudBilling]:
    accounts = [
        FakeAccount(
            "012345-6789AB-CDEF01",
            "Main",
            projects=["proj-a", "proj-b", "proj-c"],
            disabled={"proj-c"},
        ),
        FakeAccount("0AAAAA-BBBBBB-CCCCCC", "Sandbox", open=False, projects=["sandbox-1"]),
        FakeAccount("0DDDDD-EEEEEE-FFFFFF", "Reseller", projects=[]),
    ]
    with FakeCloudBilling(accounts, max_page_size=2) as fake:
        yield fake
        fake.assert_clean()


def source(
    bq: FakeBigQuery | None = None, billing: FakeCloudBilling | None = None, **options: Any
) -> GcpSource:
    account = GcpAccount(
        provider="gcp",
        name="gcp-main",
        bigquery_table=TABLE,
        billing_account=None,
        endpoint_url=bq.url if bq else None,
        billing_endpoint_url=billing.url if billing else None,
    )
    options.setdefault("credentials", TOKEN)
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("job_retry", None)
    return from_account(account, **options)


def by_key(rows: Any) -> dict[tuple[dt.date, str, str], Any]:
    return {(r.day, r.resource_id, r.currency): r for r in rows}


# --- costs ------------------------------------------------------------------------------


def test_rows_aggregate_per_resource_day_with_net_cost_and_latest_labels(bq: FakeBigQuery) -> None:
    vm = "//compute.googleapis.com/projects/proj-a/zones/us-central1-a/instances/4711"
    bq.insert_rows(
        TABLE,
        [
            export_line(
                start=at(1, 0),
                cost=10.0,
                resource="vm-1",
                global_name=vm,
                credits=[("FreeTrial", -1.0), ("SUD", -0.25)],
                cost_at_list=12.0,
                labels={"team": "old"},
            ),
            export_line(
                start=at(1, 23),
                cost=5.0,
                resource="vm-1",
                global_name=vm,
                labels={"team": "data", "owner": "ana"},
            ),
            export_line(
                start=at(1, 9),
                cost=0.5,
                resource="vm-1",
                global_name=vm,
                service="Networking",
                region="europe-west1",
            ),
            export_line(start=at(2, 3), cost=7.0, resource="vm-1", global_name=vm),
            export_line(
                start=at(1, 4),
                cost=2.0,
                resource="logs",
                project="proj-b",
                project_name="Project B",
                service="Cloud Storage",
                region=None,
            ),
            export_line(start=at(1, 5), cost=30.0, project=None, service="Support", region=None),
        ],
    )
    batch = source(bq).fetch()

    assert batch.source == "gcp:gcp-main"
    assert batch.lines_read == 6
    rows = by_key(batch.rows)
    assert set(rows) == {
        (dt.date(2024, 3, 1), vm, "USD"),
        (dt.date(2024, 3, 2), vm, "USD"),
        (dt.date(2024, 3, 1), "proj-b/logs", "USD"),
        (dt.date(2024, 3, 1), "012345-6789AB-CDEF01/Support", "USD"),
    }
    day1 = rows[(dt.date(2024, 3, 1), vm, "USD")]
    assert day1.billed_cost == pytest.approx(15.5)
    assert day1.effective_cost == pytest.approx(15.5 - 1.25)
    assert day1.list_cost == pytest.approx(12.0 + 5.0 + 0.5)
    assert (day1.service, day1.region) == ("Compute Engine", "us-central1")  # the larger cost
    assert day1.tags == {"team": "data", "owner": "ana"}  # from the latest line of the day
    assert (day1.provider, day1.sub_account_id, day1.resource_name) == (
        "Google Cloud",
        "proj-a",
        "vm-1",
    )
    assert day1.resource_type == "compute.googleapis.com/instances"
    assert day1.billing_account_id == "012345-6789AB-CDEF01"
    logs = rows[(dt.date(2024, 3, 1), "proj-b/logs", "USD")]
    assert (logs.sub_account_name, logs.service, logs.region) == ("Project B", "Cloud Storage", "")
    support = rows[(dt.date(2024, 3, 1), "012345-6789AB-CDEF01/Support", "USD")]
    assert (support.sub_account_id, support.billed_cost, support.effective_cost) == ("", 30.0, 30.0)


def test_all_pages_are_followed(bq: FakeBigQuery) -> None:
    bq.insert_rows(
        TABLE,
        [
            export_line(start=at(day), cost=float(day), resource=f"vm-{n}")
            for day in range(1, 6)
            for n in range(3)
        ],
    )
    rows = source(bq).fetch().rows

    assert len(rows) == 15
    assert sum(r.billed_cost for r in rows) == pytest.approx(3 * sum(range(1, 6)))
    pages = bq.calls_to("GET", "/queries/")
    assert len(pages) == 7  # 15 rows, 2 a page: the first came with jobs.query
    assert all(p.param("pageToken") for p in pages)


def test_date_bounds_are_inclusive_and_sent_as_query_parameters(bq: FakeBigQuery) -> None:
    bq.insert_rows(
        TABLE,
        [
            export_line(start=at(29, 23, 59, month=2), cost=1.0, resource="vm"),
            export_line(start=at(1, 0, 0), cost=2.0, resource="vm"),
            export_line(start=at(3, 23, 0), cost=4.0, resource="vm"),
            export_line(start=at(4, 0, 0), cost=8.0, resource="vm"),
        ],
    )
    rows = source(bq).fetch(dt.date(2024, 3, 1), dt.date(2024, 3, 3)).rows

    assert [(r.day, r.billed_cost) for r in rows] == [
        (dt.date(2024, 3, 1), 2.0),
        (dt.date(2024, 3, 3), 4.0),
    ]
    body = bq.calls_to("POST", "/queries")[0].json()
    assert "2024-03" not in body["query"]
    assert {p["name"]: p["parameterValue"]["value"] for p in body["queryParameters"]} == {
        "start_day": "2024-03-01",
        "end_day": "2024-03-03",
    }


def test_open_bounds_and_currencies_stay_separate(bq: FakeBigQuery) -> None:
    bq.insert_rows(
        TABLE,
        [
            export_line(start=at(1), cost=3.0, resource="vm", currency="USD"),
            export_line(
                start=at(1),
                cost=5.0,
                resource="vm",
                currency="EUR",
                billing_account="01EEEE-EEEEEE-EEEEEE",
            ),
            export_line(start=at(9, month=1), cost=1.0, resource="vm", currency="USD"),
        ],
    )
    rows = by_key(source(bq).fetch(start=dt.date(2024, 3, 1)).rows)

    assert {k: r.billed_cost for k, r in rows.items()} == {
        (dt.date(2024, 3, 1), "proj-a/vm", "USD"): 3.0,
        (dt.date(2024, 3, 1), "proj-a/vm", "EUR"): 5.0,
    }
    assert len(source(bq).fetch(end=dt.date(2024, 2, 1)).rows) == 1


def test_the_fake_rejects_a_wrong_query_like_bigquery(bq: FakeBigQuery) -> None:
    client = bigquery.Client(
        project="billing-admin", credentials=TOKEN, client_options={"api_endpoint": bq.url}
    )
    with client, pytest.raises(BadRequest, match="cost_in_usd"):
        client.query_and_wait(f"SELECT SUM(cost_in_usd) FROM `{TABLE}`", **NO_RETRY)


def test_missing_table_is_a_provider_error_naming_account_and_call(bq: FakeBigQuery) -> None:
    account = GcpAccount(
        provider="gcp",
        name="gcp-main",
        endpoint_url=bq.url,
        bigquery_table="billing-admin.billing_export.nope",
    )
    with pytest.raises(ProviderError) as info:
        from_account(account, credentials=TOKEN, retry=None, job_retry=None).fetch()
    assert type(info.value) is ProviderError
    message = str(info.value)
    assert "gcp-main" in message and "jobs.query" in message and "404" in message
    assert "\n" not in message


# --- errors ------------------------------------------------------------------------------


def test_refused_credentials_are_an_auth_error(bq: FakeBigQuery) -> None:
    # On 401 google-auth refreshes the token once; credentials that cannot refresh then fail.
    with pytest.raises(ProviderAuthError, match="gcp-main.*jobs.query.*credentials"):
        source(bq, credentials=Credentials(token="expired-token")).fetch()
    assert [c.headers["authorization"] for c in bq.calls] == ["Bearer expired-token"]


def test_access_denied_is_an_auth_error(bq: FakeBigQuery) -> None:
    bq.fail_next(
        bigquery_error(
            403,
            "accessDenied",
            "Access Denied: Project billing-admin: "
            "User does not have bigquery.jobs.create permission.",
        )
    )
    with pytest.raises(ProviderAuthError, match="accessDenied"):
        source(bq).fetch()


@pytest.mark.parametrize("status", [403, 429])
def test_persistent_rate_limit_is_throttled_after_the_clients_retries(
    bq: FakeBigQuery, status: int
) -> None:
    bq.fail_next(
        bigquery_error(
            status,
            "rateLimitExceeded",
            "Exceeded rate limits: too many api requests per user per method",
            domain="usageLimits",
        ),
        times=None,
    )
    with pytest.raises(ProviderThrottled, match="gcp-main.*rateLimitExceeded"):
        source(bq).fetch()
    assert len(bq.calls) > 1  # the client retried before giving up


def test_server_error_is_retried_then_reported(bq: FakeBigQuery) -> None:
    bq.insert_rows(TABLE, [export_line(start=at(1), cost=1.0, resource="vm")])
    bq.fail_next(bigquery_error(500, "internalError", "An internal error occurred."))
    assert len(source(bq).fetch().rows) == 1

    bq.fail_next(bigquery_error(500, "internalError", "An internal error occurred."), times=None)
    with pytest.raises(ProviderError, match="500 internalError") as info:
        source(bq).fetch()
    assert not isinstance(info.value, ProviderAuthError | ProviderThrottled)


# --- discovery ---------------------------------------------------------------------------


def test_discover_lists_accounts_and_projects_across_pages(billing: FakeCloudBilling) -> None:
    found = {a.account_id: a for a in source(billing=billing).discover()}

    assert set(found) == {"012345-6789AB-CDEF01", "0AAAAA-BBBBBB-CCCCCC", "0DDDDD-EEEEEE-FFFFFF"}
    main = found["012345-6789AB-CDEF01"]
    assert (main.display_name, main.open) == ("Main", True)
    assert [(p.project_id, p.billing_enabled) for p in main.projects] == [
        ("proj-a", True),
        ("proj-b", True),
        ("proj-c", False),
    ]
    assert {p.billing_account_id for p in main.projects} == {"012345-6789AB-CDEF01"}
    assert found["0AAAAA-BBBBBB-CCCCCC"].open is False
    assert found["0DDDDD-EEEEEE-FFFFFF"].projects == ()
    assert [
        c.param("pageToken") for c in billing.calls_to("GET", "/projects") if "012345" in c.path
    ] == [None, "2"]
    assert len(billing.calls_to("GET", "/v1/billingAccounts")) >= 2


def test_discover_keeps_only_the_configured_account(billing: FakeCloudBilling) -> None:
    found = source(billing=billing).discover()
    assert len(found) == 3
    scoped = GcpSource(
        name="gcp-main",
        table=TABLE,
        billing_account="0AAAAA-BBBBBB-CCCCCC",
        billing_endpoint_url=billing.url,
        credentials=TOKEN,
    )
    assert [a.account_id for a in scoped.discover()] == ["0AAAAA-BBBBBB-CCCCCC"]
    unknown = GcpSource(
        name="gcp-main",
        table=TABLE,
        billing_account="0ZZZZZ-ZZZZZZ-ZZZZZZ",
        billing_endpoint_url=billing.url,
        credentials=TOKEN,
    )
    with pytest.raises(ProviderError, match="0ZZZZZ-ZZZZZZ-ZZZZZZ is not visible"):
        unknown.discover()


@pytest.mark.parametrize(
    ("reply", "error", "text"),
    [
        (
            google_error(
                403, "The caller does not have permission", reason="IAM_PERMISSION_DENIED"
            ),
            ProviderAuthError,
            "403",
        ),
        (
            google_error(
                429,
                "Quota exceeded for quota metric 'Read requests'",
                reason="RATE_LIMIT_EXCEEDED",
                domain="googleapis.com",
            ),
            ProviderThrottled,
            "429",
        ),
        (google_error(500, "Internal error encountered."), ProviderError, "500"),
    ],
)
def test_discover_translates_errors(
    billing: FakeCloudBilling, reply: Any, error: type[ProviderError], text: str
) -> None:
    billing.fail_next(reply, path_contains="/projects")
    with pytest.raises(error, match=f"list_project_billing_info.*{text}") as info:
        source(billing=billing).discover()
    assert type(info.value) is error


def test_discover_without_credentials_is_an_auth_error(billing: FakeCloudBilling) -> None:
    with pytest.raises(ProviderAuthError, match="list_billing_accounts.*credentials"):
        source(billing=billing, credentials=AnonymousCredentials()).discover()
    assert "authorization" not in billing.calls[0].headers


# --- wiring ------------------------------------------------------------------------------


def test_registry_builds_the_source_without_touching_credentials() -> None:
    built = build_source(
        GcpAccount(provider="gcp", name="g", bigquery_table=TABLE, project="runner")
    )
    assert isinstance(built, GcpSource) and isinstance(built, CostSource)
    assert (built.project, built.table) == ("runner", TABLE)


def test_a_table_path_that_is_not_project_dataset_table_is_a_config_error() -> None:
    # the table is formatted into the SQL: the config refuses it, and so does the source
    with pytest.raises(ValidationError, match="bigquery_table"):
        GcpAccount(provider="gcp", name="g", bigquery_table="dataset.table`;--")
    with pytest.raises(ConfigError, match="bigquery_table"):
        GcpSource(name="g", table="dataset.table`;--")
