"""Request authentication: Slack's v0 signature with its 5-minute window, the GitHub/Jira
``sha256=`` HMAC, shared tokens. A valid one passes; any single-byte change fails."""

from __future__ import annotations

import base64
import hashlib
import hmac

from hypothesis import example, given, settings
from hypothesis import strategies as st

from handlers import inbound, slack
from tests.property import examples

NOW = 1_764_237_600.0  # a whole second, so that the window's edges are exact
secrets = st.text(st.characters(codec="utf-8"), min_size=1, max_size=30)
bodies = st.binary(max_size=300)
ages = st.integers(-300, 300)  # seconds between the timestamp and now, within the window


def slack_headers(body: bytes, secret: str, timestamp: str) -> dict[str, str]:
    base = f"v0:{timestamp}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"x-slack-request-timestamp": timestamp, "x-slack-signature": signature}


def changed(text: str, data: st.DataObject) -> str:
    """``text`` with one character replaced by a different one (Latin-1, as HTTP headers are)."""
    at = data.draw(st.integers(0, len(text) - 1), label="at")
    new = data.draw(st.characters(min_codepoint=0x20, max_codepoint=0xFF).filter(
        lambda c: c != text[at]), label="new")
    return text[:at] + new + text[at + 1:]


@settings(max_examples=examples(200))
@given(body=bodies, secret=secrets, age=ages)
def test_a_slack_signature_within_five_minutes_passes(body: bytes, secret: str,
                                                      age: int) -> None:
    timestamp = str(int(NOW) - age)
    assert slack.valid_signature(body, slack_headers(body, secret, timestamp), secret=secret,
                                 now=NOW)


@settings(max_examples=examples(200))
@given(body=bodies, secret=secrets, age=ages, data=st.data(),
       part=st.sampled_from(["body", "signature", "timestamp"]))
def test_any_single_byte_change_fails_the_slack_signature(
    body: bytes, secret: str, age: int, data: st.DataObject, part: str
) -> None:
    timestamp = str(int(NOW) - age)
    headers = slack_headers(body, secret, timestamp)
    if part == "body":
        body = body or b"\x00"  # an empty body has no byte to change: add one
        if body != b"\x00" or not data.draw(st.booleans(), label="append"):
            at = data.draw(st.integers(0, len(body) - 1), label="at")
            new = data.draw(st.integers(0, 255).filter(lambda b: b != body[at]), label="new")
            body = body[:at] + bytes([new]) + body[at + 1:]
    elif part == "signature":
        headers["x-slack-signature"] = changed(headers["x-slack-signature"], data)
    else:
        headers["x-slack-request-timestamp"] = changed(timestamp, data)
    assert not slack.valid_signature(body, headers, secret=secret, now=NOW)


@settings(max_examples=examples(100))
@given(body=bodies, secret=secrets, late=st.integers(301, 10**9), sign=st.sampled_from([1, -1]))
@example(body=b"", secret="s", late=301, sign=1)
def test_a_slack_timestamp_more_than_five_minutes_away_fails(body: bytes, secret: str,
                                                             late: int, sign: int) -> None:
    timestamp = str(int(NOW) - sign * late)
    headers = slack_headers(body, secret, timestamp)  # correctly signed, but stale (or early)
    assert not slack.valid_signature(body, headers, secret=secret, now=NOW)


@settings(max_examples=examples(200))
@given(body=bodies, secret=secrets, timestamp=st.text(max_size=30))
@example(body=b"", secret="s", timestamp="\u00b2")  # a digit to str.isdigit, not to int()
@example(body=b"", secret="s", timestamp="9" * 400)  # too large for a float
@example(body=b"", secret="s", timestamp="\u0663" * 10)  # Arabic-Indic digits
def test_any_timestamp_header_is_checked_without_error(body: bytes, secret: str,
                                                       timestamp: str) -> None:
    headers = slack_headers(body, secret, timestamp)
    passed = slack.valid_signature(body, headers, secret=secret, now=NOW)
    assert passed == (timestamp.isascii() and timestamp.isdigit()
                      and abs(int(NOW) - int(timestamp)) <= 300)


def hub_signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@settings(max_examples=examples(200))
@given(body=bodies, secret=secrets, data=st.data(), part=st.sampled_from(["body", "signature"]))
def test_the_sha256_signature_passes_and_any_change_fails(body: bytes, secret: str,
                                                          data: st.DataObject, part: str) -> None:
    header = hub_signature(body, secret)
    assert inbound.valid_signature(body, header, secret=secret)
    assert not inbound.valid_signature(body, header, secret=None)
    if part == "body":
        body += data.draw(st.binary(min_size=1, max_size=1), label="extra")
    else:
        header = changed(header, data)
    assert not inbound.valid_signature(body, header, secret=secret)


tokens = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1,
                 max_size=40)


@settings(max_examples=examples(200))
@given(token=tokens, user=st.text(st.characters(codec="utf-8", exclude_characters=":"),
                                  max_size=10),
       header=st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40))
@example(token="t", user="u", header="Basic \u00e9t\u00e9")  # not ASCII: b64decode raises
def test_tokens_read_from_authorization_headers(token: str, user: str, header: str) -> None:
    assert inbound.token_of(f"Bearer {token}") == token
    basic = base64.b64encode(f"{user}:{token}".encode()).decode()
    assert inbound.token_of(f"Basic {basic}") == token
    assert inbound.same_secret(inbound.token_of(f"bearer  {token} "), secret=token)
    found = inbound.token_of(header)  # anything at all: a token or ""
    assert isinstance(found, str)
    assert not inbound.same_secret(found, secret=None)
