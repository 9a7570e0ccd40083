"""The chat transport port, the console transport, and a plain-text rendering of Block Kit.

``ChatTransport`` is what jobs and handlers send through; ``providers.slack.SlackTransport`` is
the Slack Web API implementation. ``ConsoleTransport`` prints instead, for local runs with no
Slack configured and for ``finops-bot shell``; ``render_blocks`` turns Block Kit into the text it
prints.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TextIO, runtime_checkable

Block = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    """One message as sent through a transport (ephemeral ones carry the one user who sees it)."""

    channel: str
    text: str
    blocks: list[Block] | None = None
    thread_ts: str | None = None
    ephemeral_user: str | None = None


@runtime_checkable
class ChatTransport(Protocol):
    """Sends messages, files and App Home views, and resolves people, on a chat platform."""

    def post(self, channel: str, text: str, blocks: list[Block] | None = None, *,
             thread_ts: str | None = None) -> str:
        """Post to a channel (or thread); returns the message ts. ``text`` is the fallback."""
        ...

    def post_ephemeral(self, channel: str, user: str, text: str,
                       blocks: list[Block] | None = None) -> None:
        """Post a message only ``user`` sees in ``channel``."""
        ...

    def open_dm(self, user_id: str) -> str:
        """The direct-message channel with ``user_id`` (opened if needed), for posts and files."""
        ...

    def dm(self, user_id: str, text: str, blocks: list[Block] | None = None) -> str:
        """Open (or reuse) the direct-message channel with ``user_id`` and post; returns the ts."""
        ...

    def upload_file(self, channel: str, filename: str, content: bytes, title: str,
                    comment: str = "") -> str:
        """Share a file in ``channel`` with an optional comment; returns the file id."""
        ...

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        """Replace ``user_id``'s App Home with ``view`` (``{"type": "home", "blocks": ...}``)."""
        ...

    def lookup_user_by_email(self, email: str) -> str | None:
        """The chat user id for ``email``, or None when nobody has that address."""
        ...

    def respond(self, response_url: str, payload: dict[str, Any]) -> None:
        """Answer a command or interaction through its ``response_url``."""
        ...

    def usergroup_members(self, group_id: str) -> list[str]:
        """The chat user ids in user group ``group_id`` (a Slack id like ``S0123``)."""
        ...


def _text(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return "" if obj is None else str(obj)


def _element(el: dict[str, Any]) -> str:
    kind = el.get("type")
    if kind == "button":
        return f"[{_text(el.get('text'))}]"
    if kind in ("plain_text", "mrkdwn"):
        return _text(el)
    if kind == "image":
        return f"[image: {el.get('alt_text', '')}]"
    if kind == "overflow":
        return "[...]"
    if kind in ("datepicker", "timepicker", "datetimepicker"):
        initial = el.get("initial_date") or el.get("initial_time") or el.get("initial_date_time")
        return f"[{kind}: {initial or 'choose'}]"
    if "placeholder" in el or "initial_option" in el:
        chosen = el.get("initial_option")
        label = _text(chosen.get("text")) if isinstance(chosen, dict) else _text(
            el.get("placeholder"))
        return f"[{label or kind} ▾]"
    return f"[{kind}]"


def _rich_text(elements: Iterable[Any]) -> str:
    parts: list[str] = []
    for el in elements:
        if not isinstance(el, dict):
            continue
        if "elements" in el:
            parts.append(_rich_text(el["elements"]))
        elif el.get("type") == "link":
            parts.append(str(el.get("text") or el.get("url", "")))
        elif el.get("type") == "user":
            parts.append(f"<@{el.get('user_id', '')}>")
        else:
            parts.append(str(el.get("text") or el.get("name") or ""))
    return "".join(parts)


def _block(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    lines: list[str] = []
    if kind == "header":
        lines.append(f"# {_text(block.get('text'))}")
    elif kind == "section":
        if block.get("text"):
            lines.extend(_text(block["text"]).splitlines())
        for field in block.get("fields") or []:
            lines.append("  " + " ".join(_text(field).split("\n")))
        if isinstance(block.get("accessory"), dict):
            lines.append("  " + _element(block["accessory"]))
    elif kind == "divider":
        lines.append("-" * 40)
    elif kind == "context":
        lines.append(" | ".join(_element(el) for el in block.get("elements") or []))
    elif kind == "actions":
        lines.append(" ".join(_element(el) for el in block.get("elements") or []))
    elif kind == "image":
        title = _text(block.get("title")) or block.get("alt_text", "")
        lines.append(f"[image: {title}] {block.get('image_url', '')}".rstrip())
    elif kind == "file":
        lines.append(f"[file: {block.get('external_id', '')}]")
    elif kind == "input":
        element = block.get("element")
        shown = _element(element) if isinstance(element, dict) else "[input]"
        lines.append(f"{_text(block.get('label'))}: {shown}")
    elif kind == "rich_text":
        lines.extend(_rich_text(block.get("elements") or []).splitlines())
    elif kind == "markdown":
        lines.extend(str(block.get("text", "")).splitlines())
    else:
        lines.append(f"[{kind}]")
    return lines


def render_blocks(blocks: Iterable[Block]) -> str:
    """Block Kit as plain text: mrkdwn kept, ``# header``, buttons as ``[Label]``, one line per
    context/actions block, images and files as ``[image: ...]`` / ``[file: ...]`` lines."""
    lines: list[str] = []
    for block in blocks:
        lines.extend(_block(block) if isinstance(block, dict) else [str(block)])
    return "\n".join(lines)


class ConsoleTransport:
    """Prints what would go to Slack, and keeps the messages in ``sent`` for inspection.

    There is no directory in console mode: ``lookup_user_by_email`` answers a stable pseudo id,
    ``"U"`` + the first 10 hex digits (upper case) of the SHA-256 of the lower-cased email, so
    everyone "exists" and the same person always gets the same id.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.sent: list[Message] = []
        self._seq = itertools.count(1)

    def _print(self, heading: str, body: str) -> None:
        self.stream.write(f"--- {heading}\n{body}\n" if body else f"--- {heading}\n")
        self.stream.flush()

    def _show(self, heading: str, message: Message) -> str:
        self.sent.append(message)
        body = render_blocks(message.blocks) if message.blocks else message.text
        self._print(heading, body)
        return f"console.{next(self._seq):06d}"

    def post(self, channel: str, text: str, blocks: list[Block] | None = None, *,
             thread_ts: str | None = None) -> str:
        where = f"{channel} (thread {thread_ts})" if thread_ts else channel
        return self._show(where, Message(channel, text, blocks, thread_ts))

    def post_ephemeral(self, channel: str, user: str, text: str,
                       blocks: list[Block] | None = None) -> None:
        self._show(f"{channel} (only {user} sees this)",
                   Message(channel, text, blocks, ephemeral_user=user))

    def open_dm(self, user_id: str) -> str:
        return f"@{user_id}"

    def dm(self, user_id: str, text: str, blocks: list[Block] | None = None) -> str:
        return self.post(self.open_dm(user_id), text, blocks)

    def upload_file(self, channel: str, filename: str, content: bytes, title: str,
                    comment: str = "") -> str:
        self._print(f"{channel} file", "\n".join(
            line for line in (comment, f"[file: {title} ({filename}, {len(content)} bytes)]")
            if line))
        return f"Fconsole{next(self._seq):06d}"

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        self._print(f"App Home of {user_id}", render_blocks(view.get("blocks") or []))

    def lookup_user_by_email(self, email: str) -> str | None:
        return "U" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:10].upper()

    def respond(self, response_url: str, payload: dict[str, Any]) -> None:
        visibility = payload.get("response_type", "ephemeral")
        note = (", deletes the original" if payload.get("delete_original")
                else ", replaces the original" if payload.get("replace_original") else "")
        self._show(f"reply ({visibility}{note})",
                   Message(response_url, str(payload.get("text", "")), payload.get("blocks")))

    def usergroup_members(self, group_id: str) -> list[str]:
        return []  # no user groups on the console: admins come from the config alone
