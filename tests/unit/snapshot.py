"""Snapshot checks for Block Kit builders (``UPDATE_SNAPSHOTS=1 pytest tests/unit`` rewrites)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.fakes.slack_blocks import message_errors

SNAPSHOTS = Path(__file__).parent / "snapshots"


def check_snapshot(name: str, payload: Any) -> None:
    """``payload`` as stored in snapshots/NAME.json (written instead with UPDATE_SNAPSHOTS)."""
    actual = json.dumps(payload, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path = SNAPSHOTS / f"{name}.json"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")


def check_message(name: str, message: tuple[str, list[dict[str, Any]]]) -> None:
    """A builder's (text, blocks): within Slack's limits, and as in its snapshot."""
    text, built = message
    assert message_errors(built) == []
    assert text and len(text) < 3000
    check_snapshot(name, {"text": text, "blocks": built})
