"""Block Kit (and PR / MR comment text) about deploys: pure builders, snapshot-tested.

A deploy is shown as its commit (short sha, ref, version, title), who deployed it, its status
and a link to the run. Text from the CI systems (titles, names) is escaped for mrkdwn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.blocks_envs import Message, _context, _section, costs_text, when, who
from bot.booking import Held

ICONS = {"success": ":white_check_mark:", "failure": ":x:", "error": ":x:",
         "canceled": ":no_entry_sign:", "running": ":arrows_counterclockwise:",
         "pending": ":hourglass_flowing_sand:", "queued": ":hourglass_flowing_sand:",
         "inactive": ":zzz:"}
SOURCES = {"github": "GitHub", "gitlab": "GitLab", "jenkins": "Jenkins"}


@dataclass(frozen=True, slots=True)
class DeployFacts:
    """One deploy as messages show it."""

    env: str
    status: str
    source: str
    deployer: str
    started_at: datetime
    sha: str | None = None
    ref: str | None = None
    version: str | None = None
    title: str | None = None
    url: str | None = None
    deployer_slack_id: str | None = None


def esc(text: str) -> str:
    """mrkdwn control characters as entities (Slack's escaping rules)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str | None, label: str) -> str:
    return f"<{url}|{esc(label)}>" if url else esc(label)


def by(deploy: DeployFacts) -> str:
    return f"<@{deploy.deployer_slack_id}>" if deploy.deployer_slack_id else esc(deploy.deployer)


def what(deploy: DeployFacts, *, title: bool = True) -> str:
    """`` `f95f852` master 1.4.2 “Add new file” `` (whatever of it is known)."""
    parts = [f"`{deploy.sha[:7]}`" if deploy.sha else "", esc(deploy.ref or ""),
             esc(deploy.version or "")]
    if title and deploy.title:
        short = deploy.title if len(deploy.title) <= 80 else deploy.title[:79] + "…"
        parts.append(f"“{esc(short)}”")
    return " ".join(p for p in parts if p) or "an unknown commit"


def history_line(deploy: DeployFacts) -> str:
    """One line of `env E`'s last deploys."""
    icon = ICONS.get(deploy.status, ":grey_question:")
    return (f"{icon} {what(deploy, title=False)} by {by(deploy)} · "
            f"{_link(deploy.url, f'{deploy.started_at:%b %d %H:%M}')}")


def version_text(deploy: DeployFacts | None) -> str:
    """What runs in the environment: its last successful deploy."""
    if deploy is None:
        return "unknown"
    return f"{what(deploy)} ({when(deploy.started_at)})"


def channel_message(deploy: DeployFacts) -> Message:
    """The environment channel's line about a finished deploy."""
    icon = ICONS.get(deploy.status, ":grey_question:")
    source = SOURCES.get(deploy.source, deploy.source)
    text = (f"{icon} *{esc(deploy.env)}*: {what(deploy)} deployed by {by(deploy)} — "
            f"*{deploy.status}* ({_link(deploy.url, source)})")
    return f"{deploy.env}: {deploy.status} deploy by {deploy.deployer}", [_section(text)]


def holder_warning(deploy: DeployFacts, held: Held) -> Message:
    """To the holder of a booked environment someone else deploys into."""
    text = (f":warning: {by(deploy)} is deploying {what(deploy)} to *{esc(deploy.env)}*, "
            f"which you have booked until {when(held.until)} "
            f"({_link(deploy.url, 'the run')}). Your setup there may change.")
    return f"{deploy.deployer} is deploying to {deploy.env}, which you booked", [_section(text)]


def deployer_warning(deploy: DeployFacts, held: Held) -> Message:
    """To the person deploying into an environment someone else has booked."""
    ticket = f" for {held.ticket}" if held.ticket else ""
    text = (f":warning: *{esc(deploy.env)}* is booked by {who(held)}{ticket} until "
            f"{when(held.until)}, and your deploy of {what(deploy)} is going there "
            f"({_link(deploy.url, 'the run')}). Please check with them first.")
    return f"{deploy.env} is booked by {held.holder}", [_section(text)]


def failed_message(deploy: DeployFacts, held: Held) -> Message:
    """To the holder: a deploy into their environment failed."""
    text = (f":x: A deploy into *{esc(deploy.env)}* (booked by you) failed: {what(deploy)} "
            f"by {by(deploy)} — *{deploy.status}* ({_link(deploy.url, 'logs')}).")
    return f"A deploy into {deploy.env} failed", [_section(text),
                                                  _context(f"booked until {when(held.until)}")]


def unknown_line(name: str, count: int, last: datetime) -> str:
    """An environment deployed to that the config does not know (shown to admins)."""
    return f"`{esc(name)}` ({count} deploy{'s' if count != 1 else ''}, last {when(last)})"


def change_request_comment(deploy: DeployFacts, held: Held | None,
                           rate: Mapping[str, float]) -> str:
    """Markdown for the PR / MR: where it was deployed, who holds that environment, its cost."""
    sha = f" `{deploy.sha[:7]}`" if deploy.sha else ""
    booking = (f"booked by {held.holder} until {when(held.until)}"
               + (f" ({held.ticket})" if held.ticket else "") if held is not None
               else "not booked")
    cost = f"about {costs_text(rate)} a day" if rate else "no cost data yet"
    return (f"Deployed{sha} to **{deploy.env}** ({deploy.status}). The environment is "
            f"{booking}; it costs {cost}. (finops-bot)")
