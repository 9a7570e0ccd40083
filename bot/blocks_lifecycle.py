"""Block Kit for TTL workflows: warnings with Extend / Destroy now / Request exemption, expiry
notices, what was (or would have been) done, exemption requests, and the admins' alerts. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.blocks_kit import (
    Block,
    Message,
    actions,
    button,
    confirm_dialog,
    context,
    section,
    text_message,
)
from bot.costs import money
from bot.durations import parse_span
from bot.lifecycle import EXTEND_CHOICES, provider_action

_THEN = {
    "notify": "you will be reminded",
    "stop": "it will be *stopped*",
    "destroy": "it will be *destroyed*",
    "notify-then-destroy": "it will be *destroyed* after a grace period",
}
_DONE = {"stop": "Stopped", "destroy": "Destroyed"}
_WOULD = {"stop": "would stop", "destroy": "would destroy"}


@dataclass(frozen=True, slots=True)
class TtlView:
    """A resource's TTL as people see it."""

    resource_id: str
    name: str
    owner: str | None
    team: str | None
    expires_at: datetime | None
    source: str
    action: str
    state: str = "active"
    next_at: datetime | None = None
    outcome: str = ""
    daily_cost: float | None = None
    currency: str = "USD"
    # how much later than now + its current expiry ``lifecycle.max_extension`` lets it go:
    # the Extend buttons that fit (None: all of them)
    extend_room: timedelta | None = None

    @property
    def label(self) -> str:
        if self.name and self.name != self.resource_id:
            return f"`{self.name}` ({self.resource_id})"
        return f"`{self.resource_id}`"


def when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment:%a %b %d %H:%M} UTC"


def _cost(v: TtlView) -> str:
    return "" if v.daily_cost is None else f" It costs about {money(v.daily_cost, v.currency)}/day."


def extend_button(resource_id: str, span: str) -> Block:
    """"Extend 3d" on a resource's TTL (``EXTEND_CHOICES``), wherever a TTL is shown."""
    return button(f"Extend {span}", f"ttl_extend_{span}", resource_id)


def warning_buttons(v: TtlView) -> Block:
    destroy = confirm_dialog(
        "Destroy now?", f"{v.label} will be destroyed now. This cannot be undone.",
        yes="Destroy",
    )  # fmt: skip
    fitting = [c for c in EXTEND_CHOICES
               if v.extend_room is None or parse_span(c) <= v.extend_room]
    return actions(
        *(extend_button(v.resource_id, c) for c in fitting),
        button("Destroy now", "ttl_destroy_now", v.resource_id, style="danger", confirm=destroy),
        button("Request exemption", "ttl_exempt", v.resource_id),
        block_id=f"ttl:{v.resource_id}"[:255],
    )


def warning_message(v: TtlView, *, escalated_from: str | None = None) -> Message:
    """The owner's warning (or the team manager's, when the owner is unknown)."""
    then = _THEN.get(v.action, "you will be reminded")
    text = f"{v.label} expires {when(v.expires_at)}; then {then}."
    lines = [f":hourglass: {text}{_cost(v)}"]
    if escalated_from is not None:
        lines.append(f"You get this because {escalated_from}; please find its owner or act.")
    blocks = [
        section("\n".join(lines)),
        context(f"TTL from {v.source} · team {v.team or 'none'}"),
        warning_buttons(v),
    ]
    return text, blocks


def notice_message(v: TtlView, *, destroy_at: datetime) -> Message:
    """notify-then-destroy: the resource expired; it goes at ``destroy_at`` unless extended."""
    text = f"{v.label} has expired and will be destroyed {when(destroy_at)} unless extended."
    return text, [section(f":warning: {text}{_cost(v)}"), context(f"TTL from {v.source}"),
                  warning_buttons(v)]


def expired_message(v: TtlView) -> Message:
    """notify: the TTL passed; nothing else happens."""
    text = f"{v.label} has expired ({when(v.expires_at)}). Extend it or clean it up."
    return text, [section(f":alarm_clock: {text}{_cost(v)}"), context(f"TTL from {v.source}"),
                  warning_buttons(v)]


def acted_message(v: TtlView, *, dry_run: bool) -> Message:
    """What the act step did, or would have done in a dry run."""
    verb = provider_action(v.action) or "notify"
    if dry_run:
        expired = when(v.expires_at)
        text = f"Dry run: finops-bot {_WOULD.get(verb, verb)} {v.label} (expired {expired})."
        note = "Enforcement is off, so nothing was changed."
    else:
        text = f"{_DONE.get(verb, verb)} {v.label} (expired {when(v.expires_at)})."
        note = "Saves" + (f" about {money(v.daily_cost, v.currency)}/day." if v.daily_cost
                          else " its running cost.")
    return text, [section(text), context(f"{note} TTL from {v.source}")]


def skipped_message(v: TtlView, *, reason: str) -> Message:
    verb = provider_action(v.action) or "act on"
    text = f"Did not {verb} {v.label}: {reason}."
    return text_message(text)


def _next_step(v: TtlView, now: datetime, dry_run: bool) -> str:
    """What the workflow does next and when: "" once it is closed."""
    if v.next_at is None or v.state in ("done", "exempt"):
        return ""
    if v.state == "active":
        step = "a warning to its owner"
    elif v.state == "warned" and v.action == "notify-then-destroy":
        step = "the expiry notice"
    else:
        verb = provider_action(v.action)
        step = "a reminder to its owner"
        if verb:
            step = f"{verb} it (a dry run: enforcement is off)" if dry_run else f"{verb} it"
    if v.next_at <= now:
        return f"Next: {step}, due since {when(v.next_at)}: at the next lifecycle sweep."
    return f"Next: {step}, {when(v.next_at)}."


def _expiry(v: TtlView, now: datetime) -> str:
    """"expires Sat Nov 28 06:00 UTC", or "expired …" once that has passed."""
    if v.expires_at is None:
        return "has no TTL"
    return f"{'expired' if v.expires_at <= now else 'expires'} {when(v.expires_at)}"


def _then_line(v: TtlView) -> str:
    if v.state == "exempt":
        return "it is exempt, so nothing will be done"
    if v.state == "done":
        return "its workflow is over: nothing more will be done"
    return f"then {_THEN.get(v.action, v.action).replace('*', '')}"


def ttl_message(v: TtlView, *, now: datetime, dry_run: bool) -> Message:
    """`/finops ttl R`; ``dry_run`` when enforcement is off."""
    state = {"active": "active", "warned": "warned", "due": "expired, awaiting the grace period",
             "done": f"done ({v.outcome})", "exempt": "exempt"}.get(v.state, v.state)
    text = f"{v.label} {_expiry(v, now)}"
    lines = [
        f"*{text}*",
        f"TTL from {v.source}; {_then_line(v)}.",
        f"Owner {v.owner or 'unowned'} · team {v.team or 'none'} · state {state}",
    ]
    if step := _next_step(v, now, dry_run):
        lines.append(step)
    return text, [section("\n".join(lines)), context(f"`extend {v.name or v.resource_id} 3d` "
                                                     "to push it back")]


def extended_message(v: TtlView, *, previous: datetime | None, by: str) -> Message:
    text = f"{v.label} now expires {when(v.expires_at)} (was {when(previous)}), set by {by}."
    return text, [section(f":white_check_mark: {text}")]


def exemption_request_message(v: TtlView, *, exemption_id: int, requester: str,
                              reason: str) -> Message:
    text = f"{requester} asks that {v.label} be exempt from its TTL."
    because = f"\n>{reason}" if reason else ""
    return text, [
        section(f"{text}{because}"),
        context(f"Expires {when(v.expires_at)} · TTL from {v.source} · team {v.team or 'none'}"),
        actions(
            button("Approve", "ttl_exempt_approve", str(exemption_id), style="primary"),
            button("Deny", "ttl_exempt_deny", str(exemption_id)),
        ),
    ]


def exemption_decided_message(v: TtlView, *, approved: bool, by: str) -> Message:
    text = (f"Exemption for {v.label} {'approved' if approved else 'denied'} by {by}."
            + ("" if approved else f" It still expires {when(v.expires_at)}."))
    return text_message(text)


def cap_message(*, acted: int, remaining: int, cap: int) -> Message:
    text = (f"finops-bot stopped its lifecycle run after {acted} actions (the cap is {cap}); "
            f"{remaining} more were due. Check the policies, then raise "
            "`lifecycle.max_actions_per_run` or let the next run continue.")
    return text, [section(f":octagonal_sign: {text}")]


def failure_message(v: TtlView, *, error: str, attempts: int, retry_at: datetime) -> Message:
    verb = provider_action(v.action) or "act on"
    text = (f"Could not {verb} {v.label} (attempt {attempts}): {error}. "
            f"It will be tried again {when(retry_at)}.")
    return text, [section(f":x: {text}")]


def unreachable_message(v: TtlView, *, now: datetime) -> Message:
    text = (f"{v.label} {_expiry(v, now)} but has no owner or team manager to warn; nothing "
            f"will be done to it until it has one: `owner {v.name or v.resource_id} @user`.")
    return text, [section(f":grey_question: {text}")]


def paused_message(*, paused: bool, by: str) -> Message:
    text = (f"Lifecycle actions paused by {by}: no stop or destroy until `resume-actions`."
            if paused else f"Lifecycle actions resumed by {by}.")
    return text_message(text)


# --- power schedules -------------------------------------------------------------------------

KEEP = "power_keep"
KEEP_MODAL = "power_keep_modal"


def power_notice_message(*, schedule: str, label: str, stop_at: datetime, tz: str,
                         value: str) -> Message:
    """Before a scheduled stop: what stops when, and the Keep running tonight button."""
    local = stop_at.strftime("%H:%M")
    text = f"{label} stops at {local} ({tz}) tonight: schedule {schedule}."
    return text, [section(f":crescent_moon: {text}"),
                  actions(button("Keep running tonight", KEEP, value))]


def power_done_message(*, schedule: str, label: str, verb: str, dry_run: bool) -> Message:
    text = (f"Dry run: finops-bot would {verb} {label} (schedule {schedule})." if dry_run
            else f"{'Stopped' if verb == 'stop' else 'Started'} {label} (schedule {schedule}).")
    return text_message(text)


def keep_modal(*, label: str, metadata: str) -> Block:
    """Asks why a resource must keep running tonight (the reason is recorded)."""
    return {
        "type": "modal", "callback_id": KEEP_MODAL,
        "title": {"type": "plain_text", "text": "Keep running tonight"},
        "submit": {"type": "plain_text", "text": "Keep it running"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": metadata[:3000],
        "blocks": [
            section(f"{label} will not be stopped tonight."),
            {"type": "input", "block_id": "reason",
             "label": {"type": "plain_text", "text": "Why?"},
             "element": {"type": "plain_text_input", "action_id": "value", "max_length": 400,
                         "placeholder": {"type": "plain_text",
                                         "text": "e.g. load test running overnight"}}},
        ],
    }


def kept_message(*, label: str, night: str, reason: str, by: str) -> Message:
    text = f"{label} keeps running tonight ({night}), asked by {by}: {reason}"
    return text, [section(f":white_check_mark: {text}")]
