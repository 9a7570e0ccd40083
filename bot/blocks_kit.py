"""Block Kit primitives shared by the message builders (pure)."""

from __future__ import annotations

from typing import Any

Block = dict[str, Any]
Message = tuple[str, list[Block]]
TEXT_LIMIT = 2900  # Slack allows 3000 characters in a section or context; keep a margin


def section(text: str) -> Block:
    if len(text) > TEXT_LIMIT:
        text = text[: TEXT_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def text_message(text: str) -> Message:
    """A message that is just its text."""
    return text, [section(text)]


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:TEXT_LIMIT]}]}


def button(label: str, action_id: str, value: str, *, style: str | None = None,
           confirm: Block | None = None) -> Block:
    """A button; ``confirm`` is a Block Kit confirmation dialog shown before it fires."""
    out: Block = {"type": "button", "text": {"type": "plain_text", "text": label[:75]},
                  "action_id": action_id, "value": value[:2000]}
    if style:
        out["style"] = style
    if confirm:
        out["confirm"] = confirm
    return out


def confirm_dialog(title: str, text: str, *, yes: str, no: str = "Cancel") -> Block:
    return {
        "title": {"type": "plain_text", "text": title[:100]},
        "text": {"type": "mrkdwn", "text": text[:300]},
        "confirm": {"type": "plain_text", "text": yes[:30]},
        "deny": {"type": "plain_text", "text": no[:30]},
        "style": "danger",
    }


def actions(*elements: Block, block_id: str | None = None) -> Block:
    out: Block = {"type": "actions", "elements": list(elements)}
    if block_id:
        out["block_id"] = block_id
    return out
