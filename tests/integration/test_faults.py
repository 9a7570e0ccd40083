"""Faults around the database: PostgreSQL going away under a running bot (through a TCP proxy
that can cut every connection and refuse new ones), a transaction cut in the middle, and the
scheduler's leader lock lost with its session. PostgreSQL only; a scratch database of its own."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlmodel import Session

from app import build_asgi
from bot.config import load_config
from bot.jobs import run_job
from bot.services import Services
from bot.settings import Settings
from handlers.scheduler import Leadership
from providers.chat import ConsoleTransport
from storage.db import make_engine, upgrade
from storage.models import CostDaily, CostScopeDaily, IngestRun
from tests.fakes.tcp_proxy import TcpProxy
from tests.pg import ON_POSTGRES, scratch_database
from tests.scenario.harness import serve

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="a PostgreSQL server to cut off")
NOW = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)


@pytest.fixture
def proxied() -> Iterator[tuple[TcpProxy, Engine]]:
    url = scratch_database("finops_faults")
    with TcpProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        engine = make_engine(url.set(host="127.0.0.1", port=proxy.port)
                             .render_as_string(hide_password=False))
        upgrade(engine)
        yield proxy, engine
        engine.dispose()


@pytest.fixture
def services(proxied: tuple[TcpProxy, Engine]) -> Services:
    _, engine = proxied
    svc = Services(settings=Settings(database_url="postgresql+psycopg://proxied"),
                   config=load_config(None), engine=engine, chat=ConsoleTransport(io.StringIO()),
                   clock=lambda: NOW)
    run_job(svc, "ingest")
    return svc


def _totals(engine: Engine) -> tuple[Any, ...]:
    with Session(engine) as session:
        return (
            session.execute(select(func.count(), func.sum(CostDaily.effective_cost))).one(),
            session.execute(select(func.sum(CostScopeDaily.effective_cost))).scalar(),
            session.execute(select(func.count()).select_from(IngestRun)).scalar(),
        )


def test_the_bot_answers_unhealthy_while_the_database_is_down_then_reconnects(
    services: Services, proxied: tuple[TcpProxy, Engine]
) -> None:
    proxy, _ = proxied
    with serve(build_asgi(services)) as base_url:
        assert httpx.get(base_url + "/healthz", timeout=10).status_code == 200
        proxy.down()
        down = httpx.get(base_url + "/healthz", timeout=30)
        assert down.status_code == 503 and down.json()["status"] == "database unavailable"
        proxy.up()
        assert httpx.get(base_url + "/healthz", timeout=10).status_code == 200
    assert "assignments changed" in run_job(services, "assign")  # a new connection works


def test_a_transaction_cut_in_the_middle_leaves_no_half_written_state(
    services: Services, proxied: tuple[TcpProxy, Engine]
) -> None:
    proxy, engine = proxied
    before = _totals(engine)
    cut: list[int] = []

    def cut_after_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # the ingest's last statement: every row is sent, the commit never will be
        if statement.startswith("INSERT INTO resource_recent_cost") and not cut:
            cut.append(proxy.cut())

    event.listen(engine, "after_cursor_execute", cut_after_insert)
    try:
        with pytest.raises(Exception, match="(?i)connection|closed|terminat|server"):
            run_job(services, "ingest")
    finally:
        event.remove(engine, "after_cursor_execute", cut_after_insert)
    assert cut and cut[0] >= 1
    assert _totals(engine) == before  # the period is as it was, rollup included
    assert "rows" in run_job(services, "ingest")  # and the next run reconnects and works
    with Session(engine) as session:
        costs = session.execute(select(func.sum(CostDaily.effective_cost))).scalar()
        rolled = session.execute(select(func.sum(CostScopeDaily.effective_cost))).scalar()
    assert costs == pytest.approx(rolled)


def test_the_leader_stands_down_when_its_lock_session_dies_and_leads_again(
    services: Services, proxied: tuple[TcpProxy, Engine]
) -> None:
    proxy, engine = proxied
    leadership = Leadership(services, interval=0.1)
    try:
        leadership.step()
        assert leadership.is_leader and services.scheduler_role == "leader"
        proxy.cut()  # the lock's session is gone: PostgreSQL released the lock
        leadership.step()
        assert not leadership.is_leader and services.scheduler_role == "standby"
        leadership.step()
        assert leadership.is_leader
        with engine.connect() as conn:
            holders = conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            )).scalar()
        assert holders == 1
    finally:
        leadership.stop()
