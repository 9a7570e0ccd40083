"""Shared environments in Slack: the `/finops` booking verbs, the buttons, the Book modal.

Every listener acks first (the Book button opens its modal with the trigger id before any other
work), answers, and then runs the booking's effects (channel message, access hooks, Jira) in the
same worker thread, after the database commit.
"""

from __future__ import annotations

from datetime import date, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import admins, blocks_envs, booking, envs, metrics
from bot.blocks_envs import Message
from bot.chatops import Caller, answer
from bot.commands import parse
from bot.envs_effects import run_effects
from bot.errors import CommandError
from bot.services import Services
from handlers import slack_home
from handlers.slack_commands import caller_email, modal_input, modal_metadata, reported_after_ack
from storage.db import session_scope

MODAL_JIRA_WAIT = 1.0  # seconds the Book modal's submission waits for Jira to show the ticket


def _is_env_command(services: Services, command: dict[str, Any]) -> bool:
    try:
        return envs.handles(services.config, parse(str(command.get("text", ""))))
    except CommandError:
        return False  # the general command listener answers with help


def _user_tz(client: WebClient, user_id: str) -> tzinfo:
    """The person's time zone from their Slack profile (UTC when unknown)."""
    try:
        name = client.users_info(user=user_id)["user"].get("tz")
        return ZoneInfo(str(name)) if name else ZoneInfo("UTC")
    except (SlackApiError, ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def register(app: App, services: Services) -> None:
    """Register before the general `/finops` listener: it answers everything else."""

    @app.command(services.config.command,
                 matchers=[lambda command: _is_env_command(services, command)])
    @reported_after_ack
    def on_env_command(ack: Ack, command: dict[str, Any], respond: Respond,
                       client: WebClient) -> None:
        ack()
        text = str(command.get("text", ""))
        verb = parse(text).verb
        user_id = str(command["user_id"])
        email = caller_email(services, client, user_id)
        if email is None:
            respond(text="I could not find your email in Slack, so I can't book for you.",
                    response_type="ephemeral")
            metrics.COMMANDS.labels(verb=verb, outcome="no-email").inc()
            return
        caller = Caller(email=email, user_id=user_id, origin="slack",
                        email_of=lambda uid: caller_email(services, client, uid),
                        group_members=admins.group_members(services), tickets=services.jira)
        with session_scope(services.engine) as session:
            reply = answer(session, config=services.config, caller=caller, text=text,
                           now=services.now())
        respond(text=reply.text, blocks=reply.blocks, response_type="ephemeral")
        metrics.COMMANDS.labels(verb=verb, outcome="ok").inc()
        run_effects(services)

    def act(body: dict[str, Any], client: WebClient, respond: Respond, do: Any) -> None:
        """Run one button's operation and answer only the person who pressed it."""
        user_id = str(body["user"]["id"])
        email = caller_email(services, client, user_id)
        if email is None:
            slack_home.answer_press(services, client, body, respond,
                                    "I could not find your email in Slack.", [])
            return
        actor = envs.Actor(email=email, user_id=user_id, origin="slack",
                           group_members=admins.group_members(services))
        env_name = str(body["actions"][0].get("value", ""))
        try:
            with session_scope(services.engine) as session:
                env = envs.environment(services.config, env_name)
                message: Message = do(session, env, actor)
        except CommandError as exc:
            message = blocks_envs.notice_message(str(exc))
        text, blocks = message
        ephemeral_card = bool((body.get("container") or {}).get("is_ephemeral"))
        try:
            slack_home.answer_press(services, client, body, respond, text, blocks,
                                    replace=ephemeral_card)
        finally:
            run_effects(services)

    @app.action(blocks_envs.RELEASE)
    @reported_after_ack
    def on_release(ack: Ack, body: dict[str, Any], client: WebClient,
                   respond: Respond) -> None:
        ack()
        act(body, client, respond, lambda s, env, who: envs.release(
            s, config=services.config, env=env, actor=who, now=services.now()).message)

    @app.action(blocks_envs.NOTIFY)
    @reported_after_ack
    def on_notify(ack: Ack, body: dict[str, Any], client: WebClient,
                  respond: Respond) -> None:
        ack()
        act(body, client, respond, lambda s, env, who: envs.join_queue(
            s, config=services.config, env=env, actor=who, now=services.now()).message)

    def extend_by(span: str) -> Any:
        @reported_after_ack
        def on_extend(ack: Ack, body: dict[str, Any], client: WebClient,
                      respond: Respond) -> None:
            ack()
            act(body, client, respond, lambda s, env, who: envs.extend(
                s, config=services.config, env=env, text=span, actor=who,
                now=services.now()).message)

        return on_extend

    for span, action_id in blocks_envs.EXTEND.items():
        app.action(action_id)(extend_by(span))

    @app.action(blocks_envs.BOOK)
    @reported_after_ack
    def on_book(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        env = str(body["actions"][0].get("value", ""))
        channel = str((body.get("container") or {}).get("channel_id") or "")
        # the trigger id expires 3 s after the click: open the modal before anything else
        opened = client.views_open(trigger_id=body["trigger_id"], view=blocks_envs.book_modal(
            env, today=services.now(), metadata={"env": env, "channel": channel}))
        # then, for someone who may not book it, the form becomes the reason: no filling it in
        # to be refused at the end
        email = caller_email(services, client, str(body["user"]["id"]))
        found = services.config.environment(env)
        if email is None or found is None:
            return  # the submission answers these
        try:
            booking.check_may_book(services.config, found, email,
                                   group_members=admins.group_members(services))
        except CommandError as exc:
            view = opened["view"]
            client.views_update(view_id=view["id"], hash=view.get("hash"),
                                view=blocks_envs.cannot_book_modal(env, str(exc)))

    @app.view(blocks_envs.MODAL)
    @reported_after_ack
    def on_book_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any],
                          client: WebClient) -> None:
        user_id = str(body["user"]["id"])
        meta = modal_metadata(view)
        if meta is None or not isinstance(meta.get("env"), str):
            ack(response_action="errors", errors={"duration": "This form has expired."})
            return
        env_name = meta["env"]
        email = caller_email(services, client, user_id)
        if email is None:
            ack(response_action="errors",
                errors={"ticket": "I could not find your email in Slack."})
            return
        duration = str(modal_input(view, "duration").get("value") or "").strip()
        where = "duration" if duration else "end_date"
        now = services.now()
        actor = envs.Actor(email, user_id, "slack", admins.group_members(services))
        try:
            env = envs.environment(services.config, env_name)
            booking.check_may_book(services.config, env, email,
                                   group_members=actor.group_members)
            if duration:
                until = booking.end_from_text(env, duration, now=now)
            else:
                picked = modal_input(view, "end_date").get("selected_date")
                if not picked:
                    raise CommandError("choose an end date, or give a duration")
                at = modal_input(view, "end_time").get("selected_time")
                try:
                    day = date.fromisoformat(str(picked))
                    hour = time.fromisoformat(str(at)) if at else None
                except ValueError:  # Slack's pickers send ISO values: this form was not theirs
                    raise CommandError("pick the end date and time again") from None
                until = booking.end_from_picker(env, day, hour, tz=_user_tz(client, user_id),
                                                now=now)
            try:
                ticket = booking.check_ticket(modal_input(view, "ticket").get("value"))
                # Slack waits 3 s for this answer: Jira gets a second of it
                envs.check_linkable(services.jira, env, ticket, within=MODAL_JIRA_WAIT)
            except CommandError as exc:
                where = "ticket"
                raise exc
            with session_scope(services.engine) as session:
                outcome = envs.book(session, config=services.config, env=env, until=until,
                                    ticket=ticket, now=now, actor=actor)
        except (CommandError, ValueError) as exc:
            # shown under the field in the modal, which stays open; nothing was booked
            ack(response_action="errors", errors={where: str(exc)})
            return
        if not outcome.ok:
            ack(response_action="errors", errors={where: outcome.message[0]})
            return
        ack()
        try:
            services.chat.dm(user_id, *outcome.message)
        finally:
            run_effects(services)
