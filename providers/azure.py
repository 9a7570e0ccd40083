"""Azure: daily costs per resource from Cost Management's query API (``query.usage``).

Two queries per period, with the same daily grouping by resource, type, location, service and
subscription: ``ActualCost`` gives BilledCost (as invoiced: a reservation purchase lands on
its purchase day) and ``AmortizedCost`` gives EffectiveCost (purchases spread over the usage
they cover). Rows of both are joined per (resource, UTC day, currency); a key present in only
one query has 0 for the other metric. The query API has no list price, so ListCost is
BilledCost. It does not return resource tags per resource and day either, so tags stay empty
here (an inventory supplies them).

A resource billed under two services on one day (a VM and its bandwidth) becomes one row with
the service, type and location of its larger part, since storage keeps one row per resource,
day and currency. Usage without a resource id (marketplace, support) is keyed
``<subscription>/<service>``. ``billing_account_id`` is the configured scope.

Paging: ``query.usage`` returns one page and a ``nextLink``; the SDK (5.0) has no pager for
it, so the next pages are POSTed, with the same body, to the ``nextLink`` through the client's
own pipeline (``send_request``: same auth, retry and logging policies). Periods longer than
the service's one-year limit are split.

Errors: 401/403 -> ProviderAuthError, 429 (after the SDK's own Retry-After retries) ->
ProviderThrottled, anything else -> ProviderError; messages name the account and the query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    map_error,
)
from azure.core.rest import HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat
from azure.mgmt.costmanagement import CostManagementClient
from azure.mgmt.costmanagement.models import (
    QueryAggregation,
    QueryDataset,
    QueryDefinition,
    QueryGrouping,
    QueryResult,
    QueryTimePeriod,
)

from bot.config import AzureAccount
from bot.errors import ConfigError, ProviderAuthError, ProviderError, ProviderThrottled
from bot.records import DailyCost
from providers.base import CostBatch

PROVIDER = "Microsoft"
GROUPING = (
    "ResourceId",
    "ResourceType",
    "ResourceLocation",
    "ServiceName",
    "SubscriptionId",
    "SubscriptionName",
)
COST_COLUMNS = ("Cost", "PreTaxCost")
DEFAULT_DAYS = 30  # when fetch() gets no start
MAX_WINDOW_DAYS = 365  # "The time period for pulling the data cannot exceed 1 year(s)"
# The SDK retries 429s up to 10 times, honouring Retry-After (often 60 s): bound an ingest.
DEFAULT_CLIENT_OPTIONS: Mapping[str, Any] = {"retry_total": 3}
_RETRY_AFTER_HEADERS = (
    "Retry-After",
    "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after",
    "x-ms-ratelimit-microsoft.costmanagement-clienttype-retry-after",
)


@dataclass
class _Row:
    """One (resource, day, currency) being joined from the two queries."""

    billed: float = 0.0
    effective: float = 0.0
    largest: float | None = None
    dims: Mapping[str, str] | None = None

    def add(self, kind: str, cost: float, dims: Mapping[str, str]) -> None:
        if kind == "ActualCost":
            self.billed += cost
        else:
            self.effective += cost
        if self.largest is None or cost > self.largest:
            self.largest, self.dims = cost, dims


class AzureSource:
    """Daily costs of one Cost Management scope (subscription, resource group, billing...)."""

    def __init__(
        self,
        *,
        name: str,
        scope: str,
        endpoint_url: str | None = None,
        credential: TokenCredential | None = None,
        client_options: Mapping[str, Any] | None = None,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.name = name
        self.scope = scope.strip("/")
        self.endpoint_url = endpoint_url
        self.credential = credential  # None: azure-identity's DefaultAzureCredential
        self.client_options = {**DEFAULT_CLIENT_OPTIONS, **(client_options or {})}
        self.today = today or (lambda: datetime.now(UTC).date())

    def fetch(self, start: date | None = None, end: date | None = None) -> CostBatch:
        """Daily rows for usage days in [start, end]; end defaults to today, start to 30 days."""
        end = end or self.today()
        start = start or end - timedelta(days=DEFAULT_DAYS - 1)
        joined: dict[tuple[date, str, str], _Row] = {}
        lines = 0
        with self._errors("client"), self._client() as client:
            for first, last in windows(start, end):
                for kind in ("ActualCost", "AmortizedCost"):
                    with self._errors(f"query.usage {kind} {first}..{last}"):
                        for values in self._query(client, kind, first, last):
                            lines += 1
                            day, resource, currency, cost, dims = _parse(values)
                            key = (day, resource, currency)
                            joined.setdefault(key, _Row()).add(kind, cost, dims)
        rows = [self._daily(key, row) for key, row in sorted(joined.items())]
        return CostBatch(source=f"azure:{self.name}", rows=rows, lines_read=lines)

    # --- helpers ------------------------------------------------------------------------

    @contextmanager
    def _client(self) -> Iterator[CostManagementClient]:
        credential = self.credential or default_credential(self.name)
        extra: dict[str, Any] = {"base_url": self.endpoint_url} if self.endpoint_url else {}
        with CostManagementClient(credential, **extra, **self.client_options) as client:
            yield client

    def _query(
        self, client: CostManagementClient, kind: str, first: date, last: date
    ) -> Iterator[dict[str, Any]]:
        definition = QueryDefinition(
            type=kind,
            timeframe="Custom",
            time_period=QueryTimePeriod(
                from_property=datetime.combine(first, time.min, UTC),
                to=datetime.combine(last, time(23, 59, 59), UTC),
            ),
            dataset=QueryDataset(
                granularity="Daily",
                aggregation={"totalCost": QueryAggregation(name="Cost", function="Sum")},
                grouping=[QueryGrouping(type="Dimension", name=name) for name in GROUPING],
            ),
        )
        result: QueryResult | None = client.query.usage(self.scope, definition)
        while result is not None:
            names = [column.name for column in result.columns or []]
            missing = {"UsageDate", "Currency"} - set(names)
            if missing or not set(COST_COLUMNS) & set(names):
                raise ProviderError(
                    f"azure account {self.name!r}: Cost Management query.usage {kind} answered "
                    f"without a cost, UsageDate or Currency column (columns: {', '.join(names)})"
                )
            for values in result.rows or []:
                yield dict(zip(names, values, strict=True))
            if not result.next_link:
                return
            result = _next_page(client, result.next_link, definition)

    def _daily(self, key: tuple[date, str, str], row: _Row) -> DailyCost:
        day, resource_id, currency = key
        dims = row.dims or {}
        return DailyCost(
            day=day,
            resource_id=resource_id,
            provider=PROVIDER,
            billing_account_id=self.scope,
            sub_account_id=dims.get("SubscriptionId", ""),
            sub_account_name=dims.get("SubscriptionName", ""),
            service=dims.get("ServiceName", ""),
            currency=currency,
            billed_cost=row.billed,
            effective_cost=row.effective,
            list_cost=row.billed,
            region=dims.get("ResourceLocation", ""),
            resource_name=resource_id.rsplit("/", 1)[-1] if "/providers/" in resource_id else "",
            resource_type=dims.get("ResourceType", ""),
        )

    @contextmanager
    def _errors(self, call: str) -> Iterator[None]:
        try:
            yield
        except AzureError as exc:
            raise translate_error(exc, account=self.name, call=call) from exc


def windows(start: date, end: date) -> Iterator[tuple[date, date]]:
    """[start, end] cut into inclusive windows the query API accepts (at most one year)."""
    first = start
    while first <= end:
        last = min(end, first + timedelta(days=MAX_WINDOW_DAYS - 1))
        yield first, last
        first = last + timedelta(days=1)


def _next_page(client: CostManagementClient, link: str, definition: QueryDefinition) -> QueryResult:
    response = client.send_request(HttpRequest("POST", link, json=definition.as_dict()))
    if response.status_code != 200:
        # As the generated query.usage does, so both pages fail the same way.
        map_error(
            response.status_code,
            response,
            {401: ClientAuthenticationError, 404: ResourceNotFoundError},
        )
        raise HttpResponseError(response=response, error_format=ARMErrorFormat)
    return QueryResult(response.json())


def _parse(values: Mapping[str, Any]) -> tuple[date, str, str, float, dict[str, str]]:
    cost = next(values[c] for c in COST_COLUMNS if c in values)
    usage = str(values["UsageDate"])
    day = (
        date(int(usage[:4]), int(usage[4:6]), int(usage[6:8]))
        if usage.isdigit()
        else (date.fromisoformat(usage[:10]))
    )
    dims = {name: str(values.get(name) or "") for name in GROUPING}
    resource = dims["ResourceId"] or f"{dims['SubscriptionId']}/{dims['ServiceName']}"
    return day, resource, str(values["Currency"]), float(cost), dims


def translate_error(
    exc: AzureError, *, account: str, call: str, service: str = "Cost Management"
) -> ProviderError:
    """The finops error for an azure-core exception raised by ``service``'s ``call``."""
    where = f"azure account {account!r}: {service} {call}"
    status = getattr(exc, "status_code", None)
    odata = getattr(exc, "error", None)
    code = getattr(odata, "code", None) or type(exc).__name__
    message = getattr(odata, "message", None) or exc.message or str(exc)
    detail = " ".join(f"{status or ''} {code}: {message}".split())[:300]
    if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
        return ProviderAuthError(f"{where} refused the credentials ({detail})")
    if status == 429:
        response = getattr(exc, "response", None)
        headers = response.headers if response is not None else {}
        wait = next((headers[h] for h in _RETRY_AFTER_HEADERS if h in headers), None)
        later = f"; retry after {wait} s" if wait else ""
        return ProviderThrottled(f"{where} throttled ({detail}{later})")
    return ProviderError(f"{where} failed ({detail})")


def default_credential(account: str) -> TokenCredential:
    """azure-identity's DefaultAzureCredential (imported only when no credential is given)."""
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:
        raise ConfigError(
            f"azure account {account!r}: no credential; install azure-identity "
            "(DefaultAzureCredential: environment, workload or managed identity, Azure CLI)"
        ) from exc
    credential: TokenCredential = DefaultAzureCredential()
    return credential


def from_account(account: AzureAccount, **options: Any) -> AzureSource:
    """The source for one configured Azure scope; ``options`` go to :class:`AzureSource`."""
    return AzureSource(
        name=account.name, scope=account.scope, endpoint_url=account.endpoint_url, **options
    )
