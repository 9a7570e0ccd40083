"""Shared environments end to end: signed Slack commands, buttons and the Book modal into the
real app, the fake Slack, the fake Jira and its webhooks, and an injected clock for reminders
and the automatic release."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlmodel import Session, col

from app import build_asgi
from bot import envs
from bot.errors import ProviderError
from bot.jobs import JOBS, Schedule, run_job
from bot.services import Services
from providers.jira import JiraClient
from storage import bookings
from storage.models import AuditLog
from storage.models_envs import Booking
from tests.fakes import http as http_fakes
from tests.fakes import jira as jira_fakes
from tests.fakes.jira import FakeJira
from tests.fakes.slack import FakeSlack, Reply
from tests.scenario.harness import (
    Clock,
    SlackClientSim,
    failing,
    serve,
    signed_headers,
    wait,
)

fake_jira = jira_fakes.fake_jira

CHANNEL = "#environments"
JIRA_SECRET = "scenario-jira-secret"


@pytest.fixture
def slack(services: Services, clock: Clock, fake_jira: FakeJira) -> Iterator[SlackClientSim]:
    """The app with Jira configured too (client and webhook secret)."""
    jira = JiraClient(fake_jira.url, fake_jira.user, fake_jira.token, max_retries=0)
    services.jira = jira
    services.settings = services.settings.model_copy(
        update={"jira_webhook_secret": SecretStr(JIRA_SECRET)})
    with serve(build_asgi(services)) as base_url:
        fake_jira.subscribe(base_url + "/webhooks/jira", JIRA_SECRET)
        sim = SlackClientSim(base_url)
        yield sim
        sim.close()
    jira.close()


def _ask(slack: SlackClientSim, fake: FakeSlack, text: str, user: str) -> Reply:
    url = fake.response_url()
    assert slack.command(text, user_id=user, response_url=url).status_code == 200
    return wait(lambda: next((r for r in fake.replies if r.url == url), None))


def _press(slack: SlackClientSim, fake: FakeSlack, action: str, env: str, user: str) -> Reply:
    url = fake.response_url()
    assert slack.action(action, env, user_id=user, response_url=url).status_code == 200
    return wait(lambda: next((r for r in fake.replies if r.url == url), None))


def _posts(fake: FakeSlack, channel: str = CHANNEL) -> list[str]:
    return [m.text for m in fake.messages(channel)]


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _audit(services: Services, action: str) -> list[AuditLog]:
    with Session(services.engine) as session:
        return list(session.scalars(select(AuditLog).where(col(AuditLog.action) == action)
                                    .order_by(col(AuditLog.id))))


def _open_bookings(services: Services) -> list[Booking]:
    with Session(services.engine) as session:
        return list(session.scalars(select(Booking).where(col(Booking.ended_at).is_(None))))


def test_envs_and_env_show_state_costs_and_buttons(slack: SlackClientSim,
                                                   fake_slack: FakeSlack) -> None:
    listing = _ask(slack, fake_slack, "envs", "U0BOB")
    assert listing.response_type == "ephemeral"
    text = _dump(listing.payload["blocks"])
    assert "*staging-1* — free" in text and "*qa* — free" in text and '"env_book"' in text
    card = json.dumps(_ask(slack, fake_slack, "env staging-1", "U0BOB").payload["blocks"])
    assert "no deploys recorded" in card and "unknown" in card and "nobody waiting" in card
    assert "Cost per day*\\n$" in card and "1 resource" in card
    # qa is for platform and web: bob is told so, and offered no button he could only be
    # refused by
    blocks = listing.payload["blocks"]
    qa = next(i for i, b in enumerate(blocks) if "*qa*" in _dump(b))
    assert "*qa* — free · for platform, web" in _dump(blocks[qa])
    assert qa + 1 == len(blocks) or blocks[qa + 1]["type"] != "actions"
    card = _ask(slack, fake_slack, "env qa", "U0BOB").payload["blocks"]
    assert "bookable by platform, web only" in _dump(card)
    assert [b for b in card if b["type"] == "actions"] == []
    card = _ask(slack, fake_slack, "env qa", "U0CAROL").payload["blocks"]
    assert '"env_book"' in _dump(card)  # carol is in web
    # the holder is not offered to wait for his own booking; others are
    _ask(slack, fake_slack, "book staging-1 1d", "U0BOB")
    for user, offered in (("U0BOB", False), ("U0CAROL", True)):
        shown = _dump(_ask(slack, fake_slack, "env staging-1", user).payload["blocks"])
        assert ('"env_notify"' in shown) is offered and '"env_release"' in shown, user


def test_two_users_racing_for_one_env_exactly_one_wins(slack: SlackClientSim,
                                                       fake_slack: FakeSlack,
                                                       services: Services, clock: Clock) -> None:
    for round_ in range(5):
        clock.now += timedelta(hours=1)
        urls = {user: fake_slack.response_url() for user in ("U0BOB", "U0CAROL")}
        barrier = threading.Barrier(2)

        def send(user: str, url: str, barrier: threading.Barrier = barrier) -> None:
            sim = SlackClientSim(slack.url.removesuffix("/slack/events"))
            barrier.wait()
            sim.command("book staging-2 1d", user_id=user, response_url=url)
            sim.close()

        threads = [threading.Thread(target=send, args=item) for item in urls.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        replies = [wait(lambda u=url: next((r for r in fake_slack.replies if r.url == u),
                                            None)) for url in urls.values()]
        won = [r for r in replies if r.text.startswith("You have staging-2")]
        lost = [r for r in replies if "staging-2 is booked by" in r.text]
        assert len(won) == 1 and len(lost) == 1, [r.text for r in replies]
        assert '"env_notify"' in json.dumps(lost[0].payload["blocks"])  # offered the queue
        wait(lambda n=round_: len([t for t in _posts(fake_slack) if "booked by" in t]) == n + 1)
        assert len(_open_bookings(services)) == 1
        winner = "U0BOB" if won[0] is replies[0] else "U0CAROL"
        _ask(slack, fake_slack, "release staging-2", winner)
    acquired = [t for t in _posts(fake_slack) if "booked by" in t]
    assert len(acquired) == 5  # one channel message per won booking, none for the losers


def test_book_extend_release_with_costs_rights_and_audit(slack: SlackClientSim,
                                                         fake_slack: FakeSlack,
                                                         services: Services,
                                                         clock: Clock) -> None:
    booked = _ask(slack, fake_slack, "book staging-1 3d", "U0BOB")
    assert booked.text.startswith("You have staging-1 until")
    assert "Expected cost: *$" in json.dumps(booked.payload["blocks"])
    wait(lambda: any("staging-1 booked by bob@example.com" in t for t in _posts(fake_slack)))
    hooks = wait(lambda: _audit(services, "booking.hook"))
    assert json.loads(hooks[0].details)["ok"] is True  # the demo's harmless `true` hook ran

    refused = _press(slack, fake_slack, "env_release", "staging-1", "U0CAROL")
    assert refused.text == ("only bob@example.com (the holder), alice@example.com (manager of "
                            "team platform) or an admin can release staging-1")
    assert len(_open_bookings(services)) == 1

    extended = _press(slack, fake_slack, "env_extend_1d", "staging-1", "U0BOB")
    assert "extended until" in extended.text and not extended.replace_original
    with Session(services.engine) as session:
        state = bookings.state(session, env="staging-1")
        assert state is not None and state.until == clock.now + timedelta(days=4)
    too_long = _ask(slack, fake_slack, "extend staging-1 7d", "U0BOB")
    assert "at most 7d in total" in too_long.text and "3d more" in too_long.text

    clock.now += timedelta(hours=5)
    released = _ask(slack, fake_slack, "release staging-1", "U0BOB")
    assert released.text == "staging-1 is free"
    assert "Held 5h, cost *$" in json.dumps(released.payload["blocks"])
    wait(lambda: any("staging-1 is free" in t for t in _posts(fake_slack)))
    done = [(a.action, a.actor, a.origin) for a in _audit(services, "booking.acquire")
            + _audit(services, "booking.extend") + _audit(services, "booking.release")]
    assert done == [("booking.acquire", "bob@example.com", "slack"),
                    ("booking.extend", "bob@example.com", "slack"),
                    ("booking.release", "bob@example.com", "slack")]


def test_a_queued_person_blocks_extensions_and_is_told_when_free(
        slack: SlackClientSim, fake_slack: FakeSlack) -> None:
    _ask(slack, fake_slack, "book staging-1 1d", "U0BOB")
    queued = _press(slack, fake_slack, "env_notify", "staging-1", "U0CAROL")
    assert "number 1 in line for staging-1" in queued.text
    again = _press(slack, fake_slack, "env_notify", "staging-1", "U0CAROL")
    assert "already in line" in again.text
    refused = _ask(slack, fake_slack, "extend staging-1 1d", "U0BOB")
    assert "can't be extended: carol@example.com is waiting for it" in refused.text
    card = json.dumps(_ask(slack, fake_slack, "env staging-1", "U0DAVE").payload["blocks"])
    assert "<@U0CAROL>" in card
    _ask(slack, fake_slack, "release staging-1", "U0BOB")
    told = wait(lambda: [m for m in fake_slack.messages("D0CAROL") if "is free" in m.text])
    assert '"env_book"' in json.dumps(told[0].blocks)


def test_the_next_in_line_keeps_their_place_until_slack_takes_the_news(
        slack: SlackClientSim, fake_slack: FakeSlack, services: Services) -> None:
    _ask(slack, fake_slack, "book staging-1 1d", "U0BOB")
    _press(slack, fake_slack, "env_notify", "staging-1", "U0CAROL")
    # Slack fails carol's DM for longer than the client retries (3 tries)
    fake_slack.fail("conversations.open", error="internal_error", status=500, times=3)
    _ask(slack, fake_slack, "release staging-1", "U0BOB")
    wait(lambda: not _pending_events(services))
    assert not [m for m in fake_slack.messages("D0CAROL") if "is free" in m.text]
    with Session(services.engine) as session:  # still first in line: not lost
        assert [q.email for q in bookings.queue(session, env="staging-1")] == [
            "carol@example.com"]
    assert run_job(services, "bookings").startswith("0 released, 0 reminders, 1 told it is free")
    assert len([m for m in fake_slack.messages("D0CAROL") if "is free" in m.text]) == 1
    assert run_job(services, "bookings").startswith("0 released, 0 reminders, 0 told it is free")
    assert len([m for m in fake_slack.messages("D0CAROL") if "is free" in m.text]) == 1
    with Session(services.engine) as session:
        assert bookings.queue(session, env="staging-1") == []


def test_reminder_and_automatic_release_happen_on_time(slack: SlackClientSim,
                                                       fake_slack: FakeSlack,
                                                       services: Services,
                                                       clock: Clock) -> None:
    start = clock.now
    _ask(slack, fake_slack, "book staging-2 3h", "U0BOB")
    end = start + timedelta(hours=3)

    def reminders() -> list[str]:
        return [m.text for m in fake_slack.messages("D0BOB") if "ends in" in m.text]

    clock.now = end - timedelta(minutes=61)
    run_job(services, "bookings")
    assert reminders() == []
    clock.now = end - timedelta(minutes=59)
    run_job(services, "bookings")
    run_job(services, "bookings")  # a second run (or replica) reminds nobody again
    assert reminders() == ["staging-2 ends in 59m"]
    reminder = [m for m in fake_slack.messages("D0BOB") if "ends in" in m.text][0]
    assert '"env_extend_1d"' in json.dumps(reminder.blocks)

    # extended from the reminder's button: a new end, and a new reminder before it
    _press(slack, fake_slack, "env_extend_1d", "staging-2", "U0BOB")
    end += timedelta(days=1)
    clock.now = end - timedelta(seconds=1)
    run_job(services, "bookings")
    assert reminders() == ["staging-2 ends in 59m", "staging-2 ends in 0m"]
    assert len(_open_bookings(services)) == 1  # not released a second early
    clock.now = end
    assert run_job(services, "bookings").startswith("1 released")
    assert _open_bookings(services) == []
    assert any(m.text == "staging-2 is free" and "ended (its time was up)" in _dump(m.blocks)
               for m in fake_slack.messages(CHANNEL))
    assert [m for m in fake_slack.messages("D0BOB") if m.text == "staging-2 is free"]
    assert run_job(services, "bookings").startswith("0 released")


def test_a_reminder_slack_did_not_take_is_sent_by_a_later_run_once(
        slack: SlackClientSim, fake_slack: FakeSlack, services: Services,
        clock: Clock) -> None:
    _ask(slack, fake_slack, "book staging-2 3h", "U0BOB")
    clock.now += timedelta(hours=2, minutes=1)  # within the hour before the end

    def reminders() -> list[str]:
        return [m.text for m in fake_slack.messages("D0BOB") if "ends in" in m.text]

    fake_slack.fail("conversations.open", error="internal_error", status=500, times=3)
    with pytest.raises(ProviderError, match="not sent: reminder for staging-2: .*internal_error"):
        run_job(services, "bookings")
    assert reminders() == []
    run_job(services, "bookings")  # within the claim's lease: left to the run that failed
    assert reminders() == []
    clock.now += timedelta(minutes=11)
    run_job(services, "bookings")
    run_job(services, "bookings")
    assert reminders() == ["staging-2 ends in 48m"]


def _submit(slack: SlackClientSim, env: str, user: str, values: dict[str, Any], *,
            metadata: str | None = None, state: Any = None) -> httpx.Response:
    state = state if state is not None else {
        "end_date": {"value": {"type": "datepicker", "selected_date": values.get("date")}},
        "end_time": {"value": {"type": "timepicker", "selected_time": values.get("time")}},
        "duration": {"value": {"type": "plain_text_input", "value": values.get("duration")}},
        "ticket": {"value": {"type": "plain_text_input", "value": values.get("ticket")}},
    }
    payload = {
        "type": "view_submission", "team": {"id": slack.team_id}, "api_app_id": "A0FINOPS",
        "user": {"id": user, "team_id": slack.team_id}, "trigger_id": "1337.42.ghi",
        "view": {"id": "V0MODAL", "type": "modal", "callback_id": "env_book_modal",
                 "private_metadata": metadata if metadata is not None
                 else json.dumps({"env": env, "channel": "C0GENERAL"}),
                 "state": {"values": state}, "hash": "h1"},
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return slack.post(body, signed_headers(body))


def test_the_book_modal(slack: SlackClientSim, fake_slack: FakeSlack, services: Services,
                        clock: Clock) -> None:
    url = fake_slack.response_url()
    assert slack.action("env_book", "qa", user_id="U0CAROL", response_url=url).status_code == 200
    opened = wait(lambda: fake_slack.calls("views.open"))
    assert opened[0].args["trigger_id"] == "1337.42.def"
    assert opened[0].args["view"]["callback_id"] == "env_book_modal"

    today = clock.now.date()
    cases = [({"date": f"{today - timedelta(days=1)}", "time": "18:00"}, "end_date", "past"),
             ({"duration": "3x"}, "duration", "not a duration"),
             ({"duration": "4d"}, "duration", "at most 3d"),
             ({"date": f"{today + timedelta(days=1)}", "ticket": "ops 12"}, "ticket", "Jira")]
    for values, field, fragment in cases:
        answer = _submit(slack, "qa", "U0CAROL", values)
        assert answer.status_code == 200
        assert answer.json()["response_action"] == "errors", values
        assert fragment in answer.json()["errors"][field], answer.json()
    assert _open_bookings(services) == []  # nothing booked by bad input

    refused = _submit(slack, "qa", "U0BOB", {"duration": "1d"})  # bob is not a qa booker
    assert "only platform, web" in refused.json()["errors"]["duration"]
    # who may book is said first, not after bob has fixed a duration he cannot book for
    refused = _submit(slack, "qa", "U0BOB", {"duration": "4d"})
    assert "only platform, web" in refused.json()["errors"]["duration"]
    ok = _submit(slack, "qa", "U0CAROL", {"date": f"{today + timedelta(days=1)}",
                                          "time": "18:00"})
    assert ok.status_code == 200 and ok.text == ""  # the modal closes
    confirm = wait(lambda: [m for m in fake_slack.messages("D0CAROL") if "You have qa" in m.text])
    assert "18:00 UTC" in confirm[0].text
    wait(lambda: any("qa booked by carol@example.com" in t for t in _posts(fake_slack)))
    busy = _submit(slack, "qa", "U0ALICE", {"duration": "1d"})
    assert "qa is booked by <@U0CAROL>" in busy.json()["errors"]["duration"]


def test_the_book_modal_of_someone_who_may_not_book_says_so_instead_of_a_form(
        slack: SlackClientSim, fake_slack: FakeSlack) -> None:
    # qa is for platform and web: bob is told at once, not after filling in the form
    assert slack.action("env_book", "qa", user_id="U0BOB",
                        response_url=fake_slack.response_url()).status_code == 200
    updated = wait(lambda: fake_slack.calls("views.update"))
    opened = fake_slack.calls("views.open")
    assert len(opened) == 1 and len(updated) == 1
    view = updated[0].args["view"]
    assert "submit" not in view and view["close"]["text"] == "Close"
    assert "Only platform, web (or an admin) may book qa." in json.dumps(view)
    # carol may: her form stays as it opened
    assert slack.action("env_book", "qa", user_id="U0CAROL", trigger_id="1337.42.xyz",
                        response_url=fake_slack.response_url()).status_code == 200
    wait(lambda: len(fake_slack.views) == 2)  # opened: the fake keeps each open view
    time.sleep(0.3)
    assert len(fake_slack.calls("views.update")) == 1


def test_a_submission_not_shaped_like_the_book_modal_gets_a_reason_and_books_nothing(
        slack: SlackClientSim, services: Services, caplog: pytest.LogCaptureFixture) -> None:
    # a signed request Slack would never send (its pickers send ISO values; the metadata is
    # ours): the modal says what is wrong, and nothing is booked or logged as our failure
    caplog.set_level(logging.ERROR)
    cases = [({"metadata": "not json"}, "duration", "This form has expired."),
             ({"metadata": "[1, 2]"}, "duration", "This form has expired."),
             ({"metadata": "{}"}, "duration", "This form has expired."),
             ({"state": {"duration": "2h"}}, "end_date", "choose an end date, or give a duration"),
             ({"state": {"end_date": {"value": {"selected_date": "someday"}}}}, "end_date",
              "pick the end date and time again"),
             ({"state": {"end_date": {"value": {"selected_date": "2030-01-01"}},
                         "end_time": {"value": {"selected_time": "25:99"}}}}, "end_date",
              "pick the end date and time again")]
    for shape, field, reason in cases:
        answer = _submit(slack, "qa", "U0CAROL", {}, **shape)
        assert answer.status_code == 200
        assert answer.json() == {"response_action": "errors", "errors": {field: reason}}, shape
    assert _open_bookings(services) == []
    assert [r.getMessage() for r in caplog.records] == []


def test_a_booking_the_database_drops_keeps_the_modal_open_with_the_reason(
        slack: SlackClientSim, services: Services, clock: Clock) -> None:
    values = {"date": f"{clock.now.date() + timedelta(days=1)}", "time": "18:00"}
    with failing(services.engine, lambda sql: "environment_state" in sql) as failed:
        answer = _submit(slack, "qa", "U0CAROL", values)
    assert failed and answer.status_code == 200
    assert answer.json()["response_action"] == "errors"
    assert "the database is not answering" in answer.json()["errors"]["end_date"]
    assert _open_bookings(services) == []
    again = _submit(slack, "qa", "U0CAROL", values)  # the user submits again: booked
    assert again.status_code == 200 and again.text == ""
    assert len(_open_bookings(services)) == 1


def test_bad_input_gets_a_clear_answer_and_changes_nothing(slack: SlackClientSim,
                                                           fake_slack: FakeSlack,
                                                           services: Services) -> None:
    for text, fragment in (("book nowhere 1d", "unknown environment `nowhere`"),
                           ("book staging-1 3x", "`3x` is not a duration"),
                           ("book staging-1 2020-01-01T10:00", "is in the past"),
                           ("book staging-1 1d ops-1", "not a Jira issue key"),
                           # bob may not book qa: he is told so, not that 4d is too long
                           ("book qa 4d", "only platform, web (or an admin) may book qa"),
                           ("release staging-1", "staging-1 is not booked"),
                           ("extend staging-1 1d", "staging-1 is not booked; book it with "
                                                   "`book staging-1 1d`"),
                           # qa is for platform and web: bob is not told to book it
                           ("extend qa 1d", "qa is not booked. Try"),
                           ("extend some-bucket 1d", "no resource `some-bucket`")):
        url = fake_slack.response_url()
        response = slack.command(text, user_id="U0BOB", response_url=url)
        assert response.status_code == 200
        body = response.json() if response.text else None  # parse errors answer in the ack
        reply = body["text"] if body else wait(
            lambda u=url: next((r for r in fake_slack.replies if r.url == u), None)).text
        assert fragment in reply, (text, reply)
    time.sleep(0.2)
    assert _posts(fake_slack) == [] and _open_bookings(services) == []
    with Session(services.engine) as session:
        changes = session.execute(select(func.count()).select_from(AuditLog).where(
            col(AuditLog.action).like("booking.%"))).scalar()
    assert changes == 0


def test_a_jira_transition_releases_the_booking_and_tells_the_holder(
        slack: SlackClientSim, fake_slack: FakeSlack, fake_jira: FakeJira,
        services: Services) -> None:
    fake_jira.add_issue("OPS-12")
    booked = _ask(slack, fake_slack, "book staging-1 2d OPS-12", "U0BOB")
    assert "linked to OPS-12" in json.dumps(booked.payload["blocks"])
    wait(lambda: fake_jira.comments("OPS-12"))
    assert "staging-1 booked by bob@example.com" in fake_jira.comments("OPS-12")[0]

    person = JiraClient(fake_jira.url, fake_jira.user, fake_jira.token, max_retries=0)
    try:
        person.transition("OPS-12", "Done")  # someone closes the ticket in Jira
    finally:
        person.close()
    assert [d.status for d in fake_jira.wait_for_deliveries(1)] == [200]
    assert _open_bookings(services) == []
    told = wait(lambda: [m for m in fake_slack.messages("D0BOB") if "is free" in m.text])
    assert "released because OPS-12 was closed" in json.dumps(told[0].blocks)
    wait(lambda: len(fake_jira.comments("OPS-12")) == 2)
    assert "staging-1 released (jira" in fake_jira.comments("OPS-12")[1]


def test_a_ticket_is_checked_in_jira_before_a_booking_links_it(
        slack: SlackClientSim, fake_slack: FakeSlack, fake_jira: FakeJira,
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_jira.add_issue("OPS-20", status="Done")
    fake_jira.add_issue("OPS-21", status="In Progress")
    for text, fragment in (
            ("book staging-1 2d OPS-404", "OPS-404 is not in Jira, or I may not see it"),
            # closing it would release the booking: linking a closed one makes no sense
            ("book staging-1 2d OPS-20", "OPS-20 is already Done, which releases staging-1")):
        assert fragment in _ask(slack, fake_slack, text, "U0BOB").text, text
    modal = _submit(slack, "qa", "U0CAROL", {"duration": "1d", "ticket": "OPS-404"})
    assert "OPS-404 is not in Jira" in modal.json()["errors"]["ticket"]
    assert _open_bookings(services) == []

    # Jira failing does not stop a booking: it is linked unchecked
    fake_jira.fail_next(http_fakes.Reply(503, "Service Unavailable"), method="GET",
                        path_contains="/issue/OPS-21")
    booked = _ask(slack, fake_slack, "book staging-1 2d OPS-21", "U0BOB")
    assert booked.text.startswith("You have staging-1"), booked.text
    assert [b.ticket for b in _open_bookings(services)] == ["OPS-21"]
    asked = [c.path for c in fake_jira.calls_to("GET", "/issue/")]
    assert asked == ["/rest/api/2/issue/OPS-404", "/rest/api/2/issue/OPS-20",
                     "/rest/api/2/issue/OPS-404", "/rest/api/2/issue/OPS-21"]

    # the modal's answer is due within 3 s: a Jira slower than a second is not waited for, so
    # the Done ticket it would have refused is linked
    fake_jira.slow_next(2.5, method="GET", path_contains="/issue/OPS-20")
    late = _submit(slack, "qa", "U0CAROL", {"duration": "1d", "ticket": "OPS-20"})
    assert late.status_code == 200 and late.text == ""
    assert sorted(b.ticket or "" for b in _open_bookings(services)) == ["OPS-20", "OPS-21"]
    # nor does a command wait long on a Jira that hangs (5 s; shortened here)
    monkeypatch.setattr(envs, "JIRA_WAIT", 0.5)
    fake_jira.slow_next(2.5, method="GET", path_contains="/issue/OPS-20")
    booked = _ask(slack, fake_slack, "book staging-2 1d OPS-20", "U0BOB")
    assert booked.text.startswith("You have staging-2"), booked.text


def test_app_home_lists_what_i_hold_and_what_i_wait_for_with_buttons_that_work_there(
        slack: SlackClientSim, fake_slack: FakeSlack, fake_jira: FakeJira,
        services: Services) -> None:
    fake_jira.add_issue("OPS-50")
    _ask(slack, fake_slack, "book staging-1 2d OPS-50", "U0BOB")

    def home(user: str) -> str:
        before = len(fake_slack.calls("views.publish"))
        event = {"type": "app_home_opened", "user": user, "channel": f"D{user[1:]}",
                 "tab": "home"}
        assert slack.event(event, event_id=f"EvHome{before}").status_code == 200
        wait(lambda: len(fake_slack.calls("views.publish")) > before)
        return _dump(fake_slack.home_views[user])

    bob = home("U0BOB")
    assert "*My bookings*" in bob and "`staging-1` until " in bob and "(2d left) · OPS-50" in bob
    assert '"env_release"' in bob and '"env_extend_1d"' in bob and '"env_notify"' not in bob
    # the other environments, with the buttons bob may use: qa is for platform and web only
    others = _dump(fake_slack.home_views["U0BOB"]["blocks"]).split("*Shared environments*")[1]
    assert "*staging-2* — free" in others and '"env_book"' in others
    assert "*qa* — free · for platform, web" in others and others.count('"env_book"') == 1
    assert "*staging-1*" not in others  # his, with its buttons, under My bookings

    # Book in App Home: the modal opens, and its answer comes by DM (no channel to answer in)
    opened = len(fake_slack.calls("views.open"))
    assert slack.home_action("env_book", "staging-2", user_id="U0BOB").status_code == 200
    modal = wait(lambda: fake_slack.calls("views.open")[opened:])[0].args["view"]
    assert _submit(slack, "staging-2", "U0BOB", {"duration": "1d"},
                   metadata=modal["private_metadata"]).status_code == 200
    wait(lambda: [m for m in fake_slack.messages("D0BOB")
                  if m.text.startswith("You have staging-2")])
    assert sorted(b.env for b in _open_bookings(services)) == ["staging-1", "staging-2"]
    _ask(slack, fake_slack, "release staging-2", "U0BOB")

    # the buttons beside the booking work from App Home, where there is no message to answer:
    # the answer comes by DM and the Home is drawn again
    publishes = len(fake_slack.calls("views.publish"))
    assert slack.home_action("env_extend_1d", "staging-1", user_id="U0BOB").status_code == 200
    told = wait(lambda: [m for m in fake_slack.messages("D0BOB") if "extended" in m.text])
    assert told[0].text.startswith("staging-1 extended"), told[0].text
    wait(lambda: len(fake_slack.calls("views.publish")) == publishes + 1)
    assert "(3d left) · OPS-50" in _dump(fake_slack.home_views["U0BOB"])

    _press(slack, fake_slack, "env_notify", "staging-1", "U0CAROL")
    carol = home("U0CAROL")
    assert "*My bookings*\\n• waiting for `staging-1`: 1st in line" in carol
    mine, others = carol.split("*Shared environments*")
    assert '"env_release"' not in mine  # she holds nothing
    assert "*staging-1* — booked by " in others and "1 waiting" in others

    publishes = len(fake_slack.calls("views.publish"))
    assert slack.home_action("env_release", "staging-1", user_id="U0BOB").status_code == 200
    wait(lambda: len(fake_slack.calls("views.publish")) == publishes + 1)
    assert "*My bookings*\\n_none_" in _dump(fake_slack.home_views["U0BOB"])
    assert _open_bookings(services) == []
    wait(lambda: [m for m in fake_slack.messages("D0CAROL") if "is free" in m.text])


def test_a_comment_jira_did_not_take_is_posted_late_in_order_once(
        slack: SlackClientSim, fake_slack: FakeSlack, fake_jira: FakeJira,
        services: Services, clock: Clock) -> None:
    fake_jira.add_issue("OPS-40")
    fake_jira.fail_next(http_fakes.Reply(503, "Service Unavailable"), times=None,
                        method="POST", path_contains="/comment")
    _ask(slack, fake_slack, "book staging-1 2d OPS-40", "U0BOB")
    queued = wait(lambda: _audit(services, "booking.jira"))
    assert json.loads(queued[0].details)["retry"] is True
    _ask(slack, fake_slack, "extend staging-1 1d", "U0BOB")
    wait(lambda: not _pending_events(services))
    # the extension's comment waits behind the booking's: Jira was asked once, not twice
    assert len(fake_jira.calls_to("POST", "/comment")) == 1
    assert not [m for m in fake_slack.messages("D0BOB") if "could not comment" in m.text]

    # Jira still does not take it: the tickets job fails and asks again next time
    with pytest.raises(ProviderError, match="0 late comments posted, then OPS-40: .*HTTP 503"):
        run_job(services, "tickets")
    assert len(fake_jira.calls_to("POST", "/comment")) == 2
    fake_jira.clear_failures()
    assert run_job(services, "tickets").endswith(", 2 late comments posted")
    posted = fake_jira.comments("OPS-40")
    assert [c.split(" by ")[0] for c in posted] == ["staging-1 booked",
                                                    "staging-1 booking extended"]
    assert all("posted late: Jira did not answer at" in c for c in posted)
    assert run_job(services, "tickets").endswith(", 0 late comments posted")
    assert len(fake_jira.comments("OPS-40")) == 2  # never twice

    # a comment Jira does not take for a week is given up, and the holder told
    fake_jira.fail_next(http_fakes.Reply(503, "Service Unavailable"), times=None,
                        method="POST", path_contains="/comment")
    _ask(slack, fake_slack, "release staging-1", "U0BOB")
    wait(lambda: not _pending_events(services))
    clock.now += timedelta(days=8)
    assert run_job(services, "tickets").endswith(", 0 late comments posted")
    told = wait(lambda: [m for m in fake_slack.messages("D0BOB") if "could not comment" in m.text])
    assert "did not take my comment for 7 days" in told[0].text
    assert "staging-1 released" in told[0].text
    assert len(fake_jira.comments("OPS-40")) == 2


def _pending_events(services: Services) -> list[Any]:
    with Session(services.engine) as session:
        return bookings.pending_events(session)


def test_a_ticket_closed_while_its_webhook_was_lost_is_released_by_the_tickets_job(
        slack: SlackClientSim, fake_slack: FakeSlack, fake_jira: FakeJira,
        services: Services) -> None:
    for key in ("OPS-30", "OPS-31"):
        fake_jira.add_issue(key)
    _ask(slack, fake_slack, "book staging-1 2d OPS-30", "U0BOB")
    _ask(slack, fake_slack, "book staging-2 2d OPS-31", "U0CAROL")
    assert JOBS["tickets"].schedule(services) == Schedule("*/5 * * * *")  # Jira is configured
    assert JOBS["tickets"].schedule(dataclasses.replace(services, jira=None)) is None
    assert run_job(services, "tickets").startswith("2 linked tickets, 0 released, ")

    fake_jira.webhook_url = None  # the bot was down: the transitions' webhooks never arrive
    person = JiraClient(fake_jira.url, fake_jira.user, fake_jira.token, max_retries=0)
    try:
        person.transition("OPS-30", "Done")
        person.transition("OPS-31", "Review")  # not a release status
    finally:
        person.close()
    assert fake_jira.deliveries == []

    # Jira down: the job fails (log, metrics), nothing is released, the next run tries again;
    # the bookings job does not ask Jira at all
    fake_jira.fail_next(http_fakes.Reply(503, "Service Unavailable"), method="GET",
                        path_contains="/issue/")
    with pytest.raises(ProviderError, match="checking OPS-30 stopped the round: .*HTTP 503"):
        run_job(services, "tickets")
    asked = len(fake_jira.calls_to("GET", "/issue/"))
    run_job(services, "bookings")
    assert len(fake_jira.calls_to("GET", "/issue/")) == asked
    assert len(_open_bookings(services)) == 2

    # (the bookings' own effects may still be running: how many events it processed varies)
    assert run_job(services, "tickets").startswith("2 linked tickets, 1 released, ")
    assert [b.env for b in _open_bookings(services)] == ["staging-2"]
    told = wait(lambda: [m for m in fake_slack.messages("D0BOB") if "is free" in m.text])
    assert "released because OPS-30 was closed" in json.dumps(told[0].blocks)
    released = _audit(services, "booking.release")
    assert [(a.actor, a.origin, json.loads(a.details)["reason"]) for a in released] == [
        ("jira", "jira", "jira")]
    assert run_job(services, "tickets").startswith("1 linked tickets, 0 released, ")
    # staging-2 taken out of the config: nothing would release its booking, so its ticket is
    # not asked about
    services.config = services.config.model_copy(update={"environments": [
        e for e in services.config.environments if e.name != "staging-2"]})
    asked = len(fake_jira.calls_to("GET", "/issue/"))
    assert run_job(services, "tickets").startswith("0 linked tickets, 0 released, ")
    assert len(fake_jira.calls_to("GET", "/issue/")) == asked
