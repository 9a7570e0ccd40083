"""Signed slash commands into the real app, answers read from the fake Slack."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from bot.services import Services
from storage.models import AuditLog, OwnerOverride
from tests.fakes.slack import FakeSlack
from tests.scenario.harness import SlackClientSim, signed_headers


def _wait_reply(fake: FakeSlack, count: int = 1, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(fake.replies) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(fake.replies) >= count, "no reply reached the response_url"


def test_help_is_answered_in_the_ack(slack: SlackClientSim, fake_slack: FakeSlack) -> None:
    response = slack.command("help", user_id="U0ALICE", response_url=fake_slack.response_url())
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "costs [me | team T" in str(body["blocks"])


def test_costs_team_answers_with_real_figures(slack: SlackClientSim, fake_slack: FakeSlack,
                                              services: Services) -> None:
    url = fake_slack.response_url()
    response = slack.command("costs team data 30d", user_id="U0BOB", response_url=url)
    assert response.status_code == 200 and response.text == ""
    _wait_reply(fake_slack)
    reply = fake_slack.replies[0]
    assert reply.response_type == "ephemeral"
    text = str(reply.payload["blocks"])
    assert "Costs: team data" in text
    assert "BigQuery" in text and "Kubernetes Engine" in text
    # the total shown is the database's total for team data over those 30 days
    from bot.costs import money, period_bounds
    from storage import costs

    period = period_bounds("30d", today=services.now().date())
    with Session(services.engine) as session:
        total = sum(t.cost for t in costs.totals(session, start=period.start, end=period.end,
                                                 group_by="provider",
                                                 where=costs.cost_filter(team="data")))
    assert total > 0 and money(total) in text


def test_costs_of_the_last_7_days_read_the_snapshot_and_say_what_cost_daily_says(
        slack: SlackClientSim, fake_slack: FakeSlack, services: Services) -> None:
    from sqlalchemy import delete

    from storage import rollup
    from storage.models import ResourceRecentCost

    yesterday = services.now().date() - timedelta(days=1)
    with Session(services.engine) as session:  # the demo ingest made one for yesterday
        assert rollup.recent(session, as_of=yesterday, metric="EffectiveCost")
    # one at a time: the answers are sent from a pool, in whatever order they finish
    for n, text in enumerate(("costs team data", "costs me"), start=1):
        slack.command(text, user_id="U0BOB", response_url=fake_slack.response_url())
        _wait_reply(fake_slack, n)
    with Session(services.engine) as session:
        session.execute(delete(ResourceRecentCost))
        session.commit()
    for n, text in enumerate(("costs team data", "costs me"), start=3):
        slack.command(text, user_id="U0BOB", response_url=fake_slack.response_url())
        _wait_reply(fake_slack, n)
    snapshot, daily = fake_slack.replies[:2], fake_slack.replies[2:]
    assert "Top resources" in str(snapshot[0].payload["blocks"])
    # by name, as people know them: a Google Cloud resource's id is a long path
    shown = str(snapshot[0].payload["blocks"])
    assert "• events — $" in shown and "googleapis.com" not in shown
    assert [r.payload["blocks"] for r in snapshot] == [r.payload["blocks"] for r in daily]


def test_unknown_words_get_error_and_help_only_for_the_caller(
        slack: SlackClientSim, fake_slack: FakeSlack) -> None:
    before = len(fake_slack.messages())
    response = slack.command("frobnicate now", user_id="U0ALICE",
                             response_url=fake_slack.response_url())
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "I don't know `frobnicate`" in body["text"]
    time.sleep(0.2)
    assert len(fake_slack.messages()) == before and fake_slack.replies == []


def test_a_command_that_cannot_be_done_gets_its_reason_not_the_command_list(
        slack: SlackClientSim, fake_slack: FakeSlack) -> None:
    # well-formed, but there is no team "nope": the reason and where help is, not all of help
    slack.command("costs team nope", user_id="U0BOB", response_url=fake_slack.response_url())
    # not in the grammar: the reason and the command list, in the ack itself
    bad = slack.command("costs planet mars", user_id="U0BOB",
                        response_url=fake_slack.response_url()).json()
    _wait_reply(fake_slack)
    reply = fake_slack.replies[0]
    assert reply.response_type == "ephemeral"
    assert reply.text == "unknown team `nope` (teams: data, platform, web). Try `/finops help`."
    assert "```" not in str(reply.payload["blocks"])
    assert "`/finops help` lists every command" in str(reply.payload["blocks"])
    assert bad["text"].startswith("usage: `costs") and "/finops book E" in str(bad["blocks"])
    # the same for a team's resources: a team that is neither configured nor anyone's
    slack.command("resources team nope", user_id="U0BOB", response_url=fake_slack.response_url())
    _wait_reply(fake_slack, 2)
    assert fake_slack.replies[1].text == reply.text
    # an account or a resource never seen is a typo to point out, not "no costs"
    slack.command("costs account nope", user_id="U0BOB", response_url=fake_slack.response_url())
    _wait_reply(fake_slack, 3)
    assert fake_slack.replies[2].text.startswith(
        "unknown account `nope` (accounts: prod (111111111111), staging (222222222222), ")
    slack.command("costs resource nope 30d", user_id="U0BOB",
                  response_url=fake_slack.response_url())
    _wait_reply(fake_slack, 4)
    assert fake_slack.replies[3].text.startswith("no resource `nope` (give its id or its unique")
    slack.command("costs account prod", user_id="U0BOB", response_url=fake_slack.response_url())
    _wait_reply(fake_slack, 5)
    assert "Costs: account prod" in str(fake_slack.replies[4].payload["blocks"])


def test_owner_change_needs_manager_or_admin(slack: SlackClientSim, fake_slack: FakeSlack,
                                             services: Services) -> None:
    # carol manages web, not platform: refused, and nothing changes
    slack.command("owner api-prod-1 <@U0BOB>", user_id="U0CAROL",
                  response_url=fake_slack.response_url())
    _wait_reply(fake_slack)
    assert fake_slack.replies[0].text.startswith(
        "only alice@example.com (manager of team platform) or an admin can reassign this "
        "resource.")
    with Session(services.engine) as session:
        assert session.execute(select(func.count()).select_from(OwnerOverride)).scalar() == 0
    # alice is an admin and manages platform: allowed, audited, shown in the channel
    slack.command("owner api-prod-1 <@U0BOB>", user_id="U0ALICE",
                  response_url=fake_slack.response_url())
    _wait_reply(fake_slack, 2)
    assert fake_slack.replies[1].response_type == "in_channel", fake_slack.replies[1].text
    assert "bob@example.com" in fake_slack.replies[1].text
    with Session(services.engine) as session:
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "owner.set")).one()
        assert audit.actor == "alice@example.com" and audit.origin == "slack"
    # a resource with no team has no manager: only an admin may give it an owner
    slack.command("owner mystery-box <@U0BOB>", user_id="U0CAROL",
                  response_url=fake_slack.response_url())
    _wait_reply(fake_slack, 3)
    assert "only an admin can reassign this resource: it has no team" in fake_slack.replies[2].text


def test_the_unowned_list_says_where_each_resource_is_and_how_to_give_it_an_owner(
        slack: SlackClientSim, fake_slack: FakeSlack) -> None:
    slack.command("resources unowned", user_id="U0BOB", response_url=fake_slack.response_url())
    _wait_reply(fake_slack)
    text = str(fake_slack.replies[0].payload["blocks"])
    assert "`mystery-box` — unowned / no team _(AWS · staging · Amazon Elastic Compute Cloud)_" \
        in text
    assert "`/finops owner R @user` gives one an owner" in text


def test_resource_lists_are_costliest_first_with_each_ones_cost_of_the_last_7_days(
        slack: SlackClientSim, fake_slack: FakeSlack, services: Services) -> None:
    from bot.costs import money
    from storage import costs
    from storage.models import Resource

    yesterday = services.now().date() - timedelta(days=1)
    with Session(services.engine) as session:  # what cost_daily says, not the snapshot
        week = {str(rid): cost for rid, _currency, cost in costs.grouped(
            session, by=["resource"], start=yesterday - timedelta(days=6), end=yesterday)}
        names = {r.resource_id: r.name for r in session.scalars(select(Resource))}
    for n, (text, who) in enumerate((("resources unowned", None),
                                     ("resources team data", "bob@example.com")), start=1):
        slack.command(text, user_id="U0BOB", response_url=fake_slack.response_url())
        _wait_reply(fake_slack, n)
        blocks = fake_slack.replies[n - 1].payload["blocks"]
        lines = blocks[1]["text"]["text"].splitlines()
        listed = [line.split("`")[1] for line in lines]
        ids = [rid for shown in listed for rid, name in names.items() if shown in (name, rid)]
        expected = sorted(ids, key=lambda rid: -week.get(rid, 0.0))
        assert ids == expected and len(ids) >= 3, (text, listed)
        for line, rid in zip(lines, ids, strict=True):
            if week.get(rid):
                assert line.endswith(f" · {money(week[rid])}"), line
            else:  # nothing in those 7 days: no figure
                assert line.endswith("_"), line
            assert who is None or who in line
        assert f"by cost in the 7 days to {yesterday:%a %b %d}" in str(blocks[-1])


def test_forged_and_stale_requests_get_401_and_change_nothing(
        slack: SlackClientSim, fake_slack: FakeSlack) -> None:
    before = len(fake_slack.calls())
    body = b"command=%2Ffinops&text=owner+api-prod-1+%3C%40U0BOB%3E&user_id=U0ALICE"
    forged = signed_headers(body, secret="not-the-secret")
    assert slack.post(body, forged).status_code == 401
    stale = signed_headers(body, timestamp=int(time.time()) - 600)
    assert slack.post(body, stale).status_code == 401
    unsigned = {"Content-Type": "application/x-www-form-urlencoded"}
    assert slack.post(body, unsigned).status_code == 401
    time.sleep(0.2)
    assert len(fake_slack.calls()) == before


def test_malformed_bodies_get_400(slack: SlackClientSim, fake_slack: FakeSlack) -> None:
    before = len(fake_slack.calls())
    for body, ctype in ((b"payload=%7Bnot-json", "application/x-www-form-urlencoded"),
                        (b"{not json", "application/json"),
                        (b"\xff\xfe", "application/x-www-form-urlencoded")):
        response = slack.post(body, signed_headers(body, content_type=ctype))
        assert response.status_code == 400, body
    assert len(fake_slack.calls()) == before


def test_a_name_two_resources_have_is_refused_with_their_ids(
        slack: SlackClientSim, fake_slack: FakeSlack, services: Services) -> None:
    from storage.models import Resource

    with Session(services.engine) as session:  # a second `events`, in another project
        today = services.now().date()
        session.add(Resource(resource_id="//bigquery.googleapis.com/projects/sandbox/datasets/"
                             "events", provider="Google Cloud", name="events", first_seen=today,
                             last_seen=today, owner="carol@example.com", team="web"))
        session.commit()
    for n, text in enumerate(("costs resource events", "owner events <@U0BOB>", "ttl events"),
                             start=1):
        slack.command(text, user_id="U0ALICE", response_url=fake_slack.response_url())
        _wait_reply(fake_slack, n)
    replies = [r.text for r in fake_slack.replies]
    assert len(replies) == 3
    for reply in replies:  # not both resources' costs summed, not "no resource"
        assert reply.startswith(
            "more than one resource is called `events`: give the id of the one you mean "
            "(`//bigquery.googleapis.com/projects/data-lake-prod/datasets/events`, "
            "`//bigquery.googleapis.com/projects/sandbox/datasets/events`)"), reply
    with Session(services.engine) as session:
        assert session.execute(select(func.count()).select_from(OwnerOverride)).scalar() == 0
