"""App Home: ``app_home_opened`` -> ``views.publish`` with the person's own figures."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot import admins
from bot.blocks_notify import home_without_email
from bot.home import build_home
from bot.services import Services
from handlers.slack_commands import caller_email
from storage.db import session_scope


def publish(services: Services, client: WebClient, user_id: str) -> None:
    """Draw the person's App Home as it stands now."""
    email = caller_email(services, client, user_id)
    if email is None:
        services.chat.publish_home(user_id, home_without_email())
        return
    with session_scope(services.engine) as session:
        view = build_home(session, config=services.config, email=email, now=services.now(),
                          group_members=admins.group_members(services))
    services.chat.publish_home(user_id, view)


def answer_press(services: Services, client: WebClient, body: dict[str, Any],
                 respond: Respond, text: str, blocks: list[dict[str, Any]], *,
                 replace: bool = False) -> None:
    """Answer the person who pressed a button: beside the message it was on, or, for a button
    in App Home (Slack gives no ``response_url``: there is no message to answer), by DM, and
    their Home is drawn again to show what changed."""
    if respond.response_url is None:
        user_id = str(body["user"]["id"])
        services.chat.dm(user_id, text, blocks)
        publish(services, client, user_id)
        return
    respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=replace)


def register(app: App, services: Services) -> None:
    """Register the App Home listener."""

    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        publish(services, client, str(event["user"]))
