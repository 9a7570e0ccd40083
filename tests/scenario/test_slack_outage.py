"""Slack failing under a running job: 5xx beyond the client's retries fail the digest job
without losing a digest (the claim stays unsent and the next run after its lease sends it,
once); a 429 is waited out; nothing is sent twice; a channel Slack refuses holds up no other."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlmodel import Session, col

from bot.delivery import GIVE_UP_AFTER
from bot.errors import ProviderError
from bot.jobs import run_job
from bot.services import Services
from storage.models import Anomaly, Delivery
from tests.fakes.slack import FakeSlack
from tests.scenario.harness import Clock


def _digest_posts(fake: FakeSlack) -> list[tuple[str, str]]:
    return [(str(c.args.get("channel")), str(c.args.get("text")))
            for c in fake.calls("chat.postMessage")
            if c.status == 200 and (c.response or {}).get("ok")
            and "month to date" in str(c.args.get("text"))]


def _alerts(fake: FakeSlack) -> list[str]:
    """The channels that received an anomaly alert."""
    return [m.channel for m in fake.messages() if m.text.startswith("Cost anomaly")]


def _sent(services: Services, period: str) -> int:
    with Session(services.engine) as session:
        return int(session.execute(
            select(func.count()).select_from(Delivery).where(
                col(Delivery.kind) == "digest", col(Delivery.period) == period,
                col(Delivery.outcome) == "sent")
        ).scalar_one())


def test_a_slack_outage_mid_digest_loses_nothing_and_doubles_nothing(
    services: Services, fake_slack: FakeSlack, clock: Clock
) -> None:
    # Slack answers 500 for longer than the client retries a post (3 tries), for three scopes
    # in a row: the run takes Slack for down, stops there, and the job fails
    before = len(fake_slack.calls("chat.postMessage"))  # the ingest's anomaly alerts
    fake_slack.fail("chat.postMessage", error="internal_error", status=500,
                    times=3 * GIVE_UP_AFTER)
    with pytest.raises(ProviderError, match=f"{GIVE_UP_AFTER} digests not sent"):
        run_job(services, "digest")
    assert len(fake_slack.calls("chat.postMessage")) - before == 3 * GIVE_UP_AFTER
    assert _digest_posts(fake_slack) == []
    run_job(services, "digest")  # within the lease the failed claims are left alone...
    assert _sent(services, clock.now.date().isoformat()) > 0  # ...the untried scopes go out
    clock.now += timedelta(minutes=11)
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=0)
    run_job(services, "digest")  # ...after it, taken over and sent (through a 429)
    run_job(services, "digest")
    sent = _digest_posts(fake_slack)
    assert len(sent) == _sent(services, clock.now.date().isoformat()) > GIVE_UP_AFTER
    assert max(Counter(sent).values()) == 1


def test_a_channel_slack_refuses_does_not_hold_up_the_other_digests(
    services: Services, fake_slack: FakeSlack, clock: Clock
) -> None:
    fake_slack.archive_channel("#data-costs")
    with pytest.raises(ProviderError) as failure:
        run_job(services, "digest")
    assert str(failure.value).startswith("1 digests not sent (team:data: ")
    assert "is_archived" in str(failure.value)
    channels = {channel for channel, _ in _digest_posts(fake_slack)}
    assert {"#platform-costs", "#web-costs"} <= channels and "#data-costs" not in channels
    assert any(c.startswith("D") for c in channels)  # the owners' digests went out too
    clock.now += timedelta(minutes=11)  # retried after the lease, refused again: nothing else
    with pytest.raises(ProviderError, match="team:data"):
        run_job(services, "digest")
    assert max(Counter(_digest_posts(fake_slack)).values()) == 1


def test_an_anomaly_alert_slack_failed_to_take_is_sent_by_the_next_scan(
    services: Services, fake_slack: FakeSlack, clock: Clock
) -> None:
    # the demo's anomaly was alerted when the fixture ingested; detect it anew, Slack down
    with Session(services.engine) as session:
        session.execute(delete(Delivery).where(col(Delivery.kind) == "anomaly"))
        session.execute(delete(Anomaly))
        session.commit()
    before = _alerts(fake_slack)
    fake_slack.fail("chat.postMessage", error="internal_error", status=500, times=2 * 3)
    with pytest.raises(ProviderError, match="2 alerts not sent"):
        run_job(services, "scan")
    assert _alerts(fake_slack) == before
    assert "0 new, 0 alerts sent" in run_job(services, "scan")  # within the lease: left alone
    clock.now += timedelta(minutes=11)
    assert "0 new, 2 alerts sent" in run_job(services, "scan")  # not new, yet not lost
    assert sorted(_alerts(fake_slack)[len(before):]) == ["#data-costs", "D0BOB"]
    assert "0 alerts sent" in run_job(services, "scan")  # and sent once
