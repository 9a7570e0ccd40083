"""GET /metrics shows what the jobs did: alerts sent, lifecycle steps, power events and the Slack
Web API calls behind them, each counted as it happened (the demo estate, the fake Slack)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from app import build_asgi, build_fleet
from bot.config import load_config
from bot.jobs import run_job
from bot.services import Services
from bot.settings import Settings
from providers.slack import SlackTransport
from tests.fakes.slack import FakeSlack
from tests.scenario.harness import SIGNING_SECRET, Clock, serve

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(base_url: str) -> Samples:
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    assert response.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def _delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """Change of one series; labels not given are summed over."""
    def total(samples: Samples) -> float:
        return sum(v for (n, lbls), v in samples.items()
                   if n == name and labels.items() <= dict(lbls).items())
    return total(after) - total(before)


@pytest.fixture
def fresh(db: Engine, fake_slack: FakeSlack, now: datetime) -> Iterator[tuple[Services, str]]:
    """The demo config on Slack with nothing ingested yet, and the app serving it."""
    settings = Settings(database_url=db.url.render_as_string(hide_password=False),
                        slack_bot_token=fake_slack.token, slack_signing_secret=SIGNING_SECRET,
                        slack_api_url=fake_slack.base_url)
    config = load_config(None)
    services = Services(settings=settings, config=config, engine=db,
                        chat=SlackTransport(fake_slack.token, base_url=fake_slack.base_url,
                                            server_error_backoff=0),
                        clock=Clock(now), fleet=build_fleet(config))
    with serve(build_asgi(services)) as base_url:
        yield services, base_url


def test_metrics_count_alerts_lifecycle_power_and_slack_calls(
    fresh: tuple[Services, str], fake_slack: FakeSlack
) -> None:
    services, base_url = fresh
    before = _scrape(base_url)

    run_job(services, "ingest")  # the scan after it alerts on the demo's anomaly
    alerts = [c for c in fake_slack.calls("chat.postMessage")
              if "Cost anomaly" in str(c.args.get("text"))]
    assert alerts
    lifecycle = run_job(services, "lifecycle")  # perf-test-bob expired: its owner is told
    assert "noticed 1" in lifecycle
    berlin = ZoneInfo("Europe/Berlin")
    day = services.now().astimezone(berlin).date() + timedelta(days=1)
    while day.weekday() > 3:
        day += timedelta(days=1)
    assert isinstance(services.clock, Clock)
    services.clock.now = datetime.combine(day, time(19, 31), berlin)  # staging-1's notice
    assert "notice sent 1" in run_job(services, "power")

    after = _scrape(base_url)
    assert _delta(before, after, "finops_alerts_sent_total") == len(alerts)
    assert _delta(before, after, "finops_alerts_sent_total", kind="team") >= 1
    assert _delta(before, after, "finops_lifecycle_actions_total",
                  action="notify-then-destroy", outcome="noticed") == 1
    assert _delta(before, after, "finops_power_events_total",
                  event="notice", outcome="notice sent") == 1
    posted = len(fake_slack.calls("chat.postMessage"))
    assert _delta(before, after, "finops_provider_calls_total", provider="slack",
                  call="chat.postMessage", outcome="ok") == posted
    assert _delta(before, after, "finops_provider_call_seconds_count", provider="slack",
                  call="chat.postMessage") == posted
    assert _delta(before, after, "finops_provider_calls_total", provider="slack",
                  call="conversations.open", outcome="ok") == len(
        fake_slack.calls("conversations.open"))
