"""Block Kit about deploys: snapshot-tested, within Slack's limits, CI text escaped.

Regenerate the snapshots after an intended change with ``UPDATE_SNAPSHOTS=1 pytest tests/unit``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import blocks_deploys, blocks_envs
from bot.blocks_deploys import DeployFacts
from bot.blocks_envs import EnvView
from bot.booking import Held
from tests.fakes.slack_blocks import message_errors
from tests.unit.snapshot import check_message

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
HELD = Held("b-1", "staging-1", "bob@example.com", NOW, NOW + timedelta(days=1), "OPS-7",
            "U0BOB")
DEPLOY = DeployFacts(env="staging-1", status="success", source="github", deployer="Codertocat",
                     started_at=NOW - timedelta(minutes=5),
                     sha="f95f852bd8fca8fcc58a9a2d6c842781e32a215e", ref="master",
                     version="1.4.2", title="Deploy the new greeting",
                     url="https://github.com/Codertocat/Hello-World/deployments",
                     deployer_slack_id="U0CAROL")
FAILED = replace(DEPLOY, status="failure", source="jenkins", deployer="carol@example.com",
                 deployer_slack_id=None, url="http://jenkins.example.com/job/deploy-web/42/")
CARD = EnvView("staging-1", team="platform", held=HELD, rate={"USD": 18.8}, resources=1,
               deploys=[blocks_deploys.history_line(DEPLOY), blocks_deploys.history_line(FAILED)],
               version=blocks_deploys.version_text(DEPLOY))

CASES: dict[str, Any] = {
    "deploy_channel": lambda: blocks_deploys.channel_message(DEPLOY),
    "deploy_holder_warning": lambda: blocks_deploys.holder_warning(DEPLOY, HELD),
    "deploy_deployer_warning": lambda: blocks_deploys.deployer_warning(DEPLOY, HELD),
    "deploy_failed": lambda: blocks_deploys.failed_message(FAILED, HELD),
    "env_with_deploys": lambda: blocks_envs.env_message(CARD),
    "envs_unknown": lambda: blocks_envs.envs_message(
        [CARD], [blocks_deploys.unknown_line("production", 3, NOW)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_message_snapshots(name: str) -> None:
    check_message(name, CASES[name]())


def test_text_from_ci_systems_is_escaped() -> None:
    nasty = replace(DEPLOY, title="<!channel> & <https://evil|click>", ref="a<b",
                    deployer="x>y", deployer_slack_id=None)
    text = json.dumps(blocks_deploys.channel_message(nasty)[1])
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp;" in text
    assert "a&lt;b" in text and "x&gt;y" in text


def test_what_shows_whatever_is_known() -> None:
    bare = DeployFacts(env="qa", status="running", source="jenkins", deployer="jenkins",
                       started_at=NOW)
    assert blocks_deploys.what(bare) == "an unknown commit"
    assert blocks_deploys.version_text(None) == "unknown"
    long = replace(DEPLOY, title="t" * 200)
    assert blocks_deploys.what(long).endswith("t…”")


def test_change_request_comment_names_booking_and_cost() -> None:
    booked = blocks_deploys.change_request_comment(DEPLOY, HELD, {"USD": 18.8})
    assert booked == ("Deployed `f95f852` to **staging-1** (success). The environment is "
                      "booked by bob@example.com until Sat Nov 28 10:00 UTC (OPS-7); it costs "
                      "about $18.80 a day. (finops-bot)")
    free = blocks_deploys.change_request_comment(DEPLOY, None, {})
    assert "is not booked; it costs no cost data yet" in free


def test_many_deploys_keep_the_card_within_limits() -> None:
    lines = [blocks_deploys.history_line(replace(DEPLOY, title="x" * 300, ref="r" * 200))] * 20
    _, built = blocks_envs.env_message(replace(CARD, deploys=lines))
    assert message_errors(built) == []
