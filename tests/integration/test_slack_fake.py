"""The fake Slack Web API answers the real slack_sdk clients the way Slack does."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.error import HTTPError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack import FakeSlack

ANN = "ann@example.com"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(users={ANN: "U0ANN"}) as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    # no retry handlers: these tests look at each raw answer
    return WebClient(token=fake.token, base_url=fake.base_url, retry_handlers=[])


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(label: str = "Go", *, value: str = "v", action_id: str = "go") -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": label},
            "value": value, "action_id": action_id}


def _actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


def _api_error(call: Any) -> SlackResponse:
    """The answer of a call the SDK raised SlackApiError for."""
    with pytest.raises(SlackApiError) as info:
        call()
    response: SlackResponse = info.value.response
    return response


def test_bad_or_missing_token_is_refused_with_http_200(fake: FakeSlack) -> None:
    missing = _api_error(WebClient(base_url=fake.base_url).auth_test)
    wrong = _api_error(WebClient(token="xoxb-wrong", base_url=fake.base_url).auth_test)
    assert (missing.status_code, missing["error"]) == (200, "not_authed")
    assert (wrong.status_code, wrong["error"]) == (200, "invalid_auth")
    assert fake.messages() == []


def test_post_message_is_recorded_with_decoded_blocks(fake: FakeSlack, client: WebClient) -> None:
    blocks = [_section("*hello*")]
    answer = client.chat_postMessage(channel="C1", text="hello", blocks=blocks, thread_ts="1.2")
    [message] = fake.messages("C1")
    assert (message.ts, message.text, message.blocks, message.thread_ts) == (
        answer["ts"], "hello", blocks, "1.2")
    [call] = fake.calls("chat.postMessage")
    assert call.args["blocks"] == blocks
    assert call.headers["Authorization"] == f"Bearer {fake.token}"
    assert call.headers["Content-Type"].startswith("application/json")


def test_posting_to_a_user_id_lands_in_their_dm(fake: FakeSlack, client: WebClient) -> None:
    opened = client.conversations_open(users="U0ANN")
    posted = client.chat_postMessage(channel="U0ANN", text="hi")
    assert opened["channel"]["id"] == posted["channel"] == "D0ANN"
    assert [m.text for m in fake.messages("D0ANN")] == ["hi"]


MESSAGE_LIMITS = {
    "51 blocks": ([_section("x")] * 51, "no more than 50 items allowed [json-pointer:/blocks]"),
    "section text": ([_section("x" * 3001)],
                     "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"),
    "header text": ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
                    "must be less than 151 characters [json-pointer:/blocks/0/text/text]"),
    "button text": ([_actions(_button("b" * 76))], "must be less than 76 characters "
                    "[json-pointer:/blocks/0/elements/0/text/text]"),
    "button value": ([_actions(_button(value="v" * 2001))], "must be less than 2001 characters "
                     "[json-pointer:/blocks/0/elements/0/value]"),
    "action_id length": ([_actions(_button(action_id="a" * 256))], "must be less than 256 "
                         "characters [json-pointer:/blocks/0/elements/0/action_id]"),
    "duplicate action_id": ([_actions(_button(), _button())], "duplicate action_id 'go' in "
                            "block [json-pointer:/blocks/0/elements/1/action_id]"),
    "duplicate block_id": ([{**_section("a"), "block_id": "b"}, {**_section("c"), "block_id": "b"}],
                           "duplicate block_id 'b' [json-pointer:/blocks/1/block_id]"),
    "26 actions": ([_actions(*[_button(action_id=f"a{i}") for i in range(26)])],
                   "no more than 25 items allowed [json-pointer:/blocks/0/elements]"),
}


@pytest.mark.parametrize("name", MESSAGE_LIMITS)
def test_message_block_limits(name: str, fake: FakeSlack, client: WebClient) -> None:
    blocks, problem = MESSAGE_LIMITS[name]
    error = _api_error(lambda: client.chat_postMessage(channel="C1", text="t", blocks=blocks))
    assert error["error"] == "invalid_blocks"
    assert error["response_metadata"]["messages"] == [f"[ERROR] {problem}"]
    assert fake.messages() == []


def test_limits_are_inclusive(fake: FakeSlack, client: WebClient) -> None:
    at_limit = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        _section("x" * 3000),
        _actions(*[_button("b" * 75, value="v" * 2000, action_id=f"{i:0>255}")
                   for i in range(25)]),
        _actions(_button()),  # the same action_id in another block is allowed
        _actions(_button()),
    ]
    client.chat_postMessage(channel="C1", text="t", blocks=at_limit + [_section("s")] * 45)
    assert len(fake.messages("C1")[0].blocks or []) == 50


def test_text_or_blocks_is_required(client: WebClient) -> None:
    # api_call: chat_postMessage itself warns before sending a message without text
    no_text = _api_error(lambda: client.api_call("chat.postMessage", json={"channel": "C1"}))
    assert no_text["error"] == "no_text"
    assert _api_error(lambda: client.chat_postMessage(channel="", text="x"))["error"] == (
        "channel_not_found")


def _modal(title: str = "Book env", blocks: int = 1) -> dict[str, Any]:
    return {"type": "modal", "title": {"type": "plain_text", "text": title},
            "blocks": [_section("x")] * blocks}


def test_view_limits_answer_invalid_arguments(fake: FakeSlack, client: WebClient) -> None:
    long_title = _api_error(lambda: client.views_open(trigger_id="t1", view=_modal("t" * 25)))
    assert long_title["error"] == "invalid_arguments"
    assert long_title["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"]
    too_many = _api_error(lambda: client.views_open(trigger_id="t2", view=_modal(blocks=101)))
    assert too_many["errors"] == ["no more than 100 items allowed [json-pointer:/view/blocks]"]
    home = {"type": "home", "blocks": [_section("x")] * 101}
    assert _api_error(lambda: client.views_publish(user_id="U0ANN", view=home))["errors"] == [
        "no more than 100 items allowed [json-pointer:/view/blocks]"]
    client.views_open(trigger_id="t3", view=_modal("t" * 24, blocks=100))
    client.views_publish(user_id="U0ANN", view={"type": "home", "blocks": [_section("x")] * 100})
    assert len(fake.views) == 1 and len(fake.home_views["U0ANN"]["blocks"]) == 100


def test_trigger_ids_are_single_use_and_expire(fake: FakeSlack, client: WebClient) -> None:
    view_id = client.views_open(trigger_id="t1", view=_modal())["view"]["id"]
    assert _api_error(lambda: client.views_open(trigger_id="t1", view=_modal()))["error"] == (
        "exchanged_trigger_id")
    fake.expire_trigger("t2")
    assert _api_error(lambda: client.views_open(trigger_id="t2", view=_modal()))["error"] == (
        "expired_trigger_id")
    client.views_update(view_id=view_id, view=_modal("Updated"))
    assert fake.views[view_id]["title"]["text"] == "Updated"
    assert _api_error(lambda: client.views_update(view_id="V404", view=_modal()))["error"] == (
        "not_found")


def test_update_delete_and_ephemeral(fake: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="v1")["ts"]
    client.chat_update(channel="C1", ts=ts, text="v2")
    client.chat_postEphemeral(channel="C1", user="U0ANN", text="psst")
    assert [(m.text, m.edited, m.ephemeral_user) for m in fake.messages("C1")] == [
        ("v2", True, None), ("psst", False, "U0ANN")]
    client.chat_delete(channel="C1", ts=ts)
    assert [m.text for m in fake.messages("C1")] == ["psst"]
    assert _api_error(lambda: client.chat_update(channel="C1", ts=ts, text="x"))["error"] == (
        "message_not_found")
    assert _api_error(lambda: client.chat_postEphemeral(channel="C1", user="U404", text="x"))[
        "error"] == "user_not_found"


def test_directory_lookups(fake: FakeSlack, client: WebClient) -> None:
    assert client.users_lookupByEmail(email="Ann@Example.com")["user"]["id"] == "U0ANN"
    assert _api_error(lambda: client.users_lookupByEmail(email="bob@example.com"))["error"] == (
        "users_not_found")
    bob = fake.add_user("bob@example.com")
    assert client.users_info(user=bob)["user"]["profile"]["email"] == "bob@example.com"
    assert _api_error(lambda: client.conversations_open(users="U404"))["error"] == (
        "user_not_found")
    assert fake.calls("users.lookupByEmail")[0].headers["Content-Type"] == (
        "application/x-www-form-urlencoded")


def test_rate_limit_answers_429_with_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.rate_limit("chat.postMessage", times=2, retry_after=7)
    for _ in range(2):
        error = _api_error(lambda: client.chat_postMessage(channel="C1", text="x"))
        assert (error.status_code, error["error"]) == (429, "ratelimited")
        assert error.headers["Retry-After"] == "7"
    client.chat_postMessage(channel="C1", text="x")
    client.auth_test()  # other methods were never limited
    assert [c.status for c in fake.calls("chat.postMessage")] == [429, 429, 200]


def test_injected_failures(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("auth.test", error="account_inactive")
    fake.fail("chat.postMessage", status=503, error="service_unavailable")
    assert _api_error(client.auth_test)["error"] == "account_inactive"
    outage = _api_error(lambda: client.chat_postMessage(channel="C1", text="x"))
    assert outage.status_code == 503
    client.auth_test()
    client.chat_postMessage(channel="C1", text="x")


def test_files_upload_v2_three_steps(fake: FakeSlack, client: WebClient) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    answer = client.files_upload_v2(channel="C1", filename="chart.png", content=png,
                                    title="Costs", initial_comment="Weekly chart")
    file = fake.files[answer["file"]["id"]]
    assert (file.content, file.title, file.channels, file.initial_comment, file.completed) == (
        png, "Costs", ["C1"], "Weekly chart", True)
    assert [c.method for c in fake.calls()] == [
        "files.getUploadURLExternal", "upload_url", "files.completeUploadExternal"]
    assert "Authorization" not in fake.calls("upload_url")[0].headers


def test_upload_checks_length_and_completion_needs_the_bytes(
    fake: FakeSlack, client: WebClient,
) -> None:
    step1 = client.files_getUploadURLExternal(filename="a.csv", length=10)
    with pytest.raises(HTTPError) as short:
        urllib.request.urlopen(urllib.request.Request(step1["upload_url"], data=b"123"))
    short.value.close()
    assert short.value.code == 400
    error = _api_error(lambda: client.files_completeUploadExternal(
        files=[{"id": step1["file_id"], "title": "a"}], channel_id="C1"))
    assert error["error"] == "file_not_found"
    assert fake.files[step1["file_id"]].content is None


def test_response_url_replies(fake: FakeSlack) -> None:
    url = fake.response_url("cmd")
    webhook = WebhookClient(url)
    assert webhook.send_dict({"text": "done", "response_type": "in_channel"}).status_code == 200
    bad = webhook.send_dict({"text": "t", "blocks": [_section("x" * 3001)]})
    assert (bad.status_code, bad.body) == (400, "invalid_blocks")
    for _ in range(4):
        webhook.send_dict({"text": "again", "replace_original": True})
    used_up = webhook.send_dict({"text": "sixth"})
    assert (used_up.status_code, used_up.body) == (404, "expired_url")
    replies = fake.replies
    assert [r.text for r in replies] == ["done"] + ["again"] * 4
    assert replies[0].response_type == "in_channel" and replies[1].replace_original


def test_reset_forgets_state_but_keeps_configured_users(
    fake: FakeSlack, client: WebClient,
) -> None:
    fake.add_user("bob@example.com", user_id="U0BOB")
    client.chat_postMessage(channel="C1", text="x")
    fake.rate_limit("auth.test", times=5)
    fake.reset()
    assert fake.messages() == [] and fake.calls() == []
    client.auth_test()
    assert client.users_info(user="U0ANN")["ok"]
    assert _api_error(lambda: client.users_info(user="U0BOB"))["error"] == "user_not_found"
