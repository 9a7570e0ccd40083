"""App Home from stored costs: each figure in its own currency, never several summed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session

from bot.config import Config, Team
from bot.home import build_home
from bot.pipeline import store_batch
from bot.records import DailyCost
from providers.base import CostBatch
from storage.models import Lifecycle

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
CONFIG = Config(teams={"data": Team(budget=1000.0, currency="EUR", members=["dan@example.com"])})


def _row(day: date, rid: str, cost: float, currency: str) -> DailyCost:
    return DailyCost(day=day, resource_id=rid, provider="AWS", billing_account_id="111",
                     sub_account_id="111", service="EC2", currency=currency, billed_cost=cost,
                     effective_cost=cost, list_cost=cost, resource_name=rid,
                     tags={"owner": "dan@example.com", "team": "data"})


def _text(view: dict[str, object]) -> str:
    return json.dumps(view, ensure_ascii=False)


def test_costs_in_two_currencies_are_shown_apart(session: Session) -> None:
    days = [NOW.date() - timedelta(days=n) for n in range(1, 6)]  # all in November
    rows = [_row(d, "eu-db", 10.0, "EUR") for d in days]
    rows += [_row(d, "us-web", 3.0, "USD") for d in days]
    rows += [_row(d, "both", c, cur) for d in days for c, cur in ((1.0, "EUR"), (2.0, "USD"))]
    store_batch(session, CostBatch(source="test", rows=rows), config=CONFIG, now=NOW)
    session.commit()
    text = _text(build_home(session, config=CONFIG, email="dan@example.com", now=NOW))
    # each resource in each of its currencies, largest first
    assert "`eu-db`: 50.00 EUR" in text and "`us-web`: $15.00" in text
    assert "`both`: $10.00" in text and "`both`: 5.00 EUR" in text
    assert text.index("eu-db") < text.index("us-web") < text.index("`both`: 5.00 EUR")
    # the team's month in its budget currency, the other currency beside it, not added to it
    assert ("*Team data*: 55.00 EUR month to date of 1,000.00 EUR (and $25.00 in other "
            "currencies)") in text
    assert "80.00" not in text  # 55 EUR + 25 USD is no amount in any currency


def test_a_person_without_costs_sees_their_resources_at_zero(session: Session) -> None:
    text = _text(build_home(session, config=CONFIG, email="dan@example.com", now=NOW))
    assert "_none yet_" in text and "*Team data*: 0.00 EUR month to date of 1,000.00 EUR" in text


def test_ttls_past_their_expiry_show_while_the_resource_is_still_there(session: Session) -> None:
    days = [NOW.date() - timedelta(days=n) for n in range(1, 8)]
    names = ("running", "destroyed", "gone", "deleted", "exempt", "soon", "later")
    rows = [_row(d, name, 1.0, "USD") for d in days for name in names
            if not (name in ("gone", "deleted") and d > NOW.date() - timedelta(days=5))]
    store_batch(session, CostBatch(source="test", rows=rows), config=CONFIG, now=NOW)
    expired = NOW - timedelta(days=3)
    for name, expires_at, state, outcome in (
            ("running", expired, "done", "dry run: would destroy"),  # closed, still costing
            ("destroyed", expired, "done", "destroyed"),
            ("gone", expired, "done", "notified"),  # last seen before it expired
            # seen after it expired, then no more while the others were: deleted since
            ("deleted", NOW - timedelta(days=6), "done", "dry run: would destroy"),
            ("exempt", expired, "exempt", ""),
            ("soon", NOW + timedelta(hours=30), "active", ""),
            ("later", NOW + timedelta(days=5), "active", "")):
        session.add(Lifecycle(resource_id=name, expires_at=expires_at, state=state,
                              outcome=outcome, updated_at=NOW))
    session.commit()
    blocks = build_home(session, config=CONFIG, email="dan@example.com", now=NOW)["blocks"]
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    start = texts.index("*TTLs expiring soon*")
    # each with the Extend 3d button of the TTL warnings
    assert texts[start:] == ["*TTLs expiring soon*", "`soon` at Sat Nov 21 15:00 UTC",
                             "*Past their TTL, still running*",
                             "`running` expired Tue Nov 17 09:00 UTC"]
    buttons = [b["accessory"] for b in blocks if "accessory" in b]
    assert [(b["action_id"], b["value"]) for b in buttons] == [("ttl_extend_3d", "soon"),
                                                             ("ttl_extend_3d", "running")]
