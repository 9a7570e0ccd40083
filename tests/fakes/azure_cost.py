"""A fake Azure Cost Management query API that computes its answers from usage records.

    POST /{scope}/providers/Microsoft.CostManagement/query?api-version=...[&$skiptoken=...]

The body is a QueryDefinition (``type``, ``timeframe``, ``timePeriod``, ``dataset`` with
``granularity``, ``aggregation``, ``grouping``). The fake filters its records by scope and
period (days inclusive), picks the cost of the requested type (ActualCost: as billed;
AmortizedCost: reservation/savings-plan purchases spread over their usage), sums per UsageDate
and grouping, and answers ``{id, name, type, properties: {nextLink, columns, rows}}`` with
columns ordered as the service orders them: aggregations, UsageDate (Number, yyyymmdd),
groupings, Currency. At most ``page_rows`` rows a page; ``nextLink`` points back at the fake
with a ``$skiptoken``, and the client POSTs the same body there.

Enforced like the service: bearer token (401 ``AuthenticationFailed``), ``api-version``,
known types, dimensions and aggregation columns, at most 2 aggregations, a Custom period of at
most one year. The documented "up to 2 group by clauses" is not enforced: the live service
accepts more (tools such as azure-cost-cli group by nine dimensions).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.fakes.http import Call, FakeServer, Reply, json_reply

DIMENSIONS = {
    "ResourceId": "resource_id",
    "ResourceType": "resource_type",
    "ResourceLocation": "location",
    "ResourceGroup": "resource_group",
    "ResourceGroupName": "resource_group",
    "ServiceName": "service_name",
    "MeterCategory": "service_name",
    "Meter": "meter",
    "ChargeType": "charge_type",
    "SubscriptionId": "subscription_id",
    "SubscriptionName": "subscription_name",
}
COST_COLUMNS = {"Cost", "CostUSD", "PreTaxCost", "PreTaxCostUSD"}
TYPES = {"Usage", "ActualCost", "AmortizedCost"}
_PATH = re.compile(r"^/(?P<scope>.+)/providers/Microsoft\.CostManagement/query$", re.IGNORECASE)


@dataclass(frozen=True)
class UsageRecord:
    """One meter's usage of one resource on one day, with its actual and amortized cost."""

    day: dt.date
    resource_id: str
    actual_cost: float
    amortized_cost: float | None = None  # None: same as actual
    service_name: str = "Virtual Machines"
    resource_type: str = "microsoft.compute/virtualmachines"
    location: str = "westeurope"
    subscription_id: str = "00000000-0000-0000-0000-000000000001"
    subscription_name: str = "prod"
    resource_group: str = "rg-app"
    meter: str = "D2s v3"
    charge_type: str = "Usage"
    currency: str = "EUR"

    def cost(self, kind: str) -> float:
        if kind == "AmortizedCost" and self.amortized_cost is not None:
            return self.amortized_cost
        return self.actual_cost


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    """ARM's error envelope ``{"error": {"code", "message"}}``."""
    return json_reply({"error": {"code": code, "message": message}}, status, headers)


def throttled(retry_after: int | float = 1) -> Reply:
    """Cost Management's 429, with the standard and the service's own retry-after headers."""
    seconds = str(retry_after)
    return arm_error(
        429,
        "429",
        "Too many requests. Please retry.",
        {
            "Retry-After": seconds,
            "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after": seconds,
        },
    )


class BadQuery(Exception):
    """A QueryDefinition the service would refuse with 400."""


class FakeCostManagement(FakeServer):
    """Cost Management ``query.usage`` over in-memory usage records."""

    def __init__(
        self,
        records: Iterable[UsageRecord] = (),
        *,
        page_rows: int = 1000,
        tokens: Iterable[str] = ("test",),
    ) -> None:
        super().__init__()
        self.records = list(records)
        self.page_rows = page_rows
        self.tokens = set(tokens)

    def not_found_body(self, call: Call) -> Any:
        return {
            "error": {
                "code": "InvalidResourceType",
                "message": f"The resource type could not be found: {call.path}",
            }
        }

    def handle(self, call: Call) -> Reply:
        match = _PATH.match(call.path)
        if call.method != "POST" or match is None:
            return self.not_found(call)
        auth = call.headers.get("authorization")
        if auth is None:
            return arm_error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
        if auth.removeprefix("Bearer ") not in self.tokens:
            return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if not call.param("api-version"):
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        scope = match.group("scope")
        body = call.json() or {}
        try:
            columns, rows = self._query(scope, body)
            start = _skip(call.param("$skiptoken"), body)
        except BadQuery as exc:
            return arm_error(400, "BadRequest", f"Invalid query definition: {exc}")
        page = rows[start : start + self.page_rows]
        next_link = None
        if start + self.page_rows < len(rows):
            token = _token(start + self.page_rows, body)
            next_link = (
                f"{self.url}/{scope}/providers/Microsoft.CostManagement/query"
                f"?api-version={call.param('api-version')}&$skiptoken={token}"
            )
        name = str(uuid.uuid4())
        return json_reply(
            {
                "id": f"{scope}/providers/Microsoft.CostManagement/query/{name}",
                "name": name,
                "type": "Microsoft.CostManagement/query",
                "location": None,
                "sku": None,
                "eTag": None,
                "properties": {"nextLink": next_link, "columns": columns, "rows": page},
            }
        )

    def _query(self, scope: str, body: dict[str, Any]) -> tuple[list[dict[str, str]], list[Any]]:
        kind = body.get("type")
        if kind not in TYPES:
            raise BadQuery(f"type must be one of {sorted(TYPES)}, not {kind!r}")
        first, last = _period(body)
        dataset = body.get("dataset") or {}
        daily = {"Daily": True, "None": False, None: False}.get(dataset.get("granularity"))
        if daily is None:
            raise BadQuery(f"granularity {dataset.get('granularity')!r} is not supported")
        aggregation = dataset.get("aggregation") or {}
        if len(aggregation) > 2:
            raise BadQuery("a query can have up to 2 aggregation clauses")
        for alias, spec in aggregation.items():
            if spec.get("name") not in COST_COLUMNS or spec.get("function") != "Sum":
                raise BadQuery(f"aggregation {alias!r}: unsupported column or function {spec}")
        dims = [g.get("name") for g in dataset.get("grouping") or []]
        for group, name in zip(dataset.get("grouping") or [], dims, strict=True):
            if group.get("type") != "Dimension" or name not in DIMENSIONS:
                raise BadQuery(f"Invalid dimension name '{name}' in grouping")
        sums: dict[tuple[Any, ...], float] = defaultdict(float)
        for record in self.records:
            if _in_scope(record, scope) and first <= record.day <= last:
                day = int(record.day.strftime("%Y%m%d")) if daily else None
                dim_values = tuple(getattr(record, DIMENSIONS[d]) for d in dims)
                sums[(day, *dim_values, record.currency)] += record.cost(kind)
        columns = [{"name": spec["name"], "type": "Number"} for spec in aggregation.values()]
        columns += [{"name": "UsageDate", "type": "Number"}] if daily else []
        columns += [{"name": d, "type": "String"} for d in dims]
        columns += [{"name": "Currency", "type": "String"}]
        rows = []
        for key in sorted(sums, key=lambda k: tuple("" if v is None else str(v) for v in k)):
            day, *rest = key
            costs = [round(sums[key], 10)] * len(aggregation)
            rows.append(costs + ([day] if daily else []) + rest)
        return columns, rows


def _period(body: dict[str, Any]) -> tuple[dt.date, dt.date]:
    if body.get("timeframe") != "Custom":
        raise BadQuery("this fake answers timeframe 'Custom' only")
    period = body.get("timePeriod") or {}
    try:
        first = dt.datetime.fromisoformat(period["from"]).date()
        last = dt.datetime.fromisoformat(period["to"]).date()
    except (KeyError, TypeError, ValueError) as exc:
        raise BadQuery("timePeriod needs 'from' and 'to' dates for timeframe Custom") from exc
    if last < first:
        raise BadQuery("timePeriod 'to' is before 'from'")
    if (last - first).days > 365:
        raise BadQuery("The time period for pulling the data cannot exceed 1 year(s)")
    return first, last


def _in_scope(record: UsageRecord, scope: str) -> bool:
    scope = scope.lower().strip("/")
    if scope.startswith("providers/microsoft.billing/"):
        return True  # a billing scope covers every subscription the fake holds
    place = f"subscriptions/{record.subscription_id}/resourcegroups/{record.resource_group}/"
    return place.lower().startswith(scope + "/")


def _fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _token(offset: int, body: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(f"{offset}:{_fingerprint(body)}".encode()).decode()


def _skip(token: str | None, body: dict[str, Any]) -> int:
    if not token:
        return 0
    try:
        offset, _, fingerprint = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if fingerprint == _fingerprint(body):
            return int(offset)
    except ValueError:
        pass
    raise BadQuery("the $skiptoken does not belong to this query")
