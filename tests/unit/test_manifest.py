"""manifest.yml (the Slack app manifest) stays in step with the code: the command, the one
request URL, the events listened to, and bot scopes that are exactly those of the Web API methods
the code calls. A new Slack call without its scope here fails this test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from slack_sdk import WebClient

from bot.commands import USAGE, parse
from bot.config import load_config
from bot.errors import CommandError

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "app.py", *sorted(p for folder in ("bot", "handlers", "providers", "storage")
                                    for p in (ROOT / folder).rglob("*.py"))]

# slack_sdk WebClient method -> the bot scopes Slack requires for it
METHOD_SCOPES: dict[str, set[str]] = {
    "chat_postMessage": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "chat_update": {"chat:write"},
    "conversations_open": {"im:write"},
    "users_info": {"users:read", "users:read.email"},  # the email in the profile needs both
    "users_lookupByEmail": {"users:read", "users:read.email"},  # .email requires users:read
    "files_upload_v2": {"files:write"},
    "usergroups_users_list": {"usergroups:read"},
    "views_open": set(),
    "views_publish": set(),
    "views_update": set(),
    "auth_test": set(),
}
# what is not a Web API method call: a slash command needs `commands`
ALWAYS = {"commands"}


def _manifest() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _called_methods() -> set[str]:
    """Every WebClient method called as ``<...>client.<method>(`` or ``api_call("a.b")``."""
    called: set[str] = set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r"\bclient\.(\w+)\(", text):
            if hasattr(WebClient, name) and not name.startswith("_") and name != "api_call":
                called.add(name)
        for method in re.findall(r"api_call\(\s*[\"']([\w.]+)[\"']", text):
            called.add(method.replace(".", "_"))
    return called


def _urls(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _urls(v, str(k))
    elif isinstance(node, list):
        for item in node:
            yield from _urls(item, key)
    elif isinstance(node, str) and (key.endswith("url") or node.startswith("http")):
        yield key, node


def test_the_grep_finds_the_calls_we_know_of() -> None:
    called = _called_methods()
    for known in ("chat_postMessage", "conversations_open", "users_lookupByEmail", "users_info",
                  "views_open", "views_publish", "files_upload_v2", "usergroups_users_list"):
        assert known in called, known


def test_bot_scopes_are_exactly_those_the_calls_need() -> None:
    called = _called_methods()
    unknown = sorted(called - METHOD_SCOPES.keys())
    assert not unknown, f"add the bot scopes of {unknown} to METHOD_SCOPES and manifest.yml"
    needed = ALWAYS.union(*(METHOD_SCOPES[m] for m in called))
    scopes = set(_manifest()["oauth_config"]["scopes"]["bot"])
    assert needed - scopes == set(), "manifest.yml lacks scopes the code needs"
    assert scopes - needed == set(), "manifest.yml asks for scopes no call needs"


def test_the_command_is_the_configured_one() -> None:
    [command] = _manifest()["features"]["slash_commands"]
    assert command["command"] == load_config(None).command == "/finops"
    # escaped, a mention arrives as <@U123|name>, which names the user by id; unescaped it
    # would be "@name", which the bot cannot resolve
    assert command["should_escape"] is True


def test_the_usage_hint_lists_every_verb_of_the_grammar() -> None:
    def is_verb(word: str) -> bool:
        try:
            parse(word)
        except CommandError as exc:
            return "I don't know" not in str(exc)
        return True

    grammar = {w for w in re.findall(r"\b[a-z][a-z-]+\b", USAGE) if is_verb(w)}
    assert {"help", "costs", "book", "pause-actions", "resume-actions", "ttl"} <= grammar
    [command] = _manifest()["features"]["slash_commands"]
    hinted = {segment.split()[0] for segment in re.split(r"\s\|\s(?![^\[(]*[\])])",
                                                            command["usage_hint"])}
    assert hinted == grammar
    assert 0 < len(command["description"]) <= 2000 and len(command["usage_hint"]) <= 1000


def test_every_url_is_the_one_slack_route() -> None:
    manifest = _manifest()
    urls = list(_urls(manifest))
    assert len(urls) == 3  # the command, events, interactivity
    for key, url in urls:
        parts = urlsplit(url)
        assert (parts.scheme, parts.path) == ("https", "/slack/events"), key


def test_settings_events_and_home() -> None:
    manifest = _manifest()
    settings = manifest["settings"]
    handlers = (ROOT / "handlers").glob("slack*.py")
    listened = {e for p in handlers
                for e in re.findall(r"@app\.event\(\"(\w+)\"\)", p.read_text(encoding="utf-8"))}
    assert settings["event_subscriptions"]["bot_events"] == sorted(listened) == [
        "app_home_opened"]
    assert settings["interactivity"]["is_enabled"] is True
    assert (settings["org_deploy_enabled"], settings["socket_mode_enabled"],
            settings["token_rotation_enabled"]) == (False, False, False)
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] and home["messages_tab_enabled"]
    assert manifest["features"]["bot_user"]["display_name"]
    assert len(manifest["display_information"]["name"]) <= 35
