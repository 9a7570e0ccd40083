"""Buttons on TTL warnings (Extend 1d/3d/7d, Destroy now, Request exemption), on exemption
requests (Approve, Deny) and on power-schedule notices (Keep running tonight, which asks why in
a modal). Each answers the clicker with an ephemeral message; the work is in bot.lifecycle_requests
and bot.power_run, which check who may do what and audit it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import admins, blocks_lifecycle, lifecycle_requests, power_run
from bot.blocks_kit import Message
from bot.errors import CommandError, ProviderError
from bot.services import Services
from handlers import slack_home
from handlers.slack_commands import (
    caller_email,
    modal_input,
    modal_metadata,
    reported_after_ack,
    row_id,
)
from storage.db import session_scope

EXTEND_ACTIONS = {"ttl_extend_1d": "1d", "ttl_extend_3d": "3d", "ttl_extend_7d": "7d"}


def register(app: App, services: Services) -> None:
    def answer(body: dict[str, Any], client: WebClient, respond: Respond,
               work: Callable[[str], Message], *, replace: bool = False) -> None:
        user_id = str(body["user"]["id"])
        who = caller_email(services, client, user_id)
        try:
            if who is None:
                raise CommandError("I could not find your email on Slack.")
            text, blocks = work(who)
        except (CommandError, ProviderError) as exc:
            slack_home.answer_press(services, client, body, respond, str(exc), [])
            return
        slack_home.answer_press(services, client, body, respond, text, blocks, replace=replace)

    @app.action({"action_id": "ttl_extend_1d"})
    @app.action({"action_id": "ttl_extend_3d"})
    @app.action({"action_id": "ttl_extend_7d"})
    @reported_after_ack
    def on_extend(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond,
                  client: WebClient) -> None:
        ack()
        span = EXTEND_ACTIONS[str(action["action_id"])]

        def work(who: str) -> Message:
            with session_scope(services.engine) as session:
                return lifecycle_requests.extend(session, config=services.config,
                                                 target=str(action.get("value", "")), text=span,
                                                 by=who, now=services.now(),
                                                 group_members=admins.group_members(services))

        answer(body, client, respond, work)

    @app.action({"action_id": "ttl_destroy_now"})
    @reported_after_ack
    def on_destroy(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond,
                   client: WebClient) -> None:
        ack()
        answer(body, client, respond, lambda who: lifecycle_requests.destroy_now(
            services, target=str(action.get("value", "")), by=who))

    @app.action({"action_id": "ttl_exempt"})
    @reported_after_ack
    def on_exempt(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond,
                  client: WebClient) -> None:
        ack()
        answer(body, client, respond, lambda who: lifecycle_requests.request_exemption(
            services, target=str(action.get("value", "")), by=who, reason=""))

    @app.action({"action_id": "ttl_exempt_approve"})
    @app.action({"action_id": "ttl_exempt_deny"})
    @reported_after_ack
    def on_decide(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond,
                  client: WebClient) -> None:
        ack()

        def work(who: str) -> Message:
            exemption_id = row_id(action)
            if exemption_id is None:
                raise CommandError("That button does not name an exemption request.")
            return lifecycle_requests.decide_exemption(
                services, exemption_id=exemption_id, by=who,
                approve=action["action_id"] == "ttl_exempt_approve")

        answer(body, client, respond, work, replace=True)

    @app.action({"action_id": blocks_lifecycle.KEEP})
    @reported_after_ack
    def on_keep(ack: Ack, body: dict[str, Any], action: dict[str, Any],
                client: WebClient) -> None:
        ack()
        value = str(action.get("value", ""))
        try:
            label = f"`{json.loads(value)['r']}`"
        except (ValueError, KeyError, TypeError):
            return  # not a button we made: nothing to open
        # the trigger id expires 3 s after the click: open the modal before anything else
        client.views_open(trigger_id=body["trigger_id"],
                          view=blocks_lifecycle.keep_modal(label=label, metadata=value))

    @app.view(blocks_lifecycle.KEEP_MODAL)
    @reported_after_ack
    def on_keep_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any],
                          client: WebClient) -> None:
        user_id = str(body["user"]["id"])
        reason = str(modal_input(view, "reason").get("value") or "")
        try:
            meta = modal_metadata(view) or {}
            schedule, rid, night = str(meta["s"]), str(meta["r"]), date.fromisoformat(meta["n"])
        except (ValueError, KeyError, TypeError):
            ack(response_action="errors", errors={"reason": "This form has expired."})
            return
        who = caller_email(services, client, user_id)
        try:
            if who is None:
                raise CommandError("I could not find your email on Slack.")
            text, blocks = power_run.keep_running(services, schedule=schedule, resource_id=rid,
                                                  night=night, reason=reason, by=who)
        except CommandError as exc:
            # shown under the field; the modal stays open and nothing was recorded
            ack(response_action="errors", errors={"reason": str(exc)})
            return
        ack()
        client.chat_postMessage(channel=user_id, text=text, blocks=blocks)
