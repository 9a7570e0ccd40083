"""Block Kit builders: snapshot-tested, and each output within Slack's limits.

Regenerate the snapshots after an intended change with ``UPDATE_SNAPSHOTS=1 pytest tests/unit``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from bot import blocks, blocks_envs, blocks_notify
from bot.costs import Change, CostReport, Line, Period
from bot.digest import DigestInputs, build
from tests.fakes.slack_blocks import message_errors, view_errors
from tests.unit.snapshot import check_message, check_snapshot

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _digest() -> blocks_notify.Digest:
    days = {date(2026, 11, d): 100.0 + d for d in range(1, 27)}
    days |= {date(2026, 10, d): 90.0 for d in range(20, 32)}
    inputs = DigestInputs(
        scope="team:data", title="Team data", today=date(2026, 11, 27), currency="USD",
        daily=days,
        current={"service": {"BigQuery": 900.0, "GKE": 300.0}, "resource": {"events": 900.0}},
        before={"service": {"BigQuery": 400.0, "GKE": 310.0}, "resource": {"events": 400.0}},
        budget=3000.0, anomalies=["team data on Nov 23: $250.92 vs $139.32 expected"],
        unowned=["etl", "events"],
        expiring=[("carol-experiment", datetime(2026, 11, 29, 23, 59, tzinfo=UTC), "i-0carol"),
                  ("perf-test-bob", datetime(2026, 11, 25, 23, 59, tzinfo=UTC), "i-0bob")],
        saved_mtd=42.5,
    )
    return build(inputs, now=NOW)


def _alert(status: str = "open") -> blocks_notify.AlertView:
    return blocks_notify.AlertView(
        anomaly_id=7, series="team:data", day=date(2026, 11, 23), expected=139.32,
        actual=250.92, impact=111.6, impact_pct=80.1, score=15.7, currency="USD",
        causes=[("service BigQuery", 111.0, 0.99), ("resource events", 111.0, 0.99),
                ("service Cloud Storage", -0.3, -0.0027)],
        label="team data", status=status,
        feedback_by="bob@example.com" if status != "open" else None)


CASES: dict[str, Any] = {
    "help": lambda: blocks.help_message("/finops"),
    "help_error": lambda: blocks.help_message("/finops", error="I don't know `frobnicate`."),
    "error": lambda: blocks.error_message("staging-2 is not booked", command="/finops"),
    "costs": lambda: blocks.costs_message(CostReport(
        "team data", Period(date(2026, 11, 20), date(2026, 11, 26)),
        {"USD": Change(1285.81, 924.5), "EUR": Change(10.0, 0.0)},
        [Line("BigQuery", "USD", 700.0), Line("GKE", "USD", 500.0)],
        [Line("events", "USD", 700.0)])),
    "costs_resource": lambda: blocks.costs_message(CostReport(
        "resource etl", Period(date(2026, 11, 21), date(2026, 11, 27)),
        {"USD": Change(541.65, 522.31)}, [Line("Kubernetes Engine", "USD", 541.65)],
        [Line("etl", "USD", 541.65)])),
    "costs_empty": lambda: blocks.costs_message(CostReport(
        "me", Period(date(2026, 11, 20), date(2026, 11, 26)), {}, [], [])),
    "resources": lambda: blocks.resources_message(
        "Team web", [("web-frontend", "carol@example.com", "web", "tag:owner", "$12.50"),
                     ("web-old", "carol@example.com", "web", "team-default", "")],
        total=30, costs_to=date(2026, 11, 27)),
    "digest": lambda: blocks_notify.digest_message(_digest()),
    "anomaly_open": lambda: blocks_notify.anomaly_message(_alert()),
    "anomaly_acknowledged": lambda: blocks_notify.anomaly_message(_alert("acknowledged")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_message_snapshots(name: str) -> None:
    check_message(name, CASES[name]())


def test_home_view_snapshot_and_limits() -> None:
    view = blocks_notify.home_view(blocks_notify.HomeView(
        email="bob@example.com",
        resources=[("events", 1200.0, "USD"), ("raw-events", 410.0, "USD"),
                   ("eu-archive", 35.5, "EUR")],
        resource_count=3, team="data", team_mtd={"USD": 3826.41, "EUR": 35.5},
        team_budget=4500.0,
        anomalies=["team data on Nov 23: $250.92 vs $139.32 expected"],
        expiring=[("perf-test-bob", datetime(2026, 11, 28, 0, 0, tzinfo=UTC), "i-0bob")],
        expired=[("old-restore", datetime(2026, 11, 24, 23, 59, tzinfo=UTC), "vol-0old")],
        bookings=[("`staging-1` until Mon Nov 30 10:00 UTC (2d 1h left) · OPS-12",
                   {"type": "actions", "elements": [
                       {"type": "button", "text": {"type": "plain_text", "text": "Release"},
                        "action_id": "env_release", "value": "staging-1"}]})],
        waiting=["waiting for `qa`: 2nd in line"],
        environments=blocks_envs.env_rows([blocks_envs.EnvView("staging-2"),
                                           blocks_envs.EnvView("qa", only_for="platform")])))
    assert view_errors(view, kind="home") == []
    check_snapshot("home", view)


def test_long_lists_stay_within_limits() -> None:
    rows = [(f"resource-{i:04d}-" + "x" * 80, "owner@example.com", "team", "rule:r",
             "1,234,567.89 EUR + $1,234,567.89") for i in range(500)]
    _, built = blocks.resources_message("Everything", rows, total=500)
    assert message_errors(built) == []
    lines = [f"line {i} " + "y" * 200 for i in range(300)]
    _, built = blocks.list_message("Many", lines)
    assert message_errors(built) == []


def test_a_digest_without_a_budget_shows_the_forecast_alone() -> None:
    # an owner's digest has no budget, nor has a team without one set
    import dataclasses

    _, built = blocks_notify.digest_message(dataclasses.replace(_digest(), budget=None))
    fields = [f["text"] for b in built if b["type"] == "section" for f in b.get("fields", [])]
    forecast = next(f for f in fields if f.startswith("*Month-end forecast*"))
    assert "budget" not in forecast and forecast.startswith("*Month-end forecast*\n$")
