"""Prometheus metrics of the process, served on ``GET /metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

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
