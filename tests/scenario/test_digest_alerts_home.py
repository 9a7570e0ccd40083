"""Digests, anomaly alerts with their buttons, App Home and event retries, end to end."""

from __future__ import annotations

import json
import threading
import time

from sqlalchemy import select
from sqlmodel import Session

from bot.digests import run_digests
from bot.jobs import run_job
from bot.services import Services
from storage.models import Anomaly, Delivery, Snooze
from tests.fakes.slack import FakeSlack
from tests.scenario.harness import SlackClientSim, wait

TEAM_CHANNELS = {"#platform-costs", "#data-costs", "#web-costs"}


def _digest_posts(fake: FakeSlack) -> list[str]:
    return [m.channel for m in fake.messages() if m.text and "month to date" in m.text]


def test_digest_posts_once_per_scope_per_day_with_a_chart(services: Services,
                                                          fake_slack: FakeSlack) -> None:
    first = run_job(services, "digest")
    posted = _digest_posts(fake_slack)
    assert TEAM_CHANNELS <= set(posted), first
    assert len(posted) == len(set(posted)), "a scope got two digests"
    # every posted digest has its chart: a PNG uploaded in three steps and shared there
    charts = [f for f in fake_slack.files.values() if f.completed]
    assert len(charts) == len(posted)
    assert all(f.content.startswith(b"\x89PNG") for f in charts)
    assert {c for f in charts for c in f.channels} == set(posted)
    # the anomaly of `events` is in the digests of its owner and its team, as its alert was
    for channel in ("D0BOB", "#data-costs"):
        digest = next(m for m in fake_slack.messages(channel) if "month to date" in m.text)
        assert "resource events on" in json.dumps(digest.blocks), channel
        # bob's `perf-test-bob` is past its TTL and still running: listed, with a button
        row = next(b for b in digest.blocks if "`perf-test-bob` expired" in json.dumps(b))
        assert row["accessory"]["action_id"] == "ttl_extend_3d", channel
        assert row["accessory"]["value"].endswith("instance/i-0a1b2c3d4e5f60020")
    calls_before = len(fake_slack.calls())
    second = run_job(services, "digest")
    assert second == "0 digests sent, 0 skipped", (first, second)
    assert len(fake_slack.calls()) == calls_before  # nothing new reached Slack


def test_two_replicas_racing_send_each_digest_once(services: Services,
                                                   fake_slack: FakeSlack) -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def replica(name: str) -> None:
        barrier.wait()
        try:
            run_digests(services, worker=name)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=replica, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    posted = _digest_posts(fake_slack)
    assert len(posted) == len(set(posted)) and TEAM_CHANNELS <= set(posted)
    with Session(services.engine) as session:
        rows = session.scalars(select(Delivery).where(Delivery.kind == "digest")).all()
        assert all(r.sent_at is not None for r in rows)


def test_the_demo_anomaly_alerts_owner_and_team_once(services: Services,
                                                     fake_slack: FakeSlack) -> None:
    alerts = [m for m in fake_slack.messages() if m.text.startswith("Cost anomaly")]
    where = sorted(m.channel for m in alerts)
    assert where == ["#data-costs", "D0BOB"], where  # team channel and bob's DM, nothing else
    blocks = str(alerts[0].blocks)
    assert "service BigQuery" in blocks and "Acknowledge" in blocks
    run_job(services, "scan")  # a second scan finds the same episode: no new message
    assert len([m for m in fake_slack.messages() if m.text.startswith("Cost anomaly")]) == 2


def test_alert_buttons_record_feedback(services: Services, fake_slack: FakeSlack,
                                       slack: SlackClientSim) -> None:
    with Session(services.engine) as session:
        team_alert = session.scalars(select(Anomaly).where(Anomaly.series == "team:data")).one()
    url = fake_slack.response_url()
    assert slack.action("anomaly_ack", str(team_alert.id), user_id="U0BOB",
                        response_url=url).status_code == 200
    wait(lambda: len(fake_slack.replies) == 1)
    reply = fake_slack.replies[0]
    assert reply.replace_original and "acknowledged by bob@example.com" in str(reply.payload)
    assert "anomaly_ack" not in str(reply.payload)  # the buttons are gone
    slack.action("anomaly_breakdown", str(team_alert.id), user_id="U0BOB",
                 response_url=fake_slack.response_url())
    wait(lambda: len(fake_slack.replies) == 2)
    assert not fake_slack.replies[1].replace_original
    assert "events" in fake_slack.replies[1].text or "events" in str(fake_slack.replies[1].payload)
    slack.action("anomaly_snooze", str(team_alert.id), user_id="U0BOB",
                 response_url=fake_slack.response_url())
    wait(lambda: len(fake_slack.replies) == 3)
    with Session(services.engine) as session:
        assert session.get(Anomaly, team_alert.id).status == "acknowledged"  # type: ignore[union-attr]
        snooze = session.get(Snooze, "team:data")
        assert snooze is not None and snooze.set_by == "bob@example.com"


def test_anomalies_command_lists_my_open_anomalies(slack: SlackClientSim,
                                                   fake_slack: FakeSlack) -> None:
    slack.command("anomalies", user_id="U0BOB", response_url=fake_slack.response_url())
    wait(lambda: len(fake_slack.replies) == 1)
    text = str(fake_slack.replies[0].payload)
    assert "team data on" in text and "owner bob@example.com on" in text
    assert "team:data" not in text  # series names are the CSV's, not what people read
    # bob owns `events`: its anomaly was sent to him, so it is his to see (not the admins'
    # account and service ones)
    assert "resource events on" in text and "• service" not in text and "• account" not in text
    slack.command("anomalies", user_id="U0CAROL", response_url=fake_slack.response_url())
    wait(lambda: len(fake_slack.replies) == 2)
    assert "none" in fake_slack.replies[1].text


def test_a_resource_anomaly_is_shown_by_the_resource_name(slack: SlackClientSim,
                                                          fake_slack: FakeSlack,
                                                          services: Services) -> None:
    # a Google Cloud resource id is a long path; people know the resource as "events"
    series = "resource://bigquery.googleapis.com/projects/data-lake-prod/datasets/events"
    slack.command("anomalies", user_id="U0ALICE", response_url=fake_slack.response_url())
    wait(lambda: len(fake_slack.replies) == 1)
    listed = str(fake_slack.replies[0].payload)
    assert "resource events on" in listed and series not in listed
    with Session(services.engine) as session:
        anomaly = session.scalars(select(Anomaly).where(Anomaly.series == series)).one()
    slack.action("anomaly_snooze", str(anomaly.id), user_id="U0ALICE",
                 response_url=fake_slack.response_url())
    wait(lambda: len(fake_slack.replies) == 2)
    shown = str(fake_slack.replies[1].payload)
    assert "Cost anomaly: resource events" in shown and "resource events snoozed until" in shown
    with Session(services.engine) as session:
        assert session.get(Snooze, series) is not None  # the scope itself is what is snoozed


def test_app_home_is_published_once_per_event(slack: SlackClientSim,
                                              fake_slack: FakeSlack) -> None:
    event = {"type": "app_home_opened", "user": "U0BOB", "channel": "D0BOB", "tab": "home"}
    assert slack.event(event, event_id="Ev001").status_code == 200
    wait(lambda: len(fake_slack.calls("views.publish")) == 1)
    # Slack retries the same event: it is acknowledged and not processed again
    assert slack.event(event, event_id="Ev001", retry=1).status_code == 200
    time.sleep(0.3)
    assert len(fake_slack.calls("views.publish")) == 1
    view = str(fake_slack.home_views["U0BOB"])
    assert "My resources" in view and "raw-events" in view and "team data on" in view
    assert "resource events on" in view  # the anomaly of a resource bob owns
    assert "*My open anomalies*" in view and "service BigQuery on" not in view
    # alice is an admin: her Home lists what `/finops anomalies` shows her, every open one,
    # the service and account anomalies that were sent to her too
    event = {"type": "app_home_opened", "user": "U0ALICE", "channel": "D0ALICE", "tab": "home"}
    assert slack.event(event, event_id="Ev002").status_code == 200
    wait(lambda: "U0ALICE" in fake_slack.home_views)
    view = str(fake_slack.home_views["U0ALICE"])
    assert "*Open anomalies* (all: you are an admin)" in view
    assert "service BigQuery on" in view and "team data on" in view


def test_a_ttl_past_its_expiry_is_extended_from_app_home(slack: SlackClientSim,
                                                         fake_slack: FakeSlack) -> None:
    event = {"type": "app_home_opened", "user": "U0BOB", "channel": "D0BOB", "tab": "home"}
    assert slack.event(event, event_id="EvTtl1").status_code == 200
    wait(lambda: "U0BOB" in fake_slack.home_views)
    rows = [b for b in fake_slack.home_views["U0BOB"]["blocks"]
            if b.get("accessory", {}).get("action_id") == "ttl_extend_3d"]
    assert [r["text"]["text"].split(" ")[:2] for r in rows] == [["`perf-test-bob`", "expired"]]
    publishes = len(fake_slack.calls("views.publish"))
    pressed = slack.home_action("ttl_extend_3d", rows[0]["accessory"]["value"],
                                user_id="U0BOB")
    assert pressed.status_code == 200
    told = wait(lambda: [m for m in fake_slack.messages("D0BOB") if "now expires" in m.text])
    assert "`perf-test-bob`" in told[0].text and "set by bob@example.com" in told[0].text
    wait(lambda: len(fake_slack.calls("views.publish")) == publishes + 1)
    view = str(fake_slack.home_views["U0BOB"])
    assert "Past their TTL" not in view and "`perf-test-bob` at " in view


def test_app_home_of_someone_without_a_readable_email_says_why_it_is_empty(
        slack: SlackClientSim, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("guest@example.com", user_id="U0GUEST", email_shown=False)
    event = {"type": "app_home_opened", "user": "U0GUEST", "channel": "D0GUEST", "tab": "home"}
    assert slack.event(event, event_id="Ev002").status_code == 200
    wait(lambda: "U0GUEST" in fake_slack.home_views)
    view = str(fake_slack.home_views["U0GUEST"])
    assert "could not read" in view and "users:read.email" in view
    assert "My resources" not in view
