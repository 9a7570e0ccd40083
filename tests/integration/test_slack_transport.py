"""SlackTransport against the fake Slack Web API: sends, retries and error translation."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest

from bot.errors import ProviderAuthError, ProviderError, ProviderThrottled
from providers.chat import ChatTransport, ConsoleTransport
from providers.slack import SlackTransport
from tests.fakes.slack import FakeSlack

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Spend* $12"}}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(users={"ann@example.com": "U0ANN"}) as server:
        yield server


@pytest.fixture
def slack(fake: FakeSlack) -> SlackTransport:
    return SlackTransport(fake.token, base_url=fake.base_url, max_rate_limit_retries=2,
                          server_error_backoff=0.0)


@pytest.mark.parametrize("cls", [SlackTransport, ConsoleTransport])
def test_implements_chat_transport_exactly(cls: type) -> None:
    protocol_methods = [name for name, value in vars(ChatTransport).items()
                        if inspect.isfunction(value) and not name.startswith("_")]
    assert len(protocol_methods) == 9
    for name in protocol_methods:
        expected = inspect.signature(getattr(ChatTransport, name))
        assert inspect.signature(getattr(cls, name)) == expected, name


def test_is_a_chat_transport(slack: SlackTransport) -> None:
    assert isinstance(slack, ChatTransport)


def test_post_returns_the_ts_and_threads(fake: FakeSlack, slack: SlackTransport) -> None:
    ts = slack.post("C1", "Spend $12", [SECTION])
    reply_ts = slack.post("C1", "details", thread_ts=ts)
    first, reply = fake.messages("C1")
    assert (first.ts, first.text, first.blocks) == (ts, "Spend $12", [SECTION])
    assert (reply.ts, reply.thread_ts) == (reply_ts, ts)


def test_dm_opens_the_conversation_first(fake: FakeSlack, slack: SlackTransport) -> None:
    ts = slack.dm("U0ANN", "your TTL ends tomorrow", [SECTION])
    assert [c.method for c in fake.calls()] == ["conversations.open", "chat.postMessage"]
    [message] = fake.messages("D0ANN")
    assert (message.ts, message.blocks) == (ts, [SECTION])
    assert slack.open_dm("U0ANN") == "D0ANN"


def test_ephemeral_home_and_respond(fake: FakeSlack, slack: SlackTransport) -> None:
    slack.post_ephemeral("C1", "U0ANN", "only you", [SECTION])
    slack.publish_home("U0ANN", {"type": "home", "blocks": [SECTION]})
    url = fake.response_url()
    slack.respond(url, {"text": "booked", "response_type": "in_channel"})
    assert fake.messages("C1")[0].ephemeral_user == "U0ANN"
    assert fake.home_views["U0ANN"]["blocks"] == [SECTION]
    assert [(r.url, r.text, r.response_type) for r in fake.replies] == [
        (url, "booked", "in_channel")]


def test_upload_file_stores_the_bytes_and_shares_them(
    fake: FakeSlack, slack: SlackTransport,
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 5000
    file_id = slack.upload_file("C1", "costs.png", png, "Costs, last 30 days", "Daily chart")
    stored = fake.files[file_id]
    assert (stored.content, stored.filename, stored.title) == (png, "costs.png",
                                                               "Costs, last 30 days")
    assert (stored.channels, stored.initial_comment, stored.completed) == (
        ["C1"], "Daily chart", True)


def test_lookup_user_by_email(fake: FakeSlack, slack: SlackTransport) -> None:
    assert slack.lookup_user_by_email("ann@example.com") == "U0ANN"
    assert slack.lookup_user_by_email("nobody@example.com") is None
    assert len(fake.calls("users.lookupByEmail")) == 2


def test_rate_limit_is_retried_after_retry_after(fake: FakeSlack, slack: SlackTransport) -> None:
    fake.rate_limit("chat.postMessage", times=1, retry_after=1)
    fake.rate_limit("chat.postMessage", times=1, retry_after=0)
    slack.post("C1", "hello")
    first, second, accepted = fake.calls("chat.postMessage")
    assert (first.status, second.status, accepted.status) == (429, 429, 200)
    assert second.at - first.at >= 1.0  # waited the Retry-After Slack asked for
    assert [m.text for m in fake.messages("C1")] == ["hello"]


def test_persistent_rate_limit_is_throttled(fake: FakeSlack) -> None:
    slack = SlackTransport(fake.token, base_url=fake.base_url, max_rate_limit_retries=1)
    fake.rate_limit("chat.postMessage", times=10, retry_after=0)
    with pytest.raises(ProviderThrottled, match=r"rate-limited chat\.postMessage"):
        slack.post("C1", "never")
    assert [c.status for c in fake.calls("chat.postMessage")] == [429, 429]
    assert fake.messages() == []


def test_server_errors_are_retried(fake: FakeSlack, slack: SlackTransport) -> None:
    fake.fail("users.lookupByEmail", status=503, error="service_unavailable")
    assert slack.lookup_user_by_email("ann@example.com") == "U0ANN"
    fake.fail("users.lookupByEmail", status=500, times=5)
    with pytest.raises(ProviderError, match="HTTP 500"):
        slack.lookup_user_by_email("ann@example.com")
    assert [c.status for c in fake.calls("users.lookupByEmail")] == [503, 200, 500, 500, 500]


@pytest.mark.parametrize("code", ["invalid_auth", "account_inactive", "token_revoked"])
def test_refused_credentials(code: str, fake: FakeSlack, slack: SlackTransport) -> None:
    fake.fail("chat.postMessage", error=code)
    with pytest.raises(ProviderAuthError, match=code):
        slack.post("C1", "x")


def test_wrong_token_is_an_auth_error_that_does_not_leak_it(fake: FakeSlack) -> None:
    secret = "xoxb-1234-very-secret"
    transport = SlackTransport(secret, base_url=fake.base_url.rstrip("/"))
    with pytest.raises(ProviderAuthError) as info:
        transport.lookup_user_by_email("ann@example.com")
    assert "invalid_auth" in str(info.value) and secret not in str(info.value)
    assert "\n" not in str(info.value)


def test_other_slack_errors_name_the_code(fake: FakeSlack, slack: SlackTransport) -> None:
    too_long = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    with pytest.raises(ProviderError, match=r"chat\.postMessage failed: invalid_blocks: .*"
                                            r"\[json-pointer:/blocks/0/text/text\]") as info:
        slack.post("C1", "x", [too_long])
    assert type(info.value) is ProviderError
    with pytest.raises(ProviderError, match="user_not_found"):
        slack.dm("U404", "x")
    with pytest.raises(ProviderError, match="expired_url"):
        slack.respond(fake.root_url + "/response/unknown", {"text": "x"})


def test_unreachable_slack_is_a_provider_error() -> None:
    with FakeSlack() as gone:
        base_url = gone.base_url
    transport = SlackTransport("xoxb-t", base_url=base_url, server_error_backoff=0.0)
    with pytest.raises(ProviderError, match="URLError"):
        transport.post("C1", "x")


def test_usergroup_members_are_listed_then_kept_for_a_while(fake: FakeSlack) -> None:
    clock = [1000.0]
    slack = SlackTransport(fake.token, base_url=fake.base_url, group_cache_seconds=300,
                           monotonic=lambda: clock[0])
    bob = fake.add_user("bob@example.com", user_id="U0BOB")
    fake.add_usergroup("S0ADMINS", ["U0ANN", bob])
    assert slack.usergroup_members("S0ADMINS") == ["U0ANN", "U0BOB"]
    [call] = fake.calls("usergroups.users.list")
    assert call.args["usergroup"] == "S0ADMINS"
    fake.add_usergroup("S0ADMINS", ["U0ANN"])  # bob leaves the group
    clock[0] += 299
    assert slack.usergroup_members("S0ADMINS") == ["U0ANN", "U0BOB"]  # still the kept answer
    assert len(fake.calls("usergroups.users.list")) == 1
    clock[0] += 2
    assert slack.usergroup_members("S0ADMINS") == ["U0ANN"]
    assert len(fake.calls("usergroups.users.list")) == 2


def test_an_unknown_usergroup_is_an_error_naming_the_code(fake: FakeSlack,
                                                          slack: SlackTransport) -> None:
    with pytest.raises(ProviderError, match="usergroups.users.list failed: no_such_subteam"):
        slack.usergroup_members("S0NOPE")
    with pytest.raises(ProviderError, match="no_such_subteam"):  # errors are not kept
        slack.usergroup_members("S0NOPE")
    assert len(fake.calls("usergroups.users.list")) == 2


def test_the_console_has_no_usergroups() -> None:
    assert ConsoleTransport().usergroup_members("S0ADMINS") == []
