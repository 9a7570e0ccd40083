"""Deploy tracking: record what the CI webhooks report, and show it in `/finops env(s)`.

``receive`` runs in one transaction: the delivery's dedupe record and the deploy's insert or
update commit together, so a failure lets the sender's retry through and a duplicate changes
nothing. What follows a change (commit title, channel line, warnings, PR comment) runs after
the answer, in bot/deploys_effects.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlmodel import Session

from bot import blocks_deploys
from bot.blocks_deploys import DeployFacts
from bot.blocks_envs import EnvView
from bot.config import Config
from bot.deploy_parsers import DeployReport
from bot.services import Services
from storage import deploys, identity
from storage.claims import first_time
from storage.db import session_scope
from storage.models_envs import Deploy


def receive(services: Services, *, source: str, delivery: str,
            report: DeployReport) -> dict[str, Any]:
    """Record ``report`` unless ``delivery`` was seen before; returns what was done."""
    config = services.config
    with session_scope(services.engine) as session:
        now = services.now()
        if not first_time(session, source=source, event_id=delivery[:256], now=now):
            return {"status": "duplicate"}
        target = config.deploy_target(report.env)
        row = deploys.record(session, report=report, now=now,
                             env=target.name if target is not None else report.env,
                             known=target is not None)
        return {"status": "ok", "deploy": row.id, "environment": row.env,
                "known_environment": row.known_env, "deploy_status": row.status,
                "pending_effects": row.effects_pending}


def facts_of(session: Session, row: Deploy) -> DeployFacts:
    """The deploy as messages show it; the deployer's Slack id when already known."""
    user_id = None
    if row.deployer_email:
        cached = identity.get_cached(session, email=row.deployer_email)
        user_id = cached.user_id if cached is not None else None
    return DeployFacts(env=row.env, status=row.status, source=row.source,
                       deployer=row.deployer, started_at=row.started_at, sha=row.sha,
                       ref=row.ref, version=row.version, title=row.title or None, url=row.url,
                       deployer_slack_id=user_id)


def with_deploys(session: Session, config: Config, view: EnvView) -> EnvView:
    """``view`` with the environment's last deploys and current version, for `env E`."""
    rows = deploys.history(session, env=view.name, limit=config.deploys.history)
    running = deploys.current(session, env=view.name)
    return replace(view, deploys=[blocks_deploys.history_line(facts_of(session, r))
                                  for r in rows],
                   version=blocks_deploys.version_text(
                       facts_of(session, running) if running is not None else None))


def unknown_environments(session: Session) -> list[str]:
    """Environment names deployed to that the config does not know, for admins."""
    return [blocks_deploys.unknown_line(name, count, last)
            for name, count, last in deploys.unknown_environments(session)]


def is_same_person(a: str | None, b: str | None) -> bool:
    return bool(a and b and a.strip().lower() == b.strip().lower())
