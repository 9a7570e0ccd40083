"""What follows a recorded deploy, after the webhook was answered.

For each deploy whose status moved (``effects_pending``):

1. the commit title, from GitHub or GitLab when a token is configured (a title another deploy of
   the same commit already fetched is reused: the database is the cache);
2. into an environment booked by someone else: a warning to the holder and to the deployer
   (their email -> Slack identity, when known), once per deploy and booking;
3. a failed deploy into a booked environment: the holder is told, once per deploy;
4. a finished deploy: one line in the environment's channel (``announce_deploys``);
5. a successful deploy, with ``deploys.pr_comments``: a comment with the environment's booking
   and cost on the PRs / MRs holding the commit.

Every message is claimed first (kind ``deploy-step``, scope ``deploy:<id>``) so retries,
duplicate deliveries, concurrent runs and the ``deploys`` job never send one twice. Deploys
into environments the config does not know are only recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot import blocks_deploys, deploys, envs
from bot.blocks_deploys import DeployFacts
from bot.booking import Held
from bot.config_sections import Environment
from bot.deploy_parsers import FAILED, FINAL
from bot.envs_effects import _dm, _guarded
from bot.errors import ProviderError
from bot.identity import resolve_slack_ids
from bot.services import Services
from storage import bookings
from storage import deploys as store
from storage.claims import claim_delivery, mark_sent
from storage.db import session_scope
from storage.models_envs import Deploy

log = logging.getLogger(__name__)
STEP = "deploy-step"


class _Effects:
    """The steps due for one deploy in its current status."""

    def __init__(self, services: Services, row: Deploy, env: Environment) -> None:
        self.services, self.row, self.env = services, row, env
        with session_scope(services.engine) as session:
            self.held: Held | None = envs.current(session, env.name, now=services.now())

    def facts(self) -> DeployFacts:
        with session_scope(self.services.engine) as session:
            row = store.get(session, deploy_id=self.row.id or 0) or self.row
            return deploys.facts_of(session, row)

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        row, held, config = self.row, self.held, self.services.config
        out: list[tuple[str, Callable[[], str]]] = []
        if held is not None and not deploys.is_same_person(held.holder, row.deployer_email):
            out += [(f"warn-holder:{held.booking_id}", self.warn_holder),
                    (f"warn-deployer:{held.booking_id}", self.warn_deployer)]
        if held is not None and row.status in FAILED:
            out.append((f"failed:{held.booking_id}", self.tell_failed))
        if row.status in FINAL and self.env.announce_deploys:
            out.append(("channel", self.channel))
        if row.status == "success" and config.deploys.pr_comments and self._client():
            out.append(("change-requests", self.comment))
        return out

    def _client(self) -> object | None:
        return self.services.scm.get(self.row.source) if self.row.repo else None

    def warn_holder(self) -> str:
        assert self.held is not None
        message = blocks_deploys.holder_warning(self._with_slack_id(), self.held)
        return _dm(self.services, self.held.holder, self.held.holder_user_id, message)

    def warn_deployer(self) -> str:
        assert self.held is not None
        email = self.row.deployer_email
        if not email:
            return f"no email for {self.row.deployer}"
        return _dm(self.services, email, None,
                   blocks_deploys.deployer_warning(self.facts(), self.held))

    def tell_failed(self) -> str:
        assert self.held is not None
        message = blocks_deploys.failed_message(self._with_slack_id(), self.held)
        return _dm(self.services, self.held.holder, self.held.holder_user_id, message)

    def _with_slack_id(self) -> DeployFacts:
        """The facts, the deployer resolved to a Slack user when their email is known."""
        email = self.row.deployer_email
        if email:
            try:
                with session_scope(self.services.engine) as session:
                    resolve_slack_ids(session, self.services.chat, [email],
                                      now=self.services.now())
            except ProviderError as exc:
                log.info("deploy %s: could not resolve %s: %s", self.row.id, email, exc)
        return self.facts()

    def channel(self) -> str:
        channel = envs.channel_of(self.services.config, self.env)
        if channel is None:
            return "no channel"
        self.services.chat.post(channel, *blocks_deploys.channel_message(self._with_slack_id()))
        return "sent"

    def comment(self) -> str:
        client = self.services.scm[self.row.source]
        repo, sha = self.row.repo or "", self.row.sha or ""
        with session_scope(self.services.engine) as session:
            rate = envs.rate_of(session, self.services.config, self.env, now=self.services.now())
        body = blocks_deploys.change_request_comment(self.facts(), self.held, rate)
        numbers = client.change_requests(repo, sha) if sha else []
        for number in numbers:
            client.comment(repo, number, body)
        return f"{len(numbers)} commented"


def enrich(services: Services, row: Deploy) -> None:
    """Fill in the commit title (cached in the database; skipped without a client)."""
    client = services.scm.get(row.source)
    if row.title is not None or not row.sha or not row.repo or client is None:
        return
    with session_scope(services.engine) as session:
        title = store.known_title(session, source=row.source, repo=row.repo, sha=row.sha)
    if title is None:
        try:
            title = client.commit_title(row.repo, row.sha)
        except ProviderError as exc:
            log.warning("deploy %s: no commit title: %s", row.id, exc)
            return
    with session_scope(services.engine) as session:
        store.set_title(session, deploy_id=row.id or 0, title=title or "")


def _process(services: Services, row: Deploy) -> bool:
    """Run the deploy's effects until those of its current status are done, or in flight
    elsewhere; True when done. A status that moved while this ran is taken up again: the run
    of an earlier status may hold a step the later one shares, and finishes it last."""
    for _attempt in range(4):
        done = _process_once(services, row)
        with session_scope(services.engine) as session:
            fresh = store.get(session, deploy_id=row.id or 0)
        if fresh is None or not fresh.effects_pending:
            return True
        if fresh.status == row.status:
            return done
        row = fresh
    return False


def _process_once(services: Services, row: Deploy) -> bool:
    """Run the deploy's due steps not yet claimed; True when all of them are done."""
    env = services.config.environment(row.env) if row.known_env else None
    enrich(services, row)
    scope = f"deploy:{row.id}"
    steps = _Effects(services, row, env).steps() if env is not None else []
    for step, run in steps:
        with session_scope(services.engine) as session:
            claimed = claim_delivery(session, kind=STEP, scope=scope, period=step[:64],
                                     worker=services.worker, now=services.now())
        if not claimed:
            continue  # sent already, or in flight elsewhere
        outcome = _guarded(run)
        with session_scope(services.engine) as session:
            mark_sent(session, kind=STEP, scope=scope, period=step[:64], now=services.now(),
                      outcome=outcome[:64])
    # checked after our own steps are marked: of runs sharing the steps, the last one to
    # finish sees them all sent
    with session_scope(services.engine) as session:
        complete = all(bookings.step_sent(session, kind=STEP, scope=scope, period=step[:64])
                       for step, _ in steps)
    if complete:
        with session_scope(services.engine) as session:
            store.mark_done(session, deploy_id=row.id or 0, status=row.status)
    return complete


def run_deploy_effects(services: Services, *, limit: int = 100) -> int:
    """Run the effects of the deploys that have some pending; returns the deploys completed."""
    with session_scope(services.engine) as session:
        pending = store.pending(session, limit=limit)
    return sum(_process(services, row) for row in pending)
