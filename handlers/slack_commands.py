"""`/finops` in Slack: ack at once, answer through ``respond`` (ephemeral unless asked)."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import admins, blocks, metrics
from bot.chatops import Caller, Reply, answer, failure_text
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


def row_id(action: dict[str, Any]) -> int | None:
    """The database id a button's value names, or None if it names none.

    Our buttons carry a positive id; anything else (a hand-made payload, a value too large
    for an id column) is no id rather than an error from the database.
    """
    value = str(action.get("value", "")).strip()
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2**31:
        return None
    return int(value)


def modal_input(view: dict[str, Any], block: str) -> dict[str, Any]:
    """The element state of input ``block`` in a submitted modal (its action id is ``value``),
    or {} when the submission has none of that shape."""
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    found = values.get(block) if isinstance(values, dict) else None
    element = found.get("value") if isinstance(found, dict) else None
    return element if isinstance(element, dict) else {}


def modal_metadata(view: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON object a modal carries in ``private_metadata``, or None if it carries none."""
    try:
        meta = json.loads(view.get("private_metadata") or "")
    except (ValueError, TypeError):
        return None
    return meta if isinstance(meta, dict) else None


log = logging.getLogger(__name__)
# Answers are database-bound; more threads add GIL and lock contention, not throughput.
ANSWER_THREADS = 2
_answers = ThreadPoolExecutor(max_workers=ANSWER_THREADS, thread_name_prefix="finops-answer")


def _report(done: Future[None]) -> None:
    if (exc := done.exception()) is not None:
        log.error("answering a command failed", exc_info=exc)


Listener = TypeVar("Listener", bound=Callable[..., None])


def reported_after_ack(listener: Listener) -> Listener:
    """For a Bolt listener: an error is logged and told to the user, not left to Bolt.

    - After the ack, the user is told through ``response_url``. Raised into Bolt instead, the
      error races its thread runner, which may answer Slack 500 for the acknowledged request.
    - Before the ack of a modal submission, the modal stays open with the reason under its
      first field.
    - Any other error before the ack is raised: Bolt answers 500 and its error handler tells
      the user.

    Bolt reads the listener's argument names through ``functools.wraps``.
    """

    @functools.wraps(listener)
    def run(**kwargs: Any) -> None:
        try:
            listener(**kwargs)
        except Exception as exc:
            ack = kwargs.get("ack")
            if ack is None:
                raise
            if ack.response is not None:
                log.exception("Slack %s failed after its ack", listener.__name__)
                tell_failure(kwargs.get("respond"), exc)
                return
            field = _first_field(kwargs.get("body"))
            if field is None:
                raise
            log.exception("Slack %s failed before its ack", listener.__name__)
            ack(response_action="errors", errors={field: failure_text(exc)})

    return run  # type: ignore[return-value]


def _first_field(body: Any) -> str | None:
    """The block id of a submitted modal's first input (its state is keyed by block id)."""
    if not isinstance(body, dict) or body.get("type") != "view_submission":
        return None
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    return next(iter(values), None) if isinstance(values, dict) else None


def tell_failure(respond: Respond | None, error: BaseException) -> None:
    """After the ack, a failure must not be silent: say so to the user, ephemerally.

    Used for commands and for every button, modal or event whose request has a response_url.
    The transaction of the failed request was rolled back.
    """
    if respond is None:
        return
    try:
        respond(text=failure_text(error), response_type="ephemeral", replace_original=False)
    except Exception:  # Slack itself may be down: the failure is logged by the caller
        log.warning("could not tell the user that their request failed", exc_info=True)


def _payload(reply: Reply) -> dict[str, Any]:
    return {"text": reply.text, "blocks": reply.blocks,
            "response_type": "ephemeral" if reply.ephemeral else "in_channel"}


def register(app: App, services: Services) -> None:
    """Register the slash command under its configured name."""

    @app.command(services.config.command)
    @reported_after_ack
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
    try:
        _answer_now(services, client, command, respond, text, verb)
    except Exception as exc:
        metrics.COMMANDS.labels(verb=verb, outcome="error").inc()
        tell_failure(respond, exc)
        raise


def _answer_now(services: Services, client: WebClient, command: dict[str, Any],
                respond: Respond, text: str, verb: str) -> None:
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
