"""GCP billing fakes: the billing export's rows, and the Cloud Billing REST API (v1).

``EXPORT_COLUMNS`` is the "detailed usage cost" export table
(``gcp_billing_export_resource_v1_<ACCOUNT>``) as DuckDB DDL for ``FakeBigQuery.create_table``;
``export_line`` builds one row of it.

``FakeCloudBilling`` implements what ``CloudBillingClient(transport="rest")`` calls for discovery:

    GET /v1/billingAccounts                       billingAccounts.list
    GET /v1/billingAccounts/{id}/projects         billingAccounts.projects.list

Both page with ``pageSize``/``pageToken`` (at most ``max_page_size`` items a page; proto3 JSON
omits an empty ``nextPageToken``). A request without a known bearer token gets 401; errors use
Google's JSON error shape (``error.code/message/status`` plus an ``ErrorInfo`` detail).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.http import Call, FakeServer, Reply, json_reply

EXPORT_COLUMNS = """
    billing_account_id VARCHAR,
    service STRUCT(id VARCHAR, description VARCHAR),
    sku STRUCT(id VARCHAR, description VARCHAR),
    usage_start_time TIMESTAMP,
    usage_end_time TIMESTAMP,
    project STRUCT(id VARCHAR, number VARCHAR, name VARCHAR,
                   labels STRUCT(key VARCHAR, value VARCHAR)[], ancestry_numbers VARCHAR),
    labels STRUCT(key VARCHAR, value VARCHAR)[],
    system_labels STRUCT(key VARCHAR, value VARCHAR)[],
    location STRUCT(location VARCHAR, country VARCHAR, region VARCHAR, zone VARCHAR),
    resource STRUCT(name VARCHAR, global_name VARCHAR),
    export_time TIMESTAMP,
    cost DOUBLE,
    currency VARCHAR,
    currency_conversion_rate DOUBLE,
    usage STRUCT(amount DOUBLE, unit VARCHAR, amount_in_pricing_units DOUBLE, pricing_unit VARCHAR),
    credits STRUCT(name VARCHAR, amount DOUBLE, full_name VARCHAR, id VARCHAR, type VARCHAR)[],
    invoice STRUCT(month VARCHAR),
    cost_type VARCHAR,
    cost_at_list DOUBLE
"""


def export_line(
    *,
    start: dt.datetime,
    cost: float,
    service: str = "Compute Engine",
    sku: str = "N1 Predefined Instance Core running in Americas",
    project: str | None = "proj-a",
    project_name: str | None = None,
    resource: str | None = None,
    global_name: str | None = None,
    region: str | None = "us-central1",
    currency: str = "USD",
    credits: Iterable[tuple[str, float]] = (),
    labels: Mapping[str, str] | None = None,
    cost_at_list: float | None = None,
    billing_account: str = "012345-6789AB-CDEF01",
) -> dict[str, Any]:
    """One export row (one SKU for one hour) with the export's nested shape."""
    return {
        "billing_account_id": billing_account,
        "service": {"id": service[:4].upper(), "description": service},
        "sku": {"id": sku[:6].upper(), "description": sku},
        "usage_start_time": start.astimezone(dt.UTC).replace(tzinfo=None),
        "usage_end_time": (start + dt.timedelta(hours=1)).astimezone(dt.UTC).replace(tzinfo=None),
        "project": None
        if project is None
        else {
            "id": project,
            "number": "1000",
            "name": project_name or project,
            "labels": [],
            "ancestry_numbers": "/1/",
        },
        "labels": [{"key": k, "value": v} for k, v in (labels or {}).items()],
        "system_labels": [],
        "location": None
        if region is None
        else {"location": region, "country": "US", "region": region, "zone": None},
        "resource": {"name": resource, "global_name": global_name},
        "export_time": (start + dt.timedelta(hours=6)).astimezone(dt.UTC).replace(tzinfo=None),
        "cost": cost,
        "currency": currency,
        "currency_conversion_rate": 1.0,
        "usage": {
            "amount": 3600.0,
            "unit": "seconds",
            "amount_in_pricing_units": 1.0,
            "pricing_unit": "hour",
        },
        "credits": [
            {"name": name, "amount": amount, "full_name": name, "id": name, "type": "PROMOTION"}
            for name, amount in credits
        ],
        "invoice": {"month": start.strftime("%Y%m")},
        "cost_type": "regular",
        "cost_at_list": cost_at_list,
    }


# the google.rpc.Code name Google's REST APIs give with each HTTP status
GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def errors_reply(status: int, message: str, reason: str, *, domain: str = "global",
                 with_status: bool = True) -> Reply:
    """The older JSON error of Google's REST APIs (BigQuery, Compute Engine): ``errors[].reason``
    drives the clients' retries; ``status``, the google.rpc.Code name, where the API gives it."""
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}],
    }
    if with_status:
        error["status"] = GOOGLE_STATUS.get(status, "UNKNOWN")
    return json_reply({"error": error}, status)


def google_error(
    status: int,
    message: str,
    *,
    reason: str | None = None,
    domain: str = "cloudbilling.googleapis.com",
) -> Reply:
    """The JSON error body of Google's REST APIs (``google.rpc.Status`` with ErrorInfo)."""
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": GOOGLE_STATUS.get(status, "UNKNOWN"),
    }
    if reason:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": domain,
                "metadata": {},
            }
        ]
    return json_reply({"error": error}, status)


@dataclass
class FakeAccount:
    """A billing account held by the fake, and the ids of the projects it pays for."""

    account_id: str
    display_name: str
    open: bool = True
    currency: str = "USD"
    projects: list[str] = field(default_factory=list)
    disabled: set[str] = field(default_factory=set)  # projects linked with billing disabled


_ACCOUNTS = re.compile(r"^/v1/billingAccounts$")
_PROJECTS = re.compile(r"^/v1/billingAccounts/([^/]+)/projects$")


class FakeCloudBilling(FakeServer):
    """Cloud Billing's list endpoints over in-memory accounts."""

    def __init__(
        self,
        accounts: Iterable[FakeAccount] = (),
        *,
        max_page_size: int = 50,
        tokens: Iterable[str] = ("test-token",),
    ) -> None:
        super().__init__()
        self.accounts = {a.account_id: a for a in accounts}
        self.max_page_size = max_page_size
        self.tokens = set(tokens)

    def not_found_body(self, call: Call) -> Any:
        return google_error(404, f"The requested URL {call.path} was not found.").body

    def handle(self, call: Call) -> Reply:
        if call.headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
            return google_error(
                401,
                "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential.",
                reason="CREDENTIALS_MISSING",
                domain="googleapis.com",
            )
        if call.method == "GET" and _ACCOUNTS.match(call.path):
            items = [self._account(a) for a in self.accounts.values()]
            return self._page(call, "billingAccounts", items)
        projects = _PROJECTS.match(call.path)
        if call.method == "GET" and projects:
            account = self.accounts.get(projects.group(1))
            if account is None:
                return google_error(
                    403, "The caller does not have permission", reason="IAM_PERMISSION_DENIED"
                )
            items = [self._project(account, p) for p in account.projects]
            return self._page(call, "projectBillingInfo", items)
        return self.not_found(call)

    def _page(self, call: Call, key: str, items: Sequence[dict[str, Any]]) -> Reply:
        size = min(
            int(call.param("pageSize") or self.max_page_size) or self.max_page_size,
            self.max_page_size,
        )
        token = call.param("pageToken") or "0"
        if not token.isdigit() or int(token) > len(items):
            return google_error(400, "Invalid page token.")
        start = int(token)
        body: dict[str, Any] = {key: list(items[start : start + size])}
        if start + size < len(items):
            body["nextPageToken"] = str(start + size)
        return json_reply(body)

    @staticmethod
    def _account(account: FakeAccount) -> dict[str, Any]:
        return {
            "name": f"billingAccounts/{account.account_id}",
            "open": account.open,
            "displayName": account.display_name,
            "masterBillingAccount": "",
            "parent": "",
            "currencyCode": account.currency,
        }

    @staticmethod
    def _project(account: FakeAccount, project: str) -> dict[str, Any]:
        return {
            "name": f"projects/{project}/billingInfo",
            "projectId": project,
            "billingAccountName": f"billingAccounts/{account.account_id}",
            "billingEnabled": project not in account.disabled,
        }
