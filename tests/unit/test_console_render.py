"""Block Kit rendered as console text, and what the console transport prints and keeps."""

from __future__ import annotations

import io
from typing import Any

from providers.chat import ConsoleTransport, Message, render_blocks


def _button(label: str, action_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": label},
            "action_id": action_id, "value": action_id, **extra}


DIGEST: list[dict[str, Any]] = [
    {"type": "header", "text": {"type": "plain_text", "text": "Daily cost digest: payments"}},
    {"type": "section", "text": {"type": "mrkdwn", "text":
        "*Mon 3 Mar 2025* · yesterday *$1,234.56* (+12.0 % vs 7-day mean)"}},
    {"type": "section", "fields": [
        {"type": "mrkdwn", "text": "*Month to date*\n$18,210.00"},
        {"type": "mrkdwn", "text": "*Forecast*\n$41,900.00 of $40,000 budget"},
    ]},
    {"type": "divider"},
    {"type": "section",
     "text": {"type": "mrkdwn", "text": "*Top services*\n• Amazon EC2 — $812.40\n"
                                        "• Amazon RDS — $301.10"},
     "accessory": _button("Details", "details")},
    {"type": "section", "text": {"type": "mrkdwn", "text":
        ":warning: *2 unowned resources* cost $44.10: "
        "<https://console.aws.amazon.com/ec2|i-0abc>, `db-tmp-7`"}},
    {"type": "image", "image_url": "https://example.com/chart.png", "alt_text": "30-day spend"},
    {"type": "actions", "elements": [
        _button("Claim i-0abc", "claim", style="primary"),
        _button("Extend 1d", "extend"),
        {"type": "static_select", "action_id": "reassign", "options": [],
         "placeholder": {"type": "plain_text", "text": "Reassign"}},
        {"type": "overflow", "action_id": "more", "options": []},
    ]},
    {"type": "context", "elements": [
        {"type": "mrkdwn", "text": "Owner <@U0ANN>"},
        {"type": "plain_text", "text": "Data up to 2 Mar (billing lags 24-48 h)"},
        {"type": "image", "image_url": "https://example.com/aws.png", "alt_text": "AWS"},
    ]},
]

DIGEST_TEXT = """\
# Daily cost digest: payments
*Mon 3 Mar 2025* · yesterday *$1,234.56* (+12.0 % vs 7-day mean)
  *Month to date* $18,210.00
  *Forecast* $41,900.00 of $40,000 budget
----------------------------------------
*Top services*
• Amazon EC2 — $812.40
• Amazon RDS — $301.10
  [Details]
:warning: *2 unowned resources* cost $44.10: <https://console.aws.amazon.com/ec2|i-0abc>, `db-tmp-7`
[image: 30-day spend] https://example.com/chart.png
[Claim i-0abc] [Extend 1d] [Reassign ▾] [...]
Owner <@U0ANN> | Data up to 2 Mar (billing lags 24-48 h) | [image: AWS]"""


def test_digest_renders_as_plain_text() -> None:
    assert render_blocks(DIGEST) == DIGEST_TEXT


def test_modal_and_rich_text_blocks() -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "input", "label": {"type": "plain_text", "text": "Duration"},
         "element": {"type": "plain_text_input", "action_id": "d",
                     "placeholder": {"type": "plain_text", "text": "4h"}}},
        {"type": "input", "label": {"type": "plain_text", "text": "Until"},
         "element": {"type": "datepicker", "action_id": "u", "initial_date": "2025-03-04"}},
        {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
            {"type": "text", "text": "Booked by "}, {"type": "user", "user_id": "U0ANN"},
            {"type": "text", "text": ", see "},
            {"type": "link", "url": "https://jira.example.com/OPS-1", "text": "OPS-1"}]}]},
        {"type": "file", "external_id": "costs.csv", "source": "remote"},
        {"type": "video_call"},
    ]
    assert render_blocks(blocks) == (
        "Duration: [4h ▾]\n"
        "Until: [datepicker: 2025-03-04]\n"
        "Booked by <@U0ANN>, see OPS-1\n"
        "[file: costs.csv]\n"
        "[video_call]"
    )


def test_console_transport_prints_and_keeps_messages() -> None:
    out = io.StringIO()
    console = ConsoleTransport(out)
    first = console.post("#payments", "digest", DIGEST[:1])
    second = console.post("#payments", "in thread", thread_ts=first)
    console.post_ephemeral("#payments", "U0ANN", "only you")
    console.dm("U0ANN", "your env expires")
    assert first != second
    assert console.sent == [
        Message("#payments", "digest", DIGEST[:1]),
        Message("#payments", "in thread", None, thread_ts=first),
        Message("#payments", "only you", ephemeral_user="U0ANN"),
        Message("@U0ANN", "your env expires"),
    ]
    assert out.getvalue() == (
        "--- #payments\n# Daily cost digest: payments\n"
        f"--- #payments (thread {first})\nin thread\n"
        "--- #payments (only U0ANN sees this)\nonly you\n"
        "--- @U0ANN\nyour env expires\n"
    )


def test_console_files_home_and_replies() -> None:
    out = io.StringIO()
    console = ConsoleTransport(out)
    file_id = console.upload_file("#payments", "costs.png", b"\x89PNG" * 10, "Costs", "Chart")
    console.publish_home("U0ANN", {"type": "home", "blocks": DIGEST[:1]})
    console.respond("https://hooks.example/r/1", {"text": "Booked", "replace_original": True})
    assert file_id.startswith("F")
    assert out.getvalue() == (
        "--- #payments file\nChart\n[file: Costs (costs.png, 40 bytes)]\n"
        "--- App Home of U0ANN\n# Daily cost digest: payments\n"
        "--- reply (ephemeral, replaces the original)\nBooked\n"
    )


def test_console_lookup_is_a_stable_pseudo_id() -> None:
    console = ConsoleTransport(io.StringIO())
    ann = console.lookup_user_by_email("ann@example.com")
    assert ann == console.lookup_user_by_email("  ANN@example.com ")
    assert ann is not None and ann.startswith("U") and len(ann) == 11 and ann.isupper()
    assert ann != console.lookup_user_by_email("bob@example.com")
