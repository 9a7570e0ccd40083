"""Block Kit builders: domain objects in, message dicts out. Pure; snapshot-tested.

Each builder returns ``(text, blocks)``: ``text`` is the notification fallback Slack shows in
notifications and screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from bot.commands import USAGE
from bot.costs import CostReport, Line, money, pct, signed_money

Block = dict[str, Any]
Message = tuple[str, list[Block]]
_SECTION_LIMIT = 2900  # Slack allows 3000 characters in a section; keep a margin


def _section(text: str) -> Block:
    if len(text) > _SECTION_LIMIT:
        text = text[: _SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:_SECTION_LIMIT]}]}


def help_message(command: str, *, error: str | None = None) -> Message:
    """The command list; with ``error`` first when the caller typed something the grammar does
    not take."""
    # each command line gets the command's name; continued descriptions stay in their column
    usage = "\n".join(
        line if line.startswith("DURATION")
        else " " * (len(command) + 1) + line if line.startswith(" ")
        else f"{command} {line}"
        for line in USAGE.splitlines()
    )
    blocks: list[Block] = []
    if error:
        blocks.append(_section(f":warning: {error}"))
    blocks.append(_section(f"```{usage}```"))
    text = _with_help_pointer(error, command) if error else f"{command} commands"
    return text, blocks


def _with_help_pointer(error: str, command: str) -> str:
    """The notification text of an error: the error as a sentence, then where help is."""
    end = "" if error.endswith((".", "!", "?")) else "."
    return f"{error}{end} Try `{command} help`."


def error_message(error: str, *, command: str) -> Message:
    """A well-formed command that cannot be done (an unknown environment, a booking that is
    not there, a zero duration): the reason, and where the command list is, not the list."""
    return _with_help_pointer(error, command), [
        _section(f":warning: {error}"), _context(f"`{command} help` lists every command")]


TOP_LINES = 5  # services and resources shown in a costs answer


def _lines(lines: Sequence[Line], limit: int) -> str:
    return (
        "\n".join(f"• {line.name} — {money(line.cost, line.currency)}" for line in lines[:limit])
        or "_nothing_"
    )


def note_message(text: str) -> Message:
    """A one-sentence answer, such as that there is nothing to show."""
    return text, [_section(text)]


def costs_message(report: CostReport) -> Message:
    """`/finops costs`: totals per currency with change, top services and resources."""
    if not report.totals:
        return note_message(f"No costs for {report.scope} in {report.period.label()}.")
    totals = "\n".join(
        f"*{money(c.current, cur)}*  ({signed_money(c.delta, cur)}, {pct(c.pct)} vs previous "
        f"{report.period.days} days)"
        for cur, c in sorted(report.totals.items())
    )
    blocks = [
        _header(f"Costs: {report.scope}"),
        _section(f"{report.period.label()} ({report.period.days} days)\n{totals}"),
        _section(f"*Top services*\n{_lines(report.services, TOP_LINES)}"),
    ]
    if not (len(report.resources) == 1 and report.scope == f"resource {report.resources[0].name}"):
        # one resource's costs need no list of one resource
        blocks.append(_section(f"*Top resources*\n{_lines(report.resources, TOP_LINES)}"))
    first = next(iter(sorted(report.totals.items())))
    text = f"Costs for {report.scope}, {report.period.label()}: {money(first[1].current, first[0])}"
    return text, blocks


def resources_message(
    title: str, rows: Sequence[tuple[str, str, str, str, str]], *, total: int,
    hint: str | None = None, costs_to: date | None = None,
) -> Message:
    """A list of resources as (name, owner, team, note, cost) rows, costliest first when
    ``costs_to`` is the last day of the costs shown (the 7 days to it); ``total`` may exceed the
    rows."""
    if not rows:
        return f"{title}: none.", [_section(f"*{title}*: none.")]
    body = "\n".join(f"• `{name}` — {owner} / {team} _({note})_" + (f" · {cost}" if cost else "")
                     for name, owner, team, note, cost in rows)
    blocks = [_header(title), _section(body)]
    shown = f"Showing {len(rows)} of {total}." if total > len(rows) else ""
    order = (f"Costliest first, by cost in the 7 days to {costs_to:%a %b %d}."
             if costs_to is not None else "")
    if shown or hint or order:
        blocks.append(_context(" ".join(t for t in (shown, order, hint) if t)))
    return f"{title}: {total} resources", blocks


def owner_changed_message(resource: str, owner: str, *, by: str) -> Message:
    text = f"{resource} now belongs to {owner} (set by {by}); rules no longer change it."
    return text, [
        _section(
            f":white_check_mark: `{resource}` now belongs to *{owner}* "
            f"(set by {by}); rules no longer change it."
        )
    ]


def list_message(title: str, lines: Sequence[str], *, limit: int = 20) -> Message:
    """A titled bullet list (or "none")."""
    if not lines:
        return f"{title}: none.", [_section(f"*{title}*: none.")]
    body = "\n".join(f"• {line}" for line in lines[:limit])
    out = [_header(title), _section(body)]
    if len(lines) > limit:
        out.append(_context(f"Showing {limit} of {len(lines)}."))
    return f"{title}: {len(lines)}", out
