"""Buttons on anomaly alerts: Acknowledge, Expected, Snooze 7 days, Breakdown."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import alerts
from bot.services import Services
from handlers.slack_commands import caller_email, reported_after_ack, row_id
from storage.db import session_scope


def register(app: App, services: Services) -> None:
    """Register the anomaly buttons (values carry the anomaly id)."""

    @app.action({"action_id": "anomaly_ack"})
    @app.action({"action_id": "anomaly_expected"})
    @app.action({"action_id": "anomaly_snooze"})
    @app.action({"action_id": "anomaly_breakdown"})
    @reported_after_ack
    def on_anomaly_button(ack: Ack, body: dict[str, Any], action: dict[str, Any],
                          respond: Respond, client: WebClient) -> None:
        ack()
        user_id = str(body["user"]["id"])
        who = caller_email(services, client, user_id) or f"<@{user_id}>"
        anomaly_id = row_id(action)
        if anomaly_id is None:
            respond(text="That button does not name an anomaly.", response_type="ephemeral",
                    replace_original=False)
            return
        with session_scope(services.engine) as session:
            result = alerts.on_button(session, action_id=str(action["action_id"]),
                                      anomaly_id=anomaly_id, by=who, now=services.now(),
                                      metric=services.config.cost_metric)
        if result is None:
            respond(text=f"Anomaly #{anomaly_id} no longer exists.", response_type="ephemeral",
                    replace_original=False)
            return
        text, blocks, replace = result
        respond(text=text, blocks=blocks, replace_original=replace,
                response_type="ephemeral" if not replace else "in_channel")
