"""Azure cost source: the real azure-mgmt-costmanagement client against a loopback fake."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.policies import HeadersPolicy
from azure.mgmt.costmanagement import CostManagementClient
from azure.mgmt.costmanagement.models import (
    QueryAggregation,
    QueryDataset,
    QueryDefinition,
    QueryGrouping,
    QueryTimePeriod,
)

from bot.config import AzureAccount
from bot.errors import ConfigError, ProviderAuthError, ProviderError, ProviderThrottled
from providers.azure import AzureSource, from_account
from providers.base import CostSource, build_source
from tests.fakes.azure_cost import FakeCostManagement, UsageRecord, arm_error, throttled
from tests.fakes.http import Call

SUB = "00000000-0000-0000-0000-000000000001"
SCOPE = f"/subscriptions/{SUB}"
RG = f"/subscriptions/{SUB}/resourcegroups/rg-app/providers"
VM1 = f"{RG}/microsoft.compute/virtualmachines/vm-1"
VM2 = f"{RG}/microsoft.compute/virtualmachines/vm-2"
RESERVATION = "/providers/microsoft.capacity/reservationorders/ro-1/reservations/r-1"
D1, D2, D3 = dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)


class NoToken:
    """A credential that must never be asked: the tests authenticate with a header policy."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        raise AssertionError("bearer tokens are not used over plain http in these tests")


def client_options(header: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        # azure-core refuses bearer tokens over http; the fake checks this header instead.
        "authentication_policy": HeadersPolicy(
            {"Authorization": "Bearer test"} if header is None else header
        ),
        "retry_total": 1,
        "retry_backoff_factor": 0.01,
        **extra,
    }


def source(fake: FakeCostManagement, scope: str = SCOPE, **options: Any) -> AzureSource:
    account = AzureAccount(provider="azure", name="az-prod", scope=scope, endpoint_url=fake.url)
    options.setdefault("credential", NoToken())
    options.setdefault("client_options", client_options())
    return from_account(account, **options)


@pytest.fixture
def fake() -> Iterator[FakeCostManagement]:
    with FakeCostManagement(page_rows=2) as server:
        yield server
        server.assert_clean()


def by_key(rows: Any) -> dict[tuple[dt.date, str, str], Any]:
    return {(r.day, r.resource_id, r.currency): r for r in rows}


def queries(fake: FakeCostManagement) -> list[Call]:
    return fake.calls_to("POST", "/providers/Microsoft.CostManagement/query")


def test_actual_and_amortized_costs_join_per_resource_day(fake: FakeCostManagement) -> None:
    fake.records += [
        UsageRecord(D1, VM1, actual_cost=10.0),
        UsageRecord(
            D1,
            VM1,
            actual_cost=1.5,
            service_name="Bandwidth",
            location="eu west",
            meter="Data Transfer Out",
        ),
        UsageRecord(D1, VM2, actual_cost=0.0, amortized_cost=4.0),  # covered by a reservation
        UsageRecord(
            D1,
            RESERVATION,
            actual_cost=300.0,
            amortized_cost=0.0,
            service_name="Reservations",
            resource_type="microsoft.capacity/reservations",
            charge_type="Purchase",
        ),
        UsageRecord(
            D1, "", actual_cost=5.0, service_name="Support", resource_type="", location="global"
        ),
        UsageRecord(D2, VM1, actual_cost=12.0),
        UsageRecord(
            D1, VM1.replace(SUB, "other-sub"), actual_cost=99.0, subscription_id="other-sub"
        ),  # outside the scope
    ]
    batch = source(fake).fetch(D1, D2)

    assert batch.source == "azure:az-prod"
    rows = by_key(batch.rows)
    assert set(rows) == {
        (D1, VM1, "EUR"),
        (D1, VM2, "EUR"),
        (D1, RESERVATION, "EUR"),
        (D1, f"{SUB}/Support", "EUR"),
        (D2, VM1, "EUR"),
    }
    vm1 = rows[(D1, VM1, "EUR")]
    assert (vm1.billed_cost, vm1.effective_cost, vm1.list_cost) == (11.5, 11.5, 11.5)
    assert (vm1.service, vm1.region, vm1.resource_type) == (
        "Virtual Machines",
        "westeurope",
        "microsoft.compute/virtualmachines",
    )
    assert (vm1.provider, vm1.sub_account_id, vm1.sub_account_name, vm1.resource_name) == (
        "Microsoft",
        SUB,
        "prod",
        "vm-1",
    )
    assert vm1.billing_account_id == SCOPE.strip("/") and vm1.tags == {}
    assert (rows[(D1, VM2, "EUR")].billed_cost, rows[(D1, VM2, "EUR")].effective_cost) == (0, 4)
    reservation = rows[(D1, RESERVATION, "EUR")]
    assert (reservation.billed_cost, reservation.effective_cost) == (300.0, 0.0)
    support = rows[(D1, f"{SUB}/Support", "EUR")]
    assert (support.billed_cost, support.service, support.resource_name) == (5.0, "Support", "")
    assert batch.lines_read == 2 * 6  # each query: 5 groups on D1 and 1 on D2
    assert {c.json()["type"] for c in queries(fake)} == {"ActualCost", "AmortizedCost"}


def test_every_next_link_is_followed_with_the_same_body(fake: FakeCostManagement) -> None:
    fake.records += [
        UsageRecord(D1 + dt.timedelta(days=n % 3), f"{RG}/x/y/r-{n}", actual_cost=float(n))
        for n in range(7)
    ]
    rows = source(fake).fetch(D1, D3).rows

    assert len(rows) == 7
    assert sum(r.billed_cost for r in rows) == sum(range(7))
    calls = queries(fake)
    assert len(calls) == 2 * 4  # 7 rows at 2 a page, per query type
    follow_ups = [c for c in calls if c.param("$skiptoken")]
    assert len(follow_ups) == 2 * 3
    firsts = {c.json()["type"]: c.json() for c in calls if not c.param("$skiptoken")}
    assert all(c.json() == firsts[c.json()["type"]] for c in follow_ups)


def test_the_period_is_inclusive_and_sent_as_a_custom_time_period(
    fake: FakeCostManagement,
) -> None:
    fake.records += [
        UsageRecord(D1 - dt.timedelta(days=1), VM1, actual_cost=1.0),
        UsageRecord(D1, VM1, actual_cost=2.0),
        UsageRecord(D3, VM1, actual_cost=4.0),
        UsageRecord(D3 + dt.timedelta(days=1), VM1, actual_cost=8.0),
    ]
    rows = source(fake).fetch(D1, D3).rows

    assert [(r.day, r.billed_cost) for r in rows] == [(D1, 2.0), (D3, 4.0)]
    body = queries(fake)[0].json()
    assert body["timeframe"] == "Custom"
    assert body["timePeriod"]["from"].startswith("2024-05-01T00:00:00")
    assert body["timePeriod"]["to"].startswith("2024-05-03T23:59:59")
    assert body["dataset"]["granularity"] == "Daily"


def test_currencies_stay_separate(fake: FakeCostManagement) -> None:
    fake.records += [
        UsageRecord(D1, VM1, actual_cost=3.0, currency="EUR"),
        UsageRecord(D1, VM1, actual_cost=5.0, currency="USD"),
    ]
    rows = by_key(source(fake).fetch(D1, D1).rows)
    assert {k: r.billed_cost for k, r in rows.items()} == {
        (D1, VM1, "EUR"): 3.0,
        (D1, VM1, "USD"): 5.0,
    }


def test_no_bounds_means_the_last_30_days_to_today(fake: FakeCostManagement) -> None:
    fake.records += [
        UsageRecord(D3, VM1, actual_cost=1.0),
        UsageRecord(D3 - dt.timedelta(days=30), VM1, actual_cost=2.0),
    ]
    rows = source(fake, today=lambda: D3).fetch().rows

    assert [(r.day, r.billed_cost) for r in rows] == [(D3, 1.0)]
    period = queries(fake)[0].json()["timePeriod"]
    assert period["from"].startswith("2024-04-04") and period["to"].startswith("2024-05-03")


def test_a_period_over_a_year_is_split_into_windows_the_api_accepts(
    fake: FakeCostManagement,
) -> None:
    fake.records += [
        UsageRecord(dt.date(2023, 1, 1), VM1, actual_cost=1.0),
        UsageRecord(dt.date(2024, 6, 30), VM1, actual_cost=2.0),
    ]
    rows = source(fake).fetch(dt.date(2023, 1, 1), dt.date(2024, 6, 30)).rows

    assert [r.billed_cost for r in rows] == [1.0, 2.0]
    assert len(queries(fake)) == 4  # two windows, two cost types


def test_the_fake_rejects_what_the_service_rejects(fake: FakeCostManagement) -> None:
    bad = QueryDefinition(
        type="ActualCost",
        timeframe="Custom",
        time_period=QueryTimePeriod(
            from_property=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            to=dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
        ),
        dataset=QueryDataset(
            granularity="Daily",
            aggregation={"c": QueryAggregation(name="Cost", function="Sum")},
            grouping=[QueryGrouping(type="Dimension", name="Owner")],
        ),
    )
    with CostManagementClient(NoToken(), base_url=fake.url, **client_options()) as client:
        with pytest.raises(HttpResponseError, match="Invalid dimension name 'Owner'"):
            client.query.usage(SCOPE, bad)


# --- errors ------------------------------------------------------------------------------


def test_a_missing_authorization_header_is_an_auth_error(fake: FakeCostManagement) -> None:
    with pytest.raises(ProviderAuthError, match="az-prod.*401 AuthenticationFailed"):
        source(fake, client_options=client_options(header={})).fetch(D1, D1)


def test_forbidden_is_an_auth_error(fake: FakeCostManagement) -> None:
    fake.fail_next(
        arm_error(
            403,
            "AuthorizationFailed",
            "The client does not have "
            "authorization to perform action 'Microsoft.CostManagement/query'.",
        )
    )
    with pytest.raises(ProviderAuthError, match="query.usage ActualCost.*403 AuthorizationFailed"):
        source(fake).fetch(D1, D1)


def test_persistent_throttling_ends_as_throttled_after_the_sdk_retries(
    fake: FakeCostManagement,
) -> None:
    fake.fail_next(throttled(retry_after=1), times=None)
    with pytest.raises(ProviderThrottled, match="az-prod.*429.*retry after 1 s"):
        source(fake).fetch(D1, D1)
    assert len(queries(fake)) == 2  # the first try and retry_total=1 retry


def test_a_short_throttle_is_absorbed_by_the_sdk_retry(fake: FakeCostManagement) -> None:
    fake.records.append(UsageRecord(D1, VM1, actual_cost=3.0))
    fake.fail_next(throttled(retry_after=0))
    rows = source(fake).fetch(D1, D1).rows
    assert [r.billed_cost for r in rows] == [3.0]


def test_errors_on_a_next_link_page_are_translated_too(fake: FakeCostManagement) -> None:
    fake.records += [UsageRecord(D1, f"{RG}/x/y/r-{n}", actual_cost=1.0) for n in range(3)]

    def on_next_page(call: Call) -> bool:
        return bool(call.param("$skiptoken"))

    fake.fail_next(throttled(retry_after=0), times=None, when=on_next_page)
    with pytest.raises(ProviderThrottled, match="429"):
        source(fake).fetch(D1, D1)
    fake.clear_failures()
    fake.fail_next(
        arm_error(401, "ExpiredAuthenticationToken", "The token expired."), when=on_next_page
    )
    with pytest.raises(ProviderAuthError, match="401 ExpiredAuthenticationToken"):
        source(fake).fetch(D1, D1)


def test_server_errors_are_provider_errors(fake: FakeCostManagement) -> None:
    fake.fail_next(arm_error(500, "InternalServerError", "Something went wrong."), times=None)
    with pytest.raises(ProviderError, match="500 InternalServerError") as info:
        source(fake).fetch(D1, D1)
    assert type(info.value) is ProviderError
    assert "\n" not in str(info.value)


# --- wiring ------------------------------------------------------------------------------


def test_without_azure_identity_the_default_credential_is_a_config_error(
    fake: FakeCostManagement, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # import fails as if missing
    built = build_source(
        AzureAccount(provider="azure", name="az", scope=SCOPE, endpoint_url=fake.url)
    )
    assert isinstance(built, AzureSource) and isinstance(built, CostSource)
    with pytest.raises(ConfigError, match="azure-identity"):
        built.fetch(D1, D1)
    assert fake.calls == []
