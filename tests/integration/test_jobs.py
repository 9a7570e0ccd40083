"""The scheduled ingest job over several accounts: one failing account does not stop the others."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from bot.config import load_config
from bot.errors import ProviderError
from bot.jobs import run_job
from bot.services import Services
from bot.settings import Settings
from providers.chat import ConsoleTransport
from storage.models import CostDaily, JobRun
from tests.conftest import DATA, free_port

SAMPLE = DATA / "focus-sample" / "focus_sample.csv"


def _services(db: Engine, tmp_path: Path, paths: dict[str, Path]) -> Services:
    config = tmp_path / "finops.yaml"
    config.write_text("accounts:\n" + "".join(
        f"  - {{provider: focus, name: {name}, path: '{path}'}}\n" for name, path in paths.items()))
    now = datetime(2024, 10, 2, 7, tzinfo=UTC)
    return Services(settings=Settings(database_url="sqlite://"), config=load_config(config),
                    engine=db, chat=ConsoleTransport(io.StringIO()), clock=lambda: now)


def _rows(db: Engine) -> int:
    with Session(db) as session:
        return int(session.execute(select(func.count()).select_from(CostDaily)).scalar_one())


def test_a_failing_account_does_not_stop_the_others_and_fails_the_job(
        db: Engine, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("BilledCost,ChargePeriodStart\n1.0,2024-09-01\n")  # no BillingCurrency
    services = _services(db, tmp_path, {"first": broken, "sample": SAMPLE})
    with pytest.raises(ProviderError) as failure:
        run_job(services, "ingest")
    message = str(failure.value)
    assert message.startswith("ingest failed for first: ")
    assert "broken.csv" in message and "BillingCurrency" in message
    assert "(done: sample: " in message and "anomal" in message  # stored, then scanned
    assert _rows(db) > 0  # the account after the broken one was ingested
    with Session(db) as session:
        run = session.scalars(select(JobRun).where(JobRun.job == "ingest")).one()
    assert run.finished_at is not None and run.outcome.startswith("error: ingest failed")


def test_every_account_ingested_is_an_ordinary_outcome(db: Engine, tmp_path: Path) -> None:
    services = _services(db, tmp_path, {"sample": SAMPLE})
    outcome = run_job(services, "ingest")
    assert outcome.startswith("sample: ") and " rows, " in outcome
    assert _rows(db) > 0


class _ArchivedChannels(ConsoleTransport):
    """The console, except that every channel answers as Slack does for an archived one."""

    def post(self, channel: str, text: str, blocks: Any = None, **kwargs: Any) -> str:
        if channel.startswith("#"):
            raise ProviderError(f"Slack chat.postMessage failed: is_archived ({channel})")
        return super().post(channel, text, blocks, **kwargs)


def test_alerts_the_scan_could_not_send_fail_the_ingest_job_but_keep_its_costs(
        db: Engine) -> None:
    now = datetime.now(UTC)
    services = Services(settings=Settings(database_url="sqlite://"), config=load_config(None),
                        engine=db, chat=_ArchivedChannels(io.StringIO()), clock=lambda: now)
    with pytest.raises(ProviderError) as failure:
        run_job(services, "ingest")  # the demo: its anomaly alerts a team channel and bob
    message = str(failure.value)
    assert message.startswith("ingest failed for scan: 1 alerts not sent (team:data to "
                              "#data-costs: ")
    assert "is_archived" in message and "(done: demo" in message
    assert _rows(db) > 0


def test_the_demo_loads_at_start_while_slack_cannot_be_reached(
        db: Engine, caplog: pytest.LogCaptureFixture) -> None:
    from bot.startup import prepare
    from providers.slack import SlackTransport
    from storage.claims import unsent

    now = datetime.now(UTC)
    closed = f"http://127.0.0.1:{free_port()}/api/"  # connections refused, as in an outage
    settings = Settings(database_url="sqlite://", slack_bot_token="xoxb-test",
                        slack_api_url=closed)
    chat = SlackTransport("xoxb-test", base_url=closed, server_error_backoff=0)
    services = Services(settings=settings, config=load_config(None), engine=db, chat=chat,
                        clock=lambda: now)
    prepare(services)  # does not raise: the bot starts
    assert _rows(db) > 0
    assert "demo loaded, but its scan could not alert" in caplog.text
    with Session(db) as session:  # the alerts wait for the next scan
        assert unsent(session, kind="anomaly", period_from="2000-01-01")
