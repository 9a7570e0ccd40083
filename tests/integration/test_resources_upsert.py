"""Resources created and refreshed from cost rows, on the real database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from bot.records import DailyCost
from storage import resources
from storage.db import update_rows
from storage.models import Resource

D0 = date(2026, 9, 1)


def _row(day: int, resource: str = "i-1", **changes: object) -> DailyCost:
    row = DailyCost(day=D0 + timedelta(days=day), resource_id=resource, provider="AWS",
                    billing_account_id="payer", sub_account_id="111", service="EC2",
                    currency="USD", billed_cost=1.0, effective_cost=1.0, list_cost=1.0,
                    sub_account_name="dev", region="eu-west-1", resource_name="web-1",
                    resource_type="Instance", tags={"team": "web", "env": "dev"})
    return replace(row, **changes)  # type: ignore[arg-type]


def _stored(session: Session, rid: str = "i-1") -> Resource:
    session.expire_all()
    found = session.get(Resource, rid)
    assert found is not None
    return found


def test_new_resources_take_the_latest_days_attributes(session: Session) -> None:
    rows = [_row(2, region="us-east-1", tags={"team": "data"}), _row(0), _row(1, "i-2")]
    assert resources.upsert_from_costs(session, rows=rows) == 2
    session.commit()
    res = _stored(session)
    assert (res.first_seen, res.last_seen) == (D0, D0 + timedelta(days=2))
    assert (res.provider, res.account_id, res.account_name) == ("AWS", "111", "dev")
    assert (res.region, res.service, res.resource_type, res.name) == (
        "us-east-1", "EC2", "Instance", "web-1")
    assert res.tags == '{"team": "data"}'
    assert (res.owner, res.team, res.owner_source, res.state) == (None, None, "unowned", "")
    assert _stored(session, "i-2").first_seen == D0 + timedelta(days=1)


def test_a_later_day_refreshes_an_earlier_one_only_widens_the_span(session: Session) -> None:
    resources.upsert_from_costs(session, rows=[_row(5)])
    session.commit()
    # a later day: new attributes; a missing name and missing tags keep the stored ones
    resources.upsert_from_costs(session, rows=[_row(7, region="us-west-2", resource_name="",
                                                    tags={})])
    session.commit()
    res = _stored(session)
    assert (res.region, res.name, res.tags) == ("us-west-2", "web-1",
                                                '{"env": "dev", "team": "web"}')
    assert (res.first_seen, res.last_seen) == (D0 + timedelta(days=5), D0 + timedelta(days=7))
    # an earlier day (a backfill): only first_seen moves, the attributes stay the latest
    resources.upsert_from_costs(session, rows=[_row(1, region="ap-south-1", tags={"x": "y"})])
    session.commit()
    res = _stored(session)
    assert res.region == "us-west-2" and res.tags == '{"env": "dev", "team": "web"}'
    assert (res.first_seen, res.last_seen) == (D0 + timedelta(days=1), D0 + timedelta(days=7))


def test_owner_and_inventory_facts_survive_a_cost_refresh(session: Session) -> None:
    resources.upsert_from_costs(session, rows=[_row(0)])
    res = _stored(session)
    res.owner, res.team, res.owner_source, res.state = "a@example.com", "web", "tag", "running"
    session.add(res)
    session.commit()
    resources.upsert_from_costs(session, rows=[_row(1, service="Amazon EC2")])
    session.commit()
    res = _stored(session)
    assert res.service == "Amazon EC2"
    assert (res.owner, res.team, res.owner_source, res.state) == (
        "a@example.com", "web", "tag", "running")


def test_a_resource_known_only_from_an_inventory_gets_its_cost_attributes(
    session: Session,
) -> None:
    resources.upsert_from_inventory(session, items=[], today=D0)
    session.add(Resource(resource_id="i-1", provider="AWS", first_seen=D0 + timedelta(days=9),
                         last_seen=D0 + timedelta(days=9), name="from-inventory"))
    session.commit()
    # older cost data, but the stored row has no service yet: the cost row fills it in
    resources.upsert_from_costs(session, rows=[_row(3)])
    session.commit()
    res = _stored(session)
    assert (res.service, res.name, res.region) == ("EC2", "web-1", "eu-west-1")
    assert (res.first_seen, res.last_seen) == (D0 + timedelta(days=3), D0 + timedelta(days=9))


def test_the_same_rows_again_rewrite_no_resource_a_changed_one_rewrites_only_itself(
    session: Session,
) -> None:
    rows = [_row(day, rid) for day in range(3) for rid in ("i-1", "i-2", "i-3")]
    resources.upsert_from_costs(session, rows=rows)
    session.commit()
    before = {rid: _stored(session, rid).model_dump() for rid in ("i-1", "i-2", "i-3")}
    updates: list[Any] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if statement.startswith("UPDATE resource"):
            updates.append(parameters)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert resources.upsert_from_costs(session, rows=rows) == 3  # a re-ingest
        session.commit()
        assert updates == []
        changed = [*rows[:-1], _row(2, "i-3", region="us-west-2")]
        resources.upsert_from_costs(session, rows=changed)
        session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(updates) == 1 and "i-3" in str(updates[0]) and "i-1" not in str(updates[0])
    after = {rid: _stored(session, rid).model_dump() for rid in ("i-1", "i-2", "i-3")}
    assert after["i-3"] == {**before["i-3"], "region": "us-west-2"}
    assert {rid: after[rid] for rid in ("i-1", "i-2")} == {
        rid: before[rid] for rid in ("i-1", "i-2")}


def test_update_rows_sets_the_given_columns_of_the_given_keys_only(session: Session) -> None:
    rows = [_row(0, "i-1"), _row(0, "i-2"), _row(0, "it's-3")]
    resources.upsert_from_costs(session, rows=rows)
    session.commit()
    table = Resource.__table__  # type: ignore[attr-defined]
    update_rows(session, table, "resource_id", ("owner", "team", "first_seen"), [
        ("i-1", "a@example.com", None, D0 - timedelta(days=3)),
        ("it's-3", None, "web", D0 - timedelta(days=1)),
        ("i-404", "nobody@example.com", "web", D0),  # no such key: nothing happens
    ])  # fmt: skip
    update_rows(session, table, "resource_id", ("owner",), [])
    session.commit()
    got = {rid: (r.owner, r.team, r.first_seen, r.name)
           for rid in ("i-1", "i-2", "it's-3") if (r := _stored(session, rid))}  # fmt: skip
    assert got == {
        "i-1": ("a@example.com", None, D0 - timedelta(days=3), "web-1"),
        "i-2": (None, None, D0, "web-1"),
        "it's-3": (None, "web", D0 - timedelta(days=1), "web-1"),
    }
    assert session.get(Resource, "i-404") is None


def test_insert_rows_stores_dates_and_times_as_sqlalchemy_does(session: Session) -> None:
    # insert_rows bypasses SQLAlchemy's statements for speed: it must still convert values as
    # they do, or one column holds two spellings of a time (on SQLite, compared as text)
    from sqlalchemy import text

    from storage.db import insert_rows
    from storage.models import Lifecycle

    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    session.add(Lifecycle(resource_id="by-orm", expires_at=at, next_at=at, updated_at=at))
    session.flush()
    columns = ("resource_id", "expires_at", "source", "action", "warn_before_s", "grace_s",
               "state", "next_at", "outcome", "attempts", "last_error", "version", "updated_at")
    insert_rows(session, Lifecycle.__table__, columns,  # type: ignore[attr-defined]
                [("by-insert-rows", at, "", "notify", 1, 1, "active", at, "", 0, "", 0, at)])
    stored = dict(session.execute(text(
        "SELECT resource_id, CAST(expires_at AS TEXT) || '|' || CAST(next_at AS TEXT) "
        "FROM lifecycle")).all())
    assert stored["by-insert-rows"] == stored["by-orm"]
    session.expire_all()
    assert session.get(Lifecycle, "by-insert-rows").expires_at == at  # type: ignore[union-attr]
