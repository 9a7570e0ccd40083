"""Block Kit for shared environments: lists, cards, confirmations, reminders, the Book modal.

Pure builders (snapshot-tested): domain objects in, ``(text, blocks)`` or a view dict out. Every
message about an environment carries its buttons: Book when it is free; Release, Extend
1d/3d/7d (those that fit in what is left of ``max_booking``) and "Notify me when free" when it is
held. Button values carry the environment name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.blocks_kit import button
from bot.booking import Held, span_text
from bot.costs import money
from bot.durations import parse_span

Block = dict[str, Any]
Message = tuple[str, list[Block]]
BOOK, RELEASE, NOTIFY = "env_book", "env_release", "env_notify"
EXTEND = {"1d": "env_extend_1d", "3d": "env_extend_3d", "7d": "env_extend_7d"}
MODAL = "env_book_modal"
_LIMIT = 2900
_MAX_LISTED = 20  # two blocks each: stays under Slack's 50 blocks per message


@dataclass(frozen=True, slots=True)
class EnvView:
    """What a message shows about one environment."""

    name: str
    team: str | None = None
    held: Held | None = None
    queue: Sequence[str] = ()  # people waiting, as shown (mentions or emails)
    rate: Mapping[str, float] = field(default_factory=dict)  # cost per day, per currency
    resources: int = 0
    max_booking: str = "7d"
    deploys: Sequence[str] = ()  # the last deploys, one mrkdwn line each, newest first
    version: str = "unknown"  # what runs there: the last successful deploy
    # to someone who may not book it (nor queue, release or extend): who may; no buttons then
    only_for: str | None = None
    yours: bool = False  # shown to its holder: no "Notify me when free"


def when(moment: datetime) -> str:
    return f"{moment:%a %b %d %H:%M} UTC"


def who(held: Held) -> str:
    return f"<@{held.holder_user_id}>" if held.holder_user_id else held.holder


def costs_text(amounts: Mapping[str, float]) -> str:
    return " + ".join(money(v, cur) for cur, v in sorted(amounts.items())) or "no cost data"


def _section(text: str) -> Block:
    return {"type": "section",
            "text": {"type": "mrkdwn", "text": text if len(text) <= _LIMIT else text[:_LIMIT]}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:_LIMIT]}]}


def buttons(view: EnvView, *, for_holder: bool = False) -> Block:
    """Book when free; Release, Extend and (unless only the holder sees it) Notify me when
    held."""
    if view.held is None:
        elements = [button("Book", BOOK, view.name, style="primary")]
    else:
        elements = [button("Release", RELEASE, view.name, style="danger")]
        # only the extensions that fit in what is left of max_booking (checked again on click)
        room = view.held.started_at + parse_span(view.max_booking) - view.held.until
        elements += [button(f"Extend {label}", action, view.name)
                     for label, action in EXTEND.items() if parse_span(label) <= room]
        if not for_holder:
            elements.append(button("Notify me when free", NOTIFY, view.name))
    return {"type": "actions", "elements": elements}


def held_line(view: EnvView, *, now: datetime) -> str:
    """One held environment in its holder's App Home."""
    assert view.held is not None
    ticket = f" · {view.held.ticket}" if view.held.ticket else ""
    return (f"`{view.name}` until {when(view.held.until)} "
            f"({span_text(view.held.until - now)} left){ticket}")


def status_line(view: EnvView) -> str:
    if view.held is None:
        return "free"
    ticket = f" ({view.held.ticket})" if view.held.ticket else ""
    return f"booked by {who(view.held)} until {when(view.held.until)}{ticket}"


def envs_message(views: Sequence[EnvView], unknown: Sequence[str] = ()) -> Message:
    """`/finops envs`: each environment with its state and buttons; ``unknown``: environments
    deployed to that the config does not know (shown to admins)."""
    if not views:
        text = "No shared environments are configured."
        return text, [_section(text)] + _unknown(unknown)
    blocks: list[Block] = [{"type": "header",
                            "text": {"type": "plain_text", "text": "Shared environments"}}]
    blocks += env_rows(views)
    blocks += _unknown(unknown)
    free = sum(v.held is None for v in views)
    return f"Shared environments: {free} of {len(views)} free", blocks


def env_rows(views: Sequence[EnvView]) -> list[Block]:
    """Each environment's state and the buttons its viewer may use (`envs`, App Home)."""
    blocks: list[Block] = []
    for view in views[:_MAX_LISTED]:
        waiting = f" · {len(view.queue)} waiting" if view.queue else ""
        only = f" · for {view.only_for}" if view.only_for else ""
        blocks.append(_section(f"*{view.name}* — {status_line(view)}{waiting}{only}"))
        blocks += [] if view.only_for else [buttons(view, for_holder=view.yours)]
    if len(views) > _MAX_LISTED:
        blocks.append(_context(f"Showing {_MAX_LISTED} of {len(views)}; `env E` shows one."))
    return blocks


def _unknown(names: Sequence[str]) -> list[Block]:
    if not names:
        return []
    return [_context("Deploys to environments not in the config: " + ", ".join(names[:10])
                     + (f" and {len(names) - 10} more" if len(names) > 10 else ""))]


def _lines(lines: Sequence[str], limit: int = 1800) -> str:
    """Whole lines while they fit a section field (Slack allows 2000 characters)."""
    kept: list[str] = []
    for line in lines:
        if sum(len(k) + 1 for k in kept) + len(line) > limit:
            break
        kept.append(line)
    return "\n".join(kept)


def env_message(view: EnvView) -> Message:
    """`/finops env E`: holder, queue, deploys, version, cost per day."""
    held = view.held
    holder = "nobody (free)" if held is None else f"{who(held)} until {when(held.until)}"
    fields = [
        ("Holder", holder),
        ("Ticket", (held.ticket if held and held.ticket else "none")),
        ("Queue", ", ".join(view.queue) if view.queue else "nobody waiting"),
        ("Cost per day", costs_text(view.rate)),
        ("Last deploys", _lines(view.deploys) or "no deploys recorded"),
        ("Current version", view.version[:1800]),
    ]
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Environment {view.name}"}},
        {"type": "section",
         "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields]},
        _context(f"team {view.team or 'none'} · {view.resources} "
                 f"resource{'' if view.resources == 1 else 's'} · "
                 f"max booking {view.max_booking}"
                 + (f" · bookable by {view.only_for} only" if view.only_for else "")),
    ]
    blocks += [] if view.only_for else [buttons(view, for_holder=view.yours)]
    return f"{view.name}: {status_line(view)}", blocks


def booked_message(view: EnvView, expected: Mapping[str, float]) -> Message:
    """To the person who booked."""
    assert view.held is not None
    held = view.held
    span = span_text(held.until - held.started_at)
    ticket = f", linked to {held.ticket}" if held.ticket else ""
    text = (f":white_check_mark: You have *{view.name}* until {when(held.until)} ({span}{ticket}). "
            f"Expected cost: *{costs_text(expected)}*.")
    return (f"You have {view.name} until {when(held.until)}",
            [_section(text), buttons(view, for_holder=True)])


def busy_message(view: EnvView) -> Message:
    """Someone else holds it: say who, and offer the queue."""
    assert view.held is not None
    text = f"*{view.name}* is {status_line(view)}."
    if view.queue:
        text += f" Waiting: {', '.join(view.queue)}."
    offer = {"type": "actions",
             "elements": [button("Notify me when free", NOTIFY, view.name, style="primary")]}
    return f"{view.name} is {status_line(view)}", [_section(text), offer]


def extended_message(view: EnvView, previous: datetime, extra: Mapping[str, float]) -> Message:
    assert view.held is not None
    text = (f":hourglass_flowing_sand: *{view.name}* extended from {when(previous)} to "
            f"{when(view.held.until)} (+{span_text(view.held.until - previous)}). "
            f"Expected extra cost: {costs_text(extra)}.")
    return (f"{view.name} extended until {when(view.held.until)}",
            [_section(text), buttons(view, for_holder=True)])


def released_message(view: EnvView, held: Held, *, by: str, reason: str, ended: datetime,
                     actual: Mapping[str, float], estimated_days: int) -> Message:
    """The release, with what the booking actually cost."""
    released = "released" if by.lower() == held.holder.lower() else f"released by {by}"
    why = {"released": released, "expired": "ended (its time was up)",
           "jira": f"released because {held.ticket} was closed ({by})"}.get(reason, reason)
    note = (f" ({estimated_days} day{'s' if estimated_days != 1 else ''} estimated: billing "
            "data arrives a day or two late)") if estimated_days else ""
    text = (f":unlock: *{view.name}* is free: {who(held)}'s booking {why}. Held "
            f"{span_text(ended - held.started_at)}, cost *{costs_text(actual)}*{note}.")
    return f"{view.name} is free", [_section(text), buttons(view)]


def acquired_message(view: EnvView, expected: Mapping[str, float]) -> Message:
    """To the environment's channel."""
    assert view.held is not None
    held = view.held
    ticket = f" for {held.ticket}" if held.ticket else ""
    text = (f":lock: *{view.name}* booked by {who(held)}{ticket} until {when(held.until)} "
            f"({span_text(held.until - held.started_at)}, expected {costs_text(expected)}).")
    return f"{view.name} booked by {held.holder}", [_section(text), buttons(view)]


def queued_message(view: EnvView, position: int) -> Message:
    text = (f":bell: You're number {position} in line for *{view.name}*; "
            "I'll tell you when it is free.")
    return f"You're number {position} in line for {view.name}", [_section(text)]


def reminder_message(view: EnvView, *, now: datetime) -> Message:
    """To the holder, before the end: extend or release."""
    assert view.held is not None
    left = span_text(max(view.held.until - now, timedelta(0)))
    text = (f":alarm_clock: Your booking of *{view.name}* ends in {left} "
            f"({when(view.held.until)}). Extend it, or release it if you are done.")
    return f"{view.name} ends in {left}", [_section(text), buttons(view, for_holder=True)]


def freed_for_you_message(view: EnvView) -> Message:
    text = f":tada: *{view.name}* is free now. Book it before someone else does."
    return f"{view.name} is free", [_section(text), buttons(view)]


def hook_failed_message(env: str, event: str, failures: Sequence[str], *,
                        mention: str | None = None) -> Message:
    """A grant that failed (to the holder) or a revoke that failed (to the team)."""
    what = ("could not grant access" if event == "acquire" else
            "could not revoke access" if event == "release" else f"hook failed ({event})")
    lines = "\n".join(f"• {f}" for f in failures[:5])
    ask = (f"{mention}: please revoke it by hand and check the hook." if mention and
           event == "release" else "The booking stands; ask your team if you need access now.")
    text = f":warning: *{env}*: the access hook {what}.\n{lines}\n{ask}"
    return f"{env}: the access hook {what}", [_section(text)]


def notice_message(text: str) -> Message:
    return text, [_section(f":warning: {text}")]


def book_modal(env: str, *, today: datetime, metadata: Mapping[str, str]) -> dict[str, Any]:
    """The Book modal: an end date and time (your time zone), or a duration; a ticket."""

    def text_input(block: str, label: str, hint: str) -> Block:
        return {"type": "input", "block_id": block, "optional": True,
                "label": {"type": "plain_text", "text": label},
                "hint": {"type": "plain_text", "text": hint},
                "element": {"type": "plain_text_input", "action_id": "value",
                            "placeholder": {"type": "plain_text", "text": hint}}}

    return {
        "type": "modal", "callback_id": MODAL,
        "title": {"type": "plain_text",
                  "text": f"Book {env}" if len(env) <= 19 else "Book an environment"},
        "submit": {"type": "plain_text", "text": "Book"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(dict(metadata), sort_keys=True),
        "blocks": [
            _section(f"Book *{env}* from now until the end you choose."),
            {"type": "input", "block_id": "end_date", "optional": True,
             "label": {"type": "plain_text", "text": "Until (date)"},
             "element": {"type": "datepicker", "action_id": "value",
                         "initial_date": f"{today + timedelta(days=1):%Y-%m-%d}"}},
            {"type": "input", "block_id": "end_time", "optional": True,
             "label": {"type": "plain_text", "text": "Until (time, your time zone)"},
             "element": {"type": "timepicker", "action_id": "value", "initial_time": "18:00"}},
            text_input("duration", "Or a duration", "30m, 4h, 3d, 1w (wins over the date)"),
            text_input("ticket", "Jira ticket", "OPS-123 (optional)"),
        ],
    }


def cannot_book_modal(env: str, reason: str) -> dict[str, Any]:
    """What the Book modal becomes for someone who may not book ``env``: why, and no form."""
    return {
        "type": "modal", "callback_id": MODAL,
        "title": {"type": "plain_text",
                  "text": f"Book {env}" if len(env) <= 19 else "Book an environment"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [_section(f":no_entry: {reason[:1].upper()}{reason[1:]}.")],
    }
