"""Prometheus metrics of the process, served on ``GET /metrics``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram

from bot.errors import ProviderAuthError, ProviderThrottled, ResourceGone

REGISTRY = CollectorRegistry(auto_describe=True)

COMMANDS = Counter("finops_commands_total", "Chat commands answered", ["verb", "outcome"],
                   registry=REGISTRY)
JOBS = Counter("finops_jobs_total", "Scheduled job runs", ["job", "outcome"], registry=REGISTRY)
JOB_SECONDS = Histogram("finops_job_seconds", "Scheduled job duration", ["job"],
                        registry=REGISTRY)
INGESTED_ROWS = Counter("finops_ingested_rows_total", "Daily cost rows written", ["source"],
                        registry=REGISTRY)
HTTP_REQUESTS = Counter("finops_http_requests_total", "HTTP requests", ["path", "status"],
                        registry=REGISTRY)
ALERTS_SENT = Counter("finops_alerts_sent_total",
                      "Anomaly alerts delivered, by the scope they are about (team, owner, ...)",
                      ["kind"], registry=REGISTRY)
LIFECYCLE_ACTIONS = Counter("finops_lifecycle_actions_total",
                            "TTL workflow steps carried out, by the workflow's action and outcome",
                            ["action", "outcome"], registry=REGISTRY)
POWER_EVENTS = Counter("finops_power_events_total",
                       "Power-schedule events carried out per resource, by event and outcome",
                       ["event", "outcome"], registry=REGISTRY)
PROVIDER_CALLS = Counter("finops_provider_calls_total", "Calls to cloud and chat APIs",
                         ["provider", "call", "outcome"], registry=REGISTRY)
PROVIDER_SECONDS = Histogram("finops_provider_call_seconds",
                             "Duration of calls to cloud and chat APIs, retries included",
                             ["provider", "call"], registry=REGISTRY)


def _outcome(exc: BaseException) -> str:
    if isinstance(exc, ResourceGone):
        return "gone"
    if isinstance(exc, ProviderThrottled):
        return "throttled"
    if isinstance(exc, ProviderAuthError):
        return "auth_error"
    return "error"


@contextmanager
def provider_call(provider: str, call: str) -> Iterator[None]:
    """Count one call to an outside API (ok, gone, throttled, auth_error, error) and time it.

    Wrap the whole call, after the provider has translated its SDK's errors: the outcome is
    read from the ``bot.errors`` type that leaves the block.
    """
    started = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        PROVIDER_CALLS.labels(provider=provider, call=call, outcome=_outcome(exc)).inc()
        raise
    else:
        PROVIDER_CALLS.labels(provider=provider, call=call, outcome="ok").inc()
    finally:
        PROVIDER_SECONDS.labels(provider=provider, call=call).observe(
            time.perf_counter() - started)
