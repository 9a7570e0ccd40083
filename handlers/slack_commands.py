"""`/finops` in Slack: ack at once, answer through ``respond`` (ephemeral unless asked)."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import admins, blocks, metrics
from bot.chatops import Caller, Reply, answer
from bot.commands import parse
from bot.errors import CommandError
from bot.services import Services
from storage import identity
from storage.db import session_scope


def caller_email(services: Services, client: WebClient, user_id: str) -> str | None:
    """The email of a Slack user: from the identity cache, else ``users.info`` (then cached)."""
    with session_scope(services.engine) as session:
        email = identity.email_for(session, user_id=user_id)
        if email is not None:
            return email
        try:
            profile = client.users_info(user=user_id)["user"]["profile"]
        except SlackApiError:
            return None
        email = profile.get("email")
        if email:
            identity.put(session, email=email, user_id=user_id, now=services.now())
        return email.lower() if email else None


log = logging.getLogger(__name__)
# Answers are database-bound; more threads add GIL and lock contention, not throughput.
ANSWER_THREADS = 2
_answers = ThreadPoolExecutor(max_workers=ANSWER_THREADS, thread_name_prefix="finops-answer")


def _report(done: Future[None]) -> None:
    if (exc := done.exception()) is not None:
        log.error("answering a command failed", exc_info=exc)


def _payload(reply: Reply) -> dict[str, Any]:
    return {"text": reply.text, "blocks": reply.blocks,
            "response_type": "ephemeral" if reply.ephemeral else "in_channel"}


def register(app: App, services: Services) -> None:
    """Register the slash command under its configured name."""

    @app.command(services.config.command)
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        text = str(command.get("text", ""))
        try:
            verb = parse(text).verb
        except CommandError as exc:
            # bad text: a short error plus help, visible only to the caller, and no state change
            metrics.COMMANDS.labels(verb="invalid", outcome="error").inc()
            ack(**_payload(Reply(*blocks.help_message(services.config.command, error=str(exc)))))
            return
        if verb == "help":
            ack(**_payload(Reply(*blocks.help_message(services.config.command))))
            metrics.COMMANDS.labels(verb=verb, outcome="ok").inc()
            return
        ack()  # within Slack's 3 s; the answer follows through response_url
        # not on this thread: Bolt has 5 listener threads, and answers running there would hold
        # every later request's ack behind slow queries (past 3 s under 20 concurrent users)
        _answers.submit(_answer, services, client, command, respond, text, verb).add_done_callback(
            _report)


def _answer(services: Services, client: WebClient, command: dict[str, Any], respond: Respond,
            text: str, verb: str) -> None:
    email = caller_email(services, client, str(command["user_id"]))
    if email is None:
        respond(text="I could not find your email in Slack, so I can't tell which "
                     "resources are yours.", response_type="ephemeral")
        metrics.COMMANDS.labels(verb=verb, outcome="no-email").inc()
        return
    caller = Caller(email=email, user_id=str(command["user_id"]), origin="slack",
                    email_of=lambda uid: caller_email(services, client, uid),
                    group_members=admins.group_members(services))
    with session_scope(services.engine) as session:
        reply = answer(session, config=services.config, caller=caller, text=text,
                       now=services.now())
    respond(**_payload(reply))
    metrics.COMMANDS.labels(verb=verb, outcome="ok").inc()
