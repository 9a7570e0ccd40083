"""The digest rollups stay equal to cost_daily through every way costs and owners change."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, text
from sqlmodel import Session, col, select

from bot import digests
from bot.config import Config, Match, Rule, Team
from bot.pipeline import reassign_owners, store_batch
from bot.records import DailyCost
from providers.base import CostBatch
from storage import costs, resources, rollup
from storage.models import CostScopeDaily, Resource, ResourceRecentCost
from tests.pg import ON_POSTGRES

D0 = date(2026, 9, 1)
NOW = datetime(2026, 9, 15, 6, tzinfo=UTC)
CONFIG = Config(
    teams={"platform": Team(default_owner="alice@example.com"), "web": Team()},
    rules=[Rule(name="web-frontends", match=Match(name_prefix="fe-"), team="web")],
)


def _row(day: int, rid: str, cost: float, *, service: str = "EC2", currency: str = "USD",
         owner: str | None = None, account: str = "111") -> DailyCost:
    tags = {"owner": owner} if owner else {}
    return DailyCost(day=D0 + timedelta(days=day), resource_id=rid, provider="AWS",
                     billing_account_id=account, sub_account_id=account, service=service,
                     currency=currency, billed_cost=cost, effective_cost=cost * 0.9,
                     list_cost=cost * 1.1, resource_name=rid, tags=tags)


def _rows() -> list[DailyCost]:
    rows = []
    for d in range(14):
        rows.append(_row(d, "db-1", 10.0 + d, owner="bob@example.com", service="RDS"))
        rows.append(_row(d, "fe-1", 3.0, service="EC2"))
        rows.append(_row(d, "orphan", 1.5, service="S3"))
        rows.append(_row(d, "eu-1", 2.0, currency="EUR", owner="carol@example.com"))
    return rows


def _rollup(session: Session, metric: str = "EffectiveCost") -> dict[tuple, float]:
    found: dict[tuple, float] = defaultdict(float)
    for day, rows in rollup.scope_days(
        session, start=D0, end=D0 + timedelta(days=30), metric=metric
    ):
        for team, owner, service, currency, cost in rows:
            found[("team", team, service, day, currency)] += cost
            found[("owner", owner, service, day, currency)] += cost
    return {key: round(cost, 6) for key, cost in found.items()}


def _live(session: Session, metric: str = "EffectiveCost") -> dict[tuple, float]:
    found: dict[tuple, float] = {}
    for dim in ("team", "owner"):
        for key, service, day, currency, cost in costs.grouped(
            session, by=[dim, "service", "day"], start=D0, end=D0 + timedelta(days=30),
            metric=metric,
        ):
            when = day if isinstance(day, date) else date.fromisoformat(str(day))
            found[(dim, key, service, when, currency)] = round(cost, 6)
    return found


def _ingest(session: Session, rows: list[DailyCost]) -> None:
    store_batch(session, CostBatch(source="test", rows=rows), config=CONFIG, now=NOW)
    session.commit()


def test_rollup_matches_the_daily_costs_after_an_ingest(session: Session) -> None:
    _ingest(session, _rows())
    for metric in ("EffectiveCost", "BilledCost", "ListCost"):
        assert _rollup(session, metric) == _live(session, metric)
    got = _rollup(session)
    assert got[("team", "web", "EC2", D0, "USD")] == 2.7  # fe-1 by rule, no owner
    assert got[("owner", "unowned", "S3", D0, "USD")] == 1.35  # the orphan stays visible
    assert got[("owner", "carol@example.com", "EC2", D0, "EUR")] == 1.8  # currencies apart


def test_late_data_and_new_resources_move_the_rollup(session: Session) -> None:
    _ingest(session, _rows())
    # the last three days arrive again, changed, with a new resource tagged to alice
    late = [_row(d, "db-1", 20.0, owner="bob@example.com", service="RDS") for d in (11, 12, 13)]
    late += [_row(d, "new-1", 4.0, owner="alice@example.com") for d in (11, 12, 13)]
    _ingest(session, late)
    assert _rollup(session) == _live(session)
    got = _rollup(session)
    assert got[("owner", "bob@example.com", "RDS", D0 + timedelta(days=12), "USD")] == 18.0
    assert got[("owner", "alice@example.com", "EC2", D0 + timedelta(days=12), "USD")] == 3.6
    # days 11..13 of fe-1/orphan/eu-1 were not in the late file: their billing account's
    # period was replaced, so they are gone from both
    assert ("team", "web", "EC2", D0 + timedelta(days=12), "USD") not in got


def test_an_owner_tag_in_late_data_moves_the_resources_other_days(session: Session) -> None:
    _ingest(session, _rows())
    # owners are resolved before the costs are replaced: days outside the late period move
    # with the resource, days inside are recomputed with the costs
    _ingest(session, [_row(d, "fe-1", 5.0, owner="alice@example.com") for d in (12, 13)])
    assert _rollup(session) == _live(session)
    got = _rollup(session)
    assert got[("owner", "alice@example.com", "EC2", D0, "USD")] == 2.7
    assert got[("owner", "alice@example.com", "EC2", D0 + timedelta(days=13), "USD")] == 4.5
    assert not any(k[:3] == ("owner", "unowned", "EC2") for k in got)


def test_a_manual_reassignment_moves_every_day_of_the_resource(session: Session) -> None:
    _ingest(session, _rows())
    resources.set_override(session, resource_id="orphan", owner="dave@example.com",
                           team="platform", set_by="admin@example.com", now=NOW)
    reassign_owners(session, config=CONFIG)
    session.commit()
    assert _rollup(session) == _live(session)
    got = _rollup(session)
    assert got[("owner", "dave@example.com", "S3", D0, "USD")] == 1.35
    assert not any(k[:3] == ("owner", "unowned", "S3") for k in got)


def test_no_rollup_row_survives_its_costs(session: Session) -> None:
    _ingest(session, _rows())
    # the same period again with only one resource left in it
    _ingest(session, [_row(d, "db-1", 1.0, owner="bob@example.com", service="RDS")
                      for d in range(14)])
    rows = session.exec(select(CostScopeDaily)).all()
    assert {(r.team, r.owner, r.service) for r in rows} == {
        ("unowned", "bob@example.com", "RDS")}  # fmt: skip
    assert len(rows) == 14 and _rollup(session) == _live(session)


def test_owners_are_mapped_for_unflushed_resources_and_loaded_ones_see_them(
    session: Session,
) -> None:
    _ingest(session, _rows())
    loaded = session.get(Resource, "orphan")
    assert loaded is not None and loaded.owner_source == "unowned"
    # a manual owner, then a resource added through the ORM and not flushed yet
    resources.set_override(session, resource_id="orphan", owner="dave@example.com",
                           team="platform", set_by="admin@example.com", now=NOW)
    session.add(Resource(resource_id="fe-2", provider="AWS", name="fe-2", first_seen=D0,
                         last_seen=D0))  # fmt: skip
    assert reassign_owners(session, config=CONFIG) == 2
    added = session.get(Resource, "fe-2")
    assert added is not None and added.team == "web"  # by the fe- rule
    assert (loaded.owner, loaded.team) == ("dave@example.com", "platform")


def _statements(session: Session, refresh: Callable[[], None],
                prefix: str = "INSERT INTO cost_scope_daily") -> list[str]:
    """The SQL starting with ``prefix`` that ``refresh`` sends."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith(prefix):
            sent.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        refresh()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sent


def test_a_long_span_is_recomputed_in_table_order_a_short_one_through_the_day_index(
    session: Session,
) -> None:
    _ingest(session, _rows())  # 14 days
    whole = _statements(session, lambda: rollup.refresh_days(
        session, start=D0, end=D0 + timedelta(days=13)))  # fmt: skip
    assert _rollup(session) == _live(session)
    last_days = _statements(session, lambda: rollup.refresh_days(
        session, start=D0 + timedelta(days=11), end=D0 + timedelta(days=13)))  # fmt: skip
    assert _rollup(session) == _live(session)
    everything = _statements(session, lambda: rollup.rebuild(session))
    assert _rollup(session) == _live(session)
    hinted = ["FROM cost_daily NOT INDEXED " in sql for sql in (*whole, *last_days, *everything)]
    # SQLite alone takes the hint; PostgreSQL plans from its statistics
    assert hinted == ([False] * 3 if ON_POSTGRES else [True, False, True])


def _planner_rows(session: Session) -> float:
    """What PostgreSQL's statistics say cost_daily holds (as this transaction sees them)."""
    return float(session.execute(
        text("SELECT reltuples FROM pg_class WHERE relname = 'cost_daily'")).scalar_one())


def test_a_long_span_refreshes_postgresqls_statistics_first_a_short_one_does_not(
    session: Session,
) -> None:
    _ingest(session, _rows())  # 14 days
    whole = _statements(session, lambda: rollup.refresh_days(
        session, start=D0, end=D0 + timedelta(days=13)), prefix="ANALYZE")  # fmt: skip
    if ON_POSTGRES:
        assert _planner_rows(session) == len(_rows())
    last_days = _statements(session, lambda: rollup.refresh_days(
        session, start=D0 + timedelta(days=11), end=D0 + timedelta(days=13)),
        prefix="ANALYZE")  # fmt: skip
    everything = _statements(session, lambda: rollup.rebuild(session), prefix="ANALYZE")
    assert _rollup(session) == _live(session)
    assert (whole, last_days, everything) == (
        (["ANALYZE cost_daily"], [], ["ANALYZE cost_daily"]) if ON_POSTGRES else ([], [], []))


@pytest.mark.skipif(not ON_POSTGRES, reason="ANALYZE and its lock are PostgreSQL's")
def test_the_rollup_goes_on_without_fresh_statistics_while_another_analyze_holds_the_table(
    session: Session,
) -> None:
    _ingest(session, _rows())
    before = session.execute(text("SELECT current_setting('lock_timeout')")).scalar_one()
    with session.get_bind().connect() as other:  # another ingest, or autovacuum, analyzing
        other.execute(text("LOCK TABLE cost_daily IN SHARE UPDATE EXCLUSIVE MODE"))
        started = time.monotonic()
        rollup.refresh_days(session, start=D0, end=D0 + timedelta(days=13))
        waited = time.monotonic() - started
        assert _rollup(session) == _live(session)
        other.rollback()
    session.commit()
    assert waited < 5  # not until the other transaction ended
    assert session.execute(text("SELECT current_setting('lock_timeout')")).scalar_one() == before


def test_recent_snapshot_is_for_the_day_before_the_ingest_and_dropped_when_stale(
    session: Session,
) -> None:
    _ingest(session, _rows())
    yesterday = NOW.date() - timedelta(days=1)  # day 13
    snap = {(r, c): (round(w, 6), round(b, 6))
            for r, c, w, b in rollup.recent(session, as_of=yesterday, metric="BilledCost") or []}
    # db-1 costs 10 + d: days 7..13 this week, 0..6 the week before
    assert snap[("db-1", "USD")] == (sum(10.0 + d for d in range(7, 14)),
                                     sum(10.0 + d for d in range(7)))
    assert snap[("eu-1", "EUR")] == (14.0, 14.0)
    assert rollup.recent(session, as_of=yesterday - timedelta(days=1), metric="BilledCost") is None
    # replacing a day inside its window drops it; a reader then goes back to cost_daily
    costs.replace_costs(session, rows=[_row(13, "db-1", 99.0, owner="bob@example.com")])
    assert rollup.recent(session, as_of=yesterday, metric="BilledCost") is None


def _scope_rows() -> list[DailyCost]:
    """Eight web resources with ties, one that cost nothing this week, one in EUR; more than
    the five an answer shows."""
    rows = _rows()
    for n, cost in enumerate((5.0, 7.0, 7.0, 2.0, 9.0, 1.0, 7.0, 3.0)):
        rows += [_row(d, f"fe-{n + 2}", cost, owner="dan@example.com") for d in range(14)]
    rows += [_row(d, "fe-old", 50.0, owner="dan@example.com") for d in range(6)]  # before only
    rows += [_row(d, "fe-eur", 4.0, currency="EUR", owner="dan@example.com") for d in range(14)]
    return rows


def test_top_resources_of_a_scope_come_from_the_snapshot_as_from_the_daily_costs(
    session: Session,
) -> None:
    _ingest(session, _scope_rows())
    yesterday = NOW.date() - timedelta(days=1)
    week = [costs.cost_filter(team="web"), costs.cost_filter(owner="dan@example.com"),
            costs.cost_filter(owner="bob@example.com")]
    for (dim, key), where in zip((("team", "web"), ("owner", "dan@example.com"),
                                  ("owner", "bob@example.com")), week, strict=True):
        for metric in ("EffectiveCost", "BilledCost", "ListCost"):
            live = costs.totals(session, start=yesterday - timedelta(days=6), end=yesterday,
                                group_by="resource", metric=metric, where=where)
            snap = rollup.scope_top_resources(session, dim=dim, key=key, as_of=yesterday,
                                              metric=metric, largest=5)
            assert snap is not None
            assert [(r, c, round(v, 6)) for r, c, v in snap] == [
                (t.key, t.currency, round(t.cost, 6)) for t in live[:5]]
    web = rollup.scope_top_resources(session, dim="team", key="web", as_of=yesterday,
                                     metric="BilledCost", largest=5) or []
    # largest first, ties by resource; fe-old cost nothing in these 7 days
    assert [r for r, _, _ in web] == ["fe-6", "fe-3", "fe-4", "fe-8", "fe-2"]
    assert "fe-old" not in {r for r, _, _ in rollup.scope_top_resources(
        session, dim="team", key="web", as_of=yesterday, metric="BilledCost", largest=50) or []}
    # a snapshot for another day answers nothing: the caller reads cost_daily
    assert rollup.scope_top_resources(session, dim="team", key="web",
                                      as_of=yesterday - timedelta(days=1),
                                      metric="BilledCost", largest=5) is None


def test_the_largest_groups_are_the_head_of_the_full_list(session: Session) -> None:
    _ingest(session, _scope_rows())
    start, end = D0, D0 + timedelta(days=13)
    for group_by in ("resource", "service", "owner", "account"):
        full = costs.totals(session, start=start, end=end, group_by=group_by)
        for n in (1, 3, 5, 100):
            assert costs.totals(session, start=start, end=end, group_by=group_by,
                                largest=n) == full[:n]


def _movers(built: list[digests.Built]) -> dict[str, list[tuple[str, str, float, float]]]:
    return {b.digest.scope: [(m.dimension, m.name, round(m.change.current, 6),
                              round(m.change.before, 6)) for m in b.digest.movers]
            for b in built}


def _rounded(value: Any) -> Any:
    """``value`` with every float in it (in dataclasses, lists, dicts) rounded to 6 places."""
    if is_dataclass(value) and not isinstance(value, type):
        return _rounded(asdict(value))
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return round(value, 6) if isinstance(value, float) else value


def test_digest_movers_from_the_snapshot_equal_those_from_the_daily_costs(
    session: Session,
) -> None:
    _ingest(session, _scope_rows())
    from_snapshot = digests.load_all(session, CONFIG, today=NOW.date(), now=NOW)
    session.execute(delete(ResourceRecentCost))  # readers go back to cost_daily
    from_daily = digests.load_all(session, CONFIG, today=NOW.date(), now=NOW)
    assert _movers(from_snapshot) == _movers(from_daily)
    # equal to the micro-unit: PostgreSQL may sum the same costs in another order in each
    assert _rounded([b.digest for b in from_snapshot]) == _rounded([b.digest for b in from_daily])
    dan = _movers(from_snapshot)["owner:dan@example.com"]
    # fe-old cost 50 a day on days 0..5 only (effective = 0.9 x billed): the biggest change
    assert dan[0] == ("resource", "fe-old", 0.0, 270.0)
    bob = dict(((d, n), (c, b)) for d, n, c, b in _movers(from_snapshot)["owner:bob@example.com"])
    # db-1 costs 10 + d: days 7..13 this week, 0..6 the week before
    assert bob[("resource", "db-1")] == (round(0.9 * sum(range(17, 24)), 6),
                                         round(0.9 * sum(range(10, 17)), 6))


def test_one_owners_digest_read_alone_is_the_one_built_with_everyone_elses(
    session: Session,
) -> None:
    # dan owns web's fe-* (one in EUR) and a resource outside web: two teams, two currencies
    _ingest(session, _scope_rows() + [_row(d, "api-dan", 6.0 + d, owner="dan@example.com",
                                           service="Lambda") for d in range(14)])
    for snapshot in (True, False):
        if not snapshot:
            session.execute(delete(ResourceRecentCost))  # readers go back to cost_daily
        every = {b.digest.scope: b for b in digests.load_all(session, CONFIG, today=NOW.date(),
                                                              now=NOW)}
        owners = [scope.split(":", 1)[1] for scope in every if scope.startswith("owner:")]
        assert {"bob@example.com", "carol@example.com", "dan@example.com"} <= set(owners)
        for owner in owners:
            alone = digests.digest_for(session, config=CONFIG, owner=owner, now=NOW)
            assert alone is not None and (alone.owner, alone.team) == (owner, None)
            assert _rounded(alone.digest) == _rounded(every[f"owner:{owner}"].digest)
            assert _rounded(alone.chart) == _rounded(every[f"owner:{owner}"].chart)
        assert digests.digest_for(session, config=CONFIG, owner="nobody@example.com",
                                  now=NOW) is None


def test_recent_cost_rows_name_unset_scopes_unowned(session: Session) -> None:
    _ingest(session, _rows())
    session.execute(delete(Resource).where(col(Resource.resource_id) == "eu-1"))
    yesterday = NOW.date() - timedelta(days=1)
    for snapshot in (True, False):
        if not snapshot:
            session.execute(delete(ResourceRecentCost))
        rows = {tuple(r[:6]): (round(r[6], 6), round(r[7], 6))
                for r in rollup.recent_by_resource(session, as_of=yesterday,
                                                   metric="BilledCost")}
        assert rows == {
            ("unowned", "bob@example.com", "USD", "RDS", "111", "db-1"): (
                sum(10.0 + d for d in range(7, 14)), sum(10.0 + d for d in range(7))),
            ("web", "unowned", "USD", "EC2", "111", "fe-1"): (21.0, 21.0),
            ("unowned", "unowned", "USD", "S3", "111", "orphan"): (10.5, 10.5),
            # its resource row is gone: the cost stays, with no service or account
            ("unowned", "unowned", "EUR", "", "", "eu-1"): (14.0, 14.0),
        }, snapshot
