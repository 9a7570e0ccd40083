"""Block Kit for what the bot sends unprompted: digests, anomaly alerts, and App Home."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.blocks_kit import button
from bot.blocks_lifecycle import extend_button
from bot.costs import money, pct, signed_money
from bot.digest import Digest

Block = dict[str, Any]
Message = tuple[str, list[Block]]
ANOMALY_ACTIONS = ("anomaly_ack", "anomaly_expected", "anomaly_snooze", "anomaly_breakdown")
_LIMIT = 2900


def _section(text: str) -> Block:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": text if len(text) <= _LIMIT else text[:_LIMIT] + "…"},
    }


def _fields(*pairs: tuple[str, str]) -> Block:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in pairs[:10]],
    }


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:_LIMIT]}]}


def _bullets(items: Sequence[str], limit: int = 5) -> str:
    shown = "\n".join(f"• {item}" for item in items[:limit])
    more = len(items) - limit
    return shown + (f"\n…and {more} more" if more > 0 else "")


def _ttl_rows(items: Sequence[tuple[str, datetime, str]], verb: str) -> list[Block]:
    """A resource's TTL per line (App Home, digests), with the Extend 3d button of the TTL
    warnings."""
    rows: list[Block] = [
        {**_section(f"`{name}` {verb} {at:%a %b %d %H:%M} UTC"),
         "accessory": extend_button(resource_id, "3d")}
        for name, at, resource_id in items[:5]
    ]
    if len(items) > 5:
        rows.append(_context(f"…and {len(items) - 5} more: `ttl R` shows one"))
    return rows


def _all_of(same_as: Sequence[tuple[str, str]]) -> str:
    """" (all of service `BigQuery`)": what else a mover's line stands for."""
    if not same_as:
        return ""
    return " (all of " + ", ".join(f"{d} `{n}`" for d, n in same_as) + ")"


def digest_message(d: Digest) -> Message:
    """The daily digest of one owner or team."""
    cur = d.currency
    forecast = money(d.forecast, cur)  # a person has no budget; a team may have none set
    if d.budget is not None:
        flag = ":red_circle: over" if d.over_budget else ":large_green_circle: within"
        forecast += f" vs budget {money(d.budget, cur)} ({flag})"
    out: list[Block] = [
        _header(f"Daily costs: {d.title} ({d.day:%a %b %d})"),
        _fields(
            (
                "Yesterday",
                f"{money(d.yesterday.current, cur)} ({pct(d.yesterday.pct)} vs a week before)",
            ),
            (
                "Last 7 days",
                f"{money(d.week.current, cur)} "
                f"({signed_money(d.week.delta, cur)}, {pct(d.week.pct)})",
            ),
            ("Month to date", money(d.mtd, cur)),
            ("Month-end forecast", forecast),
        ),
    ]
    if d.movers:
        out.append(
            _section(
                "*Top movers (7 days vs the 7 before)*\n"
                + _bullets(
                    [
                        f"{m.dimension} `{m.name}`{_all_of(m.same_as)}: "
                        f"{signed_money(m.change.delta, cur)} ({pct(m.change.pct)})"
                        for m in d.movers
                    ],
                    limit=6,
                )
            )
        )
    if d.anomalies:
        out.append(_section(":rotating_light: *New anomalies*\n" + _bullets(d.anomalies)))
    if d.expiring:
        out += [_section(":hourglass: *TTLs expiring within 72 h*"), *_ttl_rows(d.expiring, "at")]
    if d.expired:
        out += [_section(":warning: *Past their TTL, still running*"),
                *_ttl_rows(d.expired, "expired")]
    if d.unowned:
        out.append(
            _section(
                ":grey_question: *Resources with no owner tag*\n"
                + _bullets([f"`{n}`" for n in d.unowned])
            )
        )
    if d.saved_mtd > 0:
        out.append(
            _context(f":moneybag: The bot's actions saved {money(d.saved_mtd, cur)} this month.")
        )
    text = (
        f"{d.title}: {money(d.yesterday.current, cur)} yesterday, {money(d.mtd, cur)} month to date"
    )
    return text, out


def anomaly_line(label: str, day: date, actual: float, expected: float, currency: str) -> str:
    """One line naming an anomaly (its scope as ``alerts.labels`` gives it), for digests and
    lists."""
    return (
        f"{label} on {day:%b %d}: {money(actual, currency)} vs "
        f"{money(expected, currency)} expected"
    )


@dataclass(frozen=True, slots=True)
class AlertView:
    """An anomaly as shown in an alert."""

    anomaly_id: int
    series: str
    day: date
    expected: float
    actual: float
    impact: float
    impact_pct: float
    score: float
    currency: str
    causes: Sequence[tuple[str, float, float]]  # (name, delta, share)
    status: str = "open"
    feedback_by: str | None = None
    label: str = ""  # how people know the scope: "resource events" for "resource://bigquery…"

    @property
    def title(self) -> str:
        return self.label or self.series


def _share(share: float) -> str:
    """A cause's share of the change: "under 1%" where a percentage would round to 0 (or
    -0)."""
    return "under 1%" if abs(share) < 0.005 else f"{share:.0%}"


def anomaly_message(a: AlertView) -> Message:
    """An alert with expected vs actual, root cause and the feedback buttons."""
    cur = a.currency
    causes = (
        _bullets(
            [
                f"`{name}`: {signed_money(delta, cur)} ({_share(share)} of the change)"
                for name, delta, share in a.causes
            ],
            limit=3,
        )
        or "_no breakdown_"
    )
    out: list[Block] = [
        _header(f"Cost anomaly: {a.title}"[:150]),
        _fields(
            ("Day", f"{a.day:%a %b %d}"),
            ("Actual", money(a.actual, cur)),
            ("Expected", money(a.expected, cur)),
            ("Impact", f"{signed_money(a.impact, cur)} ({a.impact_pct:+.0f}%)"),
        ),
        _section(f"*Root cause*\n{causes}"),
    ]
    if a.status == "open":
        value = str(a.anomaly_id)
        out.append(
            {
                "type": "actions",
                "block_id": f"anomaly-{a.anomaly_id}",
                "elements": [
                    button("Acknowledge", "anomaly_ack", value, style="primary"),
                    button("Expected (planned)", "anomaly_expected", value),
                    button("Snooze 7 days", "anomaly_snooze", value),
                    button("Breakdown", "anomaly_breakdown", value),
                ],
            }
        )
    else:
        label = {"acknowledged": "acknowledged", "expected": "marked as expected (planned)"}
        out.append(
            _context(
                f":white_check_mark: {label.get(a.status, a.status)} by "
                f"{a.feedback_by or 'someone'}"
            )
        )
    out.append(_context(f"score {a.score:.1f} · anomaly #{a.anomaly_id}"))
    text = (
        f"Cost anomaly in {a.title}: {money(a.actual, cur)} vs {money(a.expected, cur)} "
        f"expected on {a.day:%b %d}"
    )
    return text, out


def breakdown_message(a: AlertView, rows: Sequence[tuple[str, float, float]]) -> Message:
    """The full breakdown behind an anomaly: (name, that day, baseline)."""
    lines = [
        f"`{name}`: {money(now_, a.currency)} vs {money(base, a.currency)}"
        for name, now_, base in rows
    ]
    text = f"Breakdown of {a.title} on {a.day:%b %d}"
    return text, [_section(f"*{text}*\n" + (_bullets(lines, limit=15) or "_nothing_"))]


@dataclass(frozen=True, slots=True)
class HomeView:
    """What App Home shows one person."""

    email: str
    resources: Sequence[tuple[str, float, str]]  # (name, cost last 30 days, its currency)
    resource_count: int
    team: str | None
    team_mtd: Mapping[str, float] | None  # month to date per currency, never summed together
    team_budget: float | None
    anomalies: Sequence[str]
    expiring: Sequence[tuple[str, datetime, str]]  # (name, expiry, resource id)
    # environments held: a line and its buttons each (``blocks_envs.held_line``, ``buttons``)
    bookings: Sequence[tuple[str, Block]] = ()
    waiting: Sequence[str] = ()  # environments waited for ("waiting for `qa`: 1st in line")
    environments: Sequence[Block] = ()  # the other shared environments, with their buttons
    saved_mtd: float = 0.0  # what the bot's stops and destroys saved this person this month
    team_currency: str = "USD"  # the team's budget currency (config teams.<name>.currency)
    expired: Sequence[tuple[str, datetime, str]] = ()  # past their TTL, still running
    admin: bool = False  # ``anomalies`` are every open one, as `/finops anomalies` shows admins


def home_view(h: HomeView) -> dict[str, Any]:
    """The App Home tab (views.publish)."""
    mine = _bullets([f"`{name}`: {money(cost, cur)}" for name, cost, cur in h.resources],
                    limit=10)
    out: list[Block] = [
        _header("Your cloud costs"),
        _section(f"*My resources* ({h.resource_count}), last 30 days\n" + (mine or "_none yet_")),
    ]
    if h.team is not None:
        cur, mtd = h.team_currency, h.team_mtd or {}
        budget = money(h.team_budget, cur) if h.team_budget is not None else "no budget"
        others = [money(cost, other) for other, cost in sorted(mtd.items()) if other != cur]
        also = f" (and {', '.join(others)} in other currencies)" if others else ""
        out.append(_section(f"*Team {h.team}*: {money(mtd.get(cur, 0.0), cur)} month to date "
                            f"of {budget}{also}"))
    title = "*Open anomalies* (all: you are an admin)" if h.admin else "*My open anomalies*"
    out.append(_section(f"{title}\n" + (_bullets(list(h.anomalies)) or "_none_")))
    if not h.bookings:
        out.append(_section("*My bookings*\n" + (_bullets(list(h.waiting)) or "_none_")))
    else:  # each held environment with its Release and Extend buttons
        out.append(_section("*My bookings*"))
        for line, buttons in h.bookings[:10]:
            out += [_section(line), buttons]
        if h.waiting:
            out.append(_section(_bullets(list(h.waiting))))
    if h.environments:
        out.append(_section("*Shared environments*"))
        out += h.environments
    if not h.expiring:
        out.append(_section("*TTLs expiring soon*\n_none_"))
    else:
        out += [_section("*TTLs expiring soon*"), *_ttl_rows(h.expiring, "at")]
    if h.expired:
        out += [_section("*Past their TTL, still running*"), *_ttl_rows(h.expired, "expired")]
    if h.saved_mtd > 0:
        out.append(_context(f":moneybag: finops-bot's stops and destroys saved you "
                            f"{money(h.saved_mtd, 'USD')} this month."))  # savings are in USD
    return {"type": "home", "blocks": out}


def home_without_email() -> dict[str, Any]:
    """The App Home tab of someone whose Slack email the bot cannot read (a guest, or an app
    installed without the ``users:read.email`` scope): why it is empty."""
    return {"type": "home", "blocks": [
        _header("Your cloud costs"),
        _section("I find your resources and costs by your email in Slack, and I could not read "
                 "yours: Slack gives no email for guest accounts, or for anyone when the app "
                 "lacks the `users:read.email` scope. Ask whoever installed finops-bot."),
    ]}
