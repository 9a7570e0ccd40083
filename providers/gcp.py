"""Google Cloud: costs from the BigQuery billing export, accounts and projects from Cloud Billing.

Costs. Cloud Billing's API has no spend; spend is in the "detailed usage cost" export table
(``gcp_billing_export_resource_v1_<ACCOUNT>``). One parameterised query aggregates it in
BigQuery to one row per (billing account, resource, currency, UTC day of usage_start_time):

* BilledCost = SUM(cost); EffectiveCost = BilledCost + SUM(credits[].amount) (credits are
  negative); ListCost = SUM(cost_at_list), falling back to cost where the export has no list
  price.
* The resource id is ``resource.global_name`` (unique across projects), else
  ``<project>/<resource.name>``, else ``<project>/<service>`` for usage with no resource
  (support, tax, some network charges). The storage key is one row per resource per day and
  currency, so a resource billed under two services on one day (a VM's egress is "Networking")
  gets the service and region of its larger cost, and the latest labels become its tags.
* The day is the UTC date; invoices and the console use US Pacific time, so daily totals near
  midnight differ from the console's by design.

Discovery lists billing accounts and their projects through ``CloudBillingClient`` over REST.

Errors become ``ProviderAuthError`` (401/403), ``ProviderThrottled`` (429, or BigQuery's 403 with
reason ``rateLimitExceeded``/``quotaExceeded``) or ``ProviderError``, naming account and call.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import Credentials
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY
from google.cloud.billing_v1 import CloudBillingClient

from bot.config import BIGQUERY_TABLE, GcpAccount
from bot.errors import ConfigError, ProviderAuthError, ProviderError, ProviderThrottled
from bot.records import DailyCost
from providers.base import CostBatch

PROVIDER = "Google Cloud"
THROTTLE_REASONS = frozenset(
    {"rateLimitExceeded", "quotaExceeded", "jobRateLimitExceeded", "RATE_LIMIT_EXCEEDED"}
)
# BigQuery's own default retries run for 10 minutes (jobs: 40); an ingest should fail sooner.
QUERY_RETRY = DEFAULT_RETRY.with_timeout(120.0)
JOB_RETRY = DEFAULT_JOB_RETRY.with_timeout(300.0)


# GoogleSQL that DuckDB also runs (the test fake executes it). Identifiers cannot be query
# parameters, so the table path is formatted in after validation against BIGQUERY_TABLE.
COST_QUERY = """
SELECT
  CAST(usage_start_time AS DATE) AS day,
  billing_account_id,
  currency,
  COALESCE(resource.global_name,
           project.id || '/' || resource.name,
           project.id || '/' || service.description,
           billing_account_id || '/' || service.description) AS resource_id,
  ANY_VALUE(resource.name) AS resource_name,
  ANY_VALUE(resource.global_name) AS global_name,
  ANY_VALUE(project.id) AS project_id,
  MAX_BY(project.name, usage_start_time) AS project_name,
  MAX_BY(service.description, cost) AS service,
  MAX_BY(COALESCE(location.region, location.location), cost) AS region,
  MAX_BY(labels, usage_start_time) AS labels,
  SUM(cost) AS billed_cost,
  SUM(cost) + SUM(COALESCE((SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0))
    AS effective_cost,
  SUM(COALESCE(cost_at_list, cost)) AS list_cost,
  COUNT(*) AS line_items
FROM `{table}`
WHERE (@start_day IS NULL OR CAST(usage_start_time AS DATE) >= @start_day)
  AND (@end_day IS NULL OR CAST(usage_start_time AS DATE) <= @end_day)
GROUP BY day, billing_account_id, currency, resource_id
ORDER BY day, resource_id, currency
"""


@dataclass(frozen=True, slots=True)
class GcpProject:
    """A project as Cloud Billing sees it: which account pays, and whether billing is on."""

    project_id: str
    billing_account_id: str
    billing_enabled: bool


@dataclass(frozen=True, slots=True)
class GcpBillingAccount:
    """A billing account visible to the credentials, with the projects linked to it."""

    account_id: str
    display_name: str
    open: bool
    projects: tuple[GcpProject, ...] = ()


class GcpSource:
    """Daily costs from a BigQuery billing export table; accounts/projects from Cloud Billing."""

    def __init__(
        self,
        *,
        name: str,
        table: str,
        project: str | None = None,
        billing_account: str | None = None,
        endpoint_url: str | None = None,
        billing_endpoint_url: str | None = None,
        credentials: Credentials | None = None,
        retry: Retry | None = QUERY_RETRY,
        job_retry: Retry | None = JOB_RETRY,
        page_size: int | None = None,
    ) -> None:
        match = BIGQUERY_TABLE.match(table)
        if match is None:
            raise ConfigError(
                f"gcp account {name!r}: bigquery_table {table!r} is not project.dataset.table"
            )
        self.name = name
        self.table = table
        self.project = project or match["project"]
        self.billing_account = billing_account
        self.endpoint_url = endpoint_url
        self.billing_endpoint_url = billing_endpoint_url
        self.credentials = credentials  # None: Application Default Credentials
        self.retry = retry
        self.job_retry = job_retry
        self.page_size = page_size

    def fetch(self, start: date | None = None, end: date | None = None) -> CostBatch:
        """Daily rows for usage days in [start, end] (None: no bound on that side)."""
        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("start_day", "DATE", start),
                bigquery.ScalarQueryParameter("end_day", "DATE", end),
            ],
            labels={"application": "finops-bot"},
        )
        # None disables a retry (documented), though the annotations only admit a Retry.
        retries: dict[str, Any] = {"retry": self.retry, "job_retry": self.job_retry}
        rows: list[DailyCost] = []
        lines = 0
        with self._errors("BigQuery jobs.query"):
            client = bigquery.Client(
                project=self.project,
                credentials=self.credentials,
                client_options=_options(self.endpoint_url),
            )
            try:
                result = client.query_and_wait(
                    COST_QUERY.format(table=self.table),
                    job_config=config,
                    page_size=self.page_size,
                    **retries,
                )
                for row in result:  # later pages are fetched while iterating
                    rows.append(self._daily(row))
                    lines += int(row["line_items"])
            finally:
                client.close()
        return CostBatch(source=f"gcp:{self.name}", rows=rows, lines_read=lines)

    def discover(self) -> list[GcpBillingAccount]:
        """Billing accounts visible to the credentials (only the configured one, if set)."""
        found: list[GcpBillingAccount] = []
        with self._errors("Cloud Billing client"), self._billing_client() as client:
            with self._errors("Cloud Billing list_billing_accounts"):
                accounts = list(client.list_billing_accounts())
            for account in accounts:
                account_id = account.name.removeprefix("billingAccounts/")
                if self.billing_account and account_id != self.billing_account:
                    continue
                with self._errors(f"Cloud Billing list_project_billing_info({account_id})"):
                    infos = list(client.list_project_billing_info(name=account.name))
                projects = tuple(
                    GcpProject(
                        project_id=info.project_id,
                        billing_account_id=info.billing_account_name.removeprefix(
                            "billingAccounts/"
                        ),
                        billing_enabled=info.billing_enabled,
                    )
                    for info in infos
                )
                found.append(
                    GcpBillingAccount(account_id, account.display_name, account.open, projects)
                )
        if self.billing_account and not found:
            raise ProviderError(
                f"gcp account {self.name!r}: billing account {self.billing_account} is not "
                "visible to these credentials (Cloud Billing list_billing_accounts)"
            )
        return found

    # --- helpers ------------------------------------------------------------------------

    @contextmanager
    def _billing_client(self) -> Iterator[CloudBillingClient]:
        options: dict[str, Any] = {}
        if self.billing_endpoint_url:
            options["api_endpoint"] = self.billing_endpoint_url
        client = CloudBillingClient(
            credentials=self.credentials, transport="rest", client_options=options
        )
        with client:  # closes the transport's HTTP session
            yield client

    def _daily(self, row: Any) -> DailyCost:
        labels = row["labels"] or []
        return DailyCost(
            day=row["day"],
            resource_id=row["resource_id"],
            provider=PROVIDER,
            billing_account_id=row["billing_account_id"] or self.billing_account or "",
            sub_account_id=row["project_id"] or "",
            sub_account_name=row["project_name"] or "",
            service=row["service"] or "",
            currency=row["currency"],
            billed_cost=float(row["billed_cost"]),
            effective_cost=float(row["effective_cost"]),
            list_cost=float(row["list_cost"]),
            region=row["region"] or "",
            resource_name=row["resource_name"] or "",
            resource_type=resource_type(row["global_name"]),
            tags={label["key"]: label["value"] or "" for label in labels},
        )

    @contextmanager
    def _errors(self, call: str) -> Iterator[None]:
        try:
            yield
        except (
            api_exceptions.GoogleAPIError,
            auth_exceptions.GoogleAuthError,
            requests.RequestException,
        ) as exc:
            raise translate_error(exc, account=self.name, call=call) from exc


def resource_type(global_name: str | None) -> str:
    """The service host and collection of a resource's global name.

    ``//compute.googleapis.com/projects/p/zones/z/instances/1`` gives
    ``compute.googleapis.com/instances``.
    """
    if not global_name or not global_name.startswith("//"):
        return ""
    host, *segments = global_name[2:].split("/")
    if len(segments) < 2:
        return host
    return f"{host}/{segments[-2]}"


def translate_error(exc: BaseException, *, account: str, call: str) -> ProviderError:
    """The finops error for a google-api-core / google-auth / requests failure."""
    if isinstance(exc, api_exceptions.RetryError) and exc.cause is not None:
        return translate_error(exc.cause, account=account, call=call)
    where = f"gcp account {account!r}: {call}"
    if isinstance(exc, auth_exceptions.GoogleAuthError):
        return ProviderAuthError(f"{where}: credentials failed ({_one_line(str(exc))})")
    if not isinstance(exc, api_exceptions.GoogleAPICallError):
        return ProviderError(f"{where}: {type(exc).__name__}: {_one_line(str(exc))}")
    reasons = _reasons(exc)
    detail = f"{exc.code} {'/'.join(sorted(reasons)) or type(exc).__name__}: {_message(exc)}"
    if exc.code == 429 or reasons & THROTTLE_REASONS:
        return ProviderThrottled(f"{where} throttled ({detail})")
    if exc.code in (401, 403):
        return ProviderAuthError(f"{where} refused the credentials ({detail})")
    return ProviderError(f"{where} failed ({detail})")


def _reasons(exc: api_exceptions.GoogleAPICallError) -> set[str]:
    reasons = {e["reason"] for e in exc.errors if isinstance(e, dict) and e.get("reason")}
    if exc.reason:
        reasons.add(exc.reason)
    return reasons


def _message(exc: api_exceptions.GoogleAPICallError) -> str:
    # api-core prefixes REST errors with "<METHOD> <url>: "; the URL adds nothing here.
    return _one_line(re.sub(r"^[A-Z]+ \S+: ", "", exc.message or ""))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _options(endpoint_url: str | None) -> ClientOptions | None:
    return ClientOptions(api_endpoint=endpoint_url) if endpoint_url else None


def from_account(account: GcpAccount, **options: Any) -> GcpSource:
    """The source for one configured GCP account; ``options`` go to :class:`GcpSource`."""
    return GcpSource(
        name=account.name,
        table=account.bigquery_table,
        project=account.project,
        billing_account=account.billing_account,
        endpoint_url=account.endpoint_url,
        billing_endpoint_url=account.billing_endpoint_url,
        **options,
    )
