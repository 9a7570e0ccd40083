"""Cost repository on the real database: period replacement, totals, currencies."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from bot.records import DailyCost
from providers.focus import FocusFileSource
from storage import costs
from storage.models import CostDaily
from tests.pg import ON_POSTGRES

D0 = date(2026, 9, 1)


def _row(day: int, resource: str, cost: float, *, account: str = "acct", currency: str = "USD",
         service: str = "EC2", provider: str = "AWS") -> DailyCost:
    return DailyCost(day=D0 + timedelta(days=day), resource_id=resource, provider=provider,
                     billing_account_id=account, sub_account_id=account, service=service,
                     currency=currency, billed_cost=cost, effective_cost=cost * 0.9,
                     list_cost=cost * 1.1)


def _count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(CostDaily)).scalar_one())


def test_reingest_replaces_the_period_never_double_counts(session: Session) -> None:
    rows = [_row(d, r, 10.0) for d in range(5) for r in ("a", "b")]
    costs.replace_costs(session, rows=rows)
    session.commit()
    again = costs.replace_costs(session, rows=rows)
    session.commit()
    assert (again.deleted, again.written, again.kept) == (0, 10, 10)  # nothing changed
    assert _count(session) == 10
    total = costs.totals(session, start=D0, end=D0 + timedelta(days=4), group_by="resource",
                         metric="BilledCost")
    assert [(t.key, t.cost) for t in total] == [("a", 50.0), ("b", 50.0)]


def test_late_data_updates_last_days_and_keeps_older(session: Session) -> None:
    costs.replace_costs(session, rows=[_row(d, "a", 10.0) for d in range(5)])
    # late data: only days 3..4 arrive again, with final figures
    costs.replace_costs(session, rows=[_row(d, "a", 12.0) for d in (3, 4)])
    session.commit()
    by_day = costs.totals(session, start=D0, end=D0 + timedelta(days=4), group_by="day",
                          metric="BilledCost")
    assert [t.cost for t in by_day] == [10.0, 10.0, 10.0, 12.0, 12.0]


def _ids_by_day(session: Session) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for day, row_id in session.execute(select(CostDaily.day, CostDaily.id)):
        found.setdefault((day - D0).days, set()).add(row_id)
    return found


def test_only_the_days_that_changed_are_rewritten(session: Session) -> None:
    rows = [_row(d, r, 10.0) for d in range(5) for r in ("a", "b")]
    costs.replace_costs(session, rows=rows)
    session.commit()
    before = _ids_by_day(session)
    # the month-to-date file again: day 3 restated, day 4 lost resource b, the rest the same
    # (in another order)
    again = [r for r in reversed(rows) if not (r.day == D0 + timedelta(days=4) and
                                              r.resource_id == "b")]
    again = [_row(3, r.resource_id, 11.0) if r.day == D0 + timedelta(days=3) else r
             for r in again]
    result = costs.replace_costs(session, rows=again)
    session.commit()
    assert (result.deleted, result.written, result.kept) == (4, 9, 6)
    after = _ids_by_day(session)
    assert [after[d] == before[d] for d in range(5)] == [True, True, True, False, False]
    by_day = costs.totals(session, start=D0, end=D0 + timedelta(days=4), group_by="day",
                          metric="BilledCost")
    assert [t.cost for t in by_day] == [20.0, 20.0, 20.0, 22.0, 10.0]


def test_equal_rows_are_unchanged_however_their_strings_are_shared(session: Session) -> None:
    # A source may hand back one string object for every row of a service, or a new one per
    # row: the same values must be recognised as the same day either way.
    service = "Amazon Elastic Compute Cloud"
    shared = [_row(0, r, 1.0, service=service) for r in ("a", "b", "c")]
    costs.replace_costs(session, rows=shared)
    session.commit()
    copies = [replace(r, service="".join(list(service))) for r in shared]
    assert copies[0].service is not shared[0].service
    result = costs.replace_costs(session, rows=copies)
    session.commit()
    assert (result.deleted, result.kept) == (0, 3)


def test_a_day_the_source_no_longer_has_is_emptied(session: Session) -> None:
    costs.replace_costs(session, rows=[_row(d, "a", 1.0) for d in range(5)])
    session.commit()
    costs.replace_costs(session, rows=[_row(d, "a", 1.0) for d in (0, 1, 3, 4)])
    session.commit()
    assert sorted(_ids_by_day(session)) == [0, 1, 3, 4]


@pytest.mark.parametrize("change", [
    {"resource_id": "c"}, {"currency": "EUR"}, {"sub_account_id": "other"},
    {"service": "S3"}, {"region": "eu-west-1"}, {"resource_name": "renamed"},
    {"resource_type": "Volume"}, {"sub_account_name": "Dev"}, {"billed_cost": 1.0000000001},
    {"effective_cost": 0.0}, {"list_cost": -1.0},
])  # fmt: skip
def test_any_changed_value_rewrites_its_day(session: Session, change: dict[str, Any]) -> None:
    costs.replace_costs(session, rows=[_row(0, "a", 1.0), _row(0, "b", 1.0)])
    session.commit()
    result = costs.replace_costs(session, rows=[replace(_row(0, "a", 1.0), **change),
                                                _row(0, "b", 1.0)])
    session.commit()
    assert (result.deleted, result.kept) == (2, 0)
    stored = session.exec(select(CostDaily).order_by(CostDaily.id)).all()  # in batch order
    assert [getattr(r, name) for r in stored[:1] for name in change] == list(change.values())


def test_other_billing_accounts_are_untouched(session: Session) -> None:
    costs.replace_costs(session, rows=[_row(0, "a", 1.0, account="one")])
    costs.replace_costs(session, rows=[_row(0, "b", 2.0, account="two")])
    session.commit()
    assert _count(session) == 2


def test_currencies_are_kept_apart(session: Session) -> None:
    costs.replace_costs(session, rows=[_row(0, "a", 1.0), _row(0, "a", 5.0, currency="EUR")])
    session.commit()
    totals = costs.totals(session, start=D0, end=D0, group_by="service", metric="BilledCost")
    assert {(t.key, t.currency, t.cost) for t in totals} == {("EC2", "USD", 1.0),
                                                             ("EC2", "EUR", 5.0)}


def test_metric_choice_and_unowned_grouping(session: Session) -> None:
    costs.replace_costs(session, rows=[_row(0, "a", 10.0), _row(0, "b", 20.0, service="S3")])
    session.commit()
    eff = costs.totals(session, start=D0, end=D0, group_by="owner", metric="EffectiveCost")
    assert [(t.key, round(t.cost, 6)) for t in eff] == [("unowned", 27.0)]
    listed = costs.totals(session, start=D0, end=D0, group_by="service", metric="ListCost")
    assert [(t.key, round(t.cost, 6)) for t in listed] == [("S3", 22.0), ("EC2", 11.0)]


def test_date_range(session: Session) -> None:
    assert costs.date_range(session) is None
    costs.replace_costs(session, rows=[_row(2, "a", 1.0), _row(7, "a", 1.0)])
    assert costs.date_range(session) == (D0 + timedelta(days=2), D0 + timedelta(days=7))


@pytest.mark.skipif(not ON_POSTGRES, reason="server-side prepared statements are PostgreSQL's")
def test_a_statement_run_many_times_is_never_prepared_on_the_server(session: Session) -> None:
    # a prepared statement may get a generic plan, chosen without the bound values
    for n in range(10):
        session.exec(select(func.count()).select_from(CostDaily)
                     .where(CostDaily.effective_cost != float(n))).one()
    prepared = session.connection().execute(text("SELECT count(*) FROM pg_prepared_statements"))
    assert prepared.scalar_one() == 0


def test_a_row_twice_in_one_batch_is_the_databases_integrity_error(session: Session) -> None:
    # on PostgreSQL the rows go by COPY: its errors must still be SQLAlchemy's
    costs.replace_costs(session, rows=[_row(0, "a", 1.0)])
    session.commit()
    rows = [_row(d, r, 2.0) for d in range(3) for r in ("a", "b")] + [_row(2, "b", 3.0)]
    with pytest.raises(IntegrityError, match="(?i)unique"):
        costs.replace_costs(session, rows=rows)
    session.rollback()
    assert _count(session) == 1  # the earlier period is as it was


def test_many_rows_are_written_whole(session: Session) -> None:
    rows = [_row(d, f"r-{n}", n / 100) for d in range(3) for n in range(6000)]
    assert costs.replace_costs(session, rows=rows).written == 18000  # several chunks
    session.commit()
    assert _count(session) == 18000
    total = costs.totals(session, start=D0, end=D0 + timedelta(days=2), group_by="day",
                         metric="BilledCost")
    assert [round(t.cost, 6) for t in total] == [round(sum(n / 100 for n in range(6000)), 6)] * 3


# --- days digested by the source (the FOCUS reader, in DuckDB) --------------------------------

_FOCUS_HEADER = ("ProviderName,BillingAccountId,ResourceId,ChargePeriodStart,BillingCurrency,"
                 "BilledCost,EffectiveCost,ListCost,SubAccountId,SubAccountName,ServiceName,"
                 "RegionId,ResourceName,ResourceType,Tags")  # fmt: skip


def _focus_line(day: int, resource: str, **change: str) -> dict[str, str]:
    line = {"ProviderName": "AWS", "BillingAccountId": "acct", "ResourceId": resource,
            "ChargePeriodStart": f"{D0 + timedelta(days=day)} 06:00:00",
            "BillingCurrency": "USD", "BilledCost": "1.5", "EffectiveCost": "1.25",
            "ListCost": "2", "SubAccountId": "111", "SubAccountName": "dev",
            "ServiceName": "EC2", "RegionId": "us-east-1", "ResourceName": f"{resource}-name",
            "ResourceType": "Instance", "Tags": "{}"}  # fmt: skip
    return line | change


def _focus_batch(path: Path, lines: list[dict[str, str]]) -> Any:
    body = [_FOCUS_HEADER] + [",".join(line[c] for c in _FOCUS_HEADER.split(",")) for line in lines]
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    return FocusFileSource(str(path)).fetch()


_STORED_COLUMNS = ["ResourceId", "BillingCurrency", "BilledCost", "EffectiveCost", "ListCost",
                   "SubAccountId", "SubAccountName", "ServiceName", "RegionId", "ResourceName",
                   "ResourceType"]  # fmt: skip


@pytest.mark.parametrize("column", _STORED_COLUMNS)
def test_a_source_digest_covers_every_stored_value(session: Session, tmp_path: Path,
                                                    column: str) -> None:
    lines = [_focus_line(d, r) for d in range(3) for r in ("a", "b")]
    first = _focus_batch(tmp_path / "first.csv", lines)
    assert set(first.day_digests) == {("AWS", "acct", D0 + timedelta(days=d)) for d in range(3)}
    costs.replace_costs(session, rows=first.rows, digests=first.day_digests)
    session.commit()
    before = _ids_by_day(session)
    same = _focus_batch(tmp_path / "same.csv", lines[::-1])  # another order: the same days
    assert same.day_digests == first.day_digests
    changed_value = "0.5" if column.endswith("Cost") else "other"
    lines[2] = _focus_line(1, "a", **{column: changed_value})  # day 1, resource a
    changed = _focus_batch(tmp_path / "changed.csv", lines)
    result = costs.replace_costs(session, rows=changed.rows, digests=changed.day_digests)
    session.commit()
    assert (result.deleted, result.kept) == (2, 4)
    after = _ids_by_day(session)
    assert [after[d] == before[d] for d in range(3)] == [True, False, True]


def test_a_day_digested_the_other_way_is_rewritten_once(session: Session, tmp_path: Path) -> None:
    batch = _focus_batch(tmp_path / "costs.csv", [_focus_line(d, "a") for d in range(2)])
    costs.replace_costs(session, rows=batch.rows, digests=batch.day_digests)
    session.commit()
    by_storage = costs.replace_costs(session, rows=batch.rows)  # no source digests this time
    session.commit()
    assert (by_storage.deleted, by_storage.kept) == (2, 0)
    assert costs.replace_costs(session, rows=batch.rows).kept == 2
    by_source = costs.replace_costs(session, rows=batch.rows, digests=batch.day_digests)
    assert (by_source.deleted, by_source.kept) == (2, 0)
    session.commit()
    assert _count(session) == 2
