"""Repository for deploys: one row per deploy, moved by each status its source reports.

A deploy is inserted with INSERT ... ON CONFLICT DO NOTHING on (source, external_id), and
changed with conditional UPDATEs that name the status they read, so two deliveries of one
deploy racing on two replicas never lose a status. Nothing here commits: the caller's session
owns the transaction (the webhook's dedupe record is written in the same one).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import Session, col

from bot.deploy_parsers import FINAL, DeployReport, next_status
from storage.claims import insert_once
from storage.models_envs import Deploy

_FILLED = ("sha", "ref", "version", "repo", "title", "commit_url", "deployer_email")
_NEWER = ("url", "environment_url")


def _find(session: Session, source: str, external_id: str) -> Deploy:
    stmt = (select(Deploy).where(col(Deploy.source) == source,
                                 col(Deploy.external_id) == external_id)
            .execution_options(populate_existing=True))
    row = session.scalars(stmt).first()
    assert row is not None, "the deploy row was inserted or existed"
    return row


def record(session: Session, *, report: DeployReport, env: str, known: bool,
           now: datetime) -> Deploy:
    """Insert the deploy, or move the existing one to the reported status (never back from a
    final one) and fill in what it lacked; ``effects_pending`` is set when the status moved."""
    values: dict[str, Any] = {k: v for k, v in asdict(report).items()
                              if k in _FILLED + _NEWER + ("source", "external_id", "status",
                                                          "deployer")}
    values |= {"env": env[:256], "env_given": report.env[:256], "known_env": known,
               "started_at": report.started_at or now, "updated_at": now,
               "finished_at": now if report.final else None, "effects_pending": True}
    if insert_once(session, Deploy, _clip(values)):
        return _find(session, report.source, report.external_id)
    for _attempt in range(5):
        row = _find(session, report.source, report.external_id)
        status = next_status(row.status, report.status)
        changes: dict[str, Any] = {"updated_at": now}
        for key in _FILLED:
            if getattr(row, key) in (None, "") and getattr(report, key):
                changes[key] = getattr(report, key)
        for key in _NEWER:
            if getattr(report, key):
                changes[key] = getattr(report, key)
        if status != row.status:
            changes |= {"status": status, "effects_pending": True}
            if status in FINAL:
                changes["finished_at"] = now
        result = session.execute(
            update(Deploy).where(col(Deploy.id) == row.id, col(Deploy.status) == row.status)
            .values(**_clip(changes)))
        if int(getattr(result, "rowcount", 0) or 0) == 1:
            return _find(session, report.source, report.external_id)
    raise RuntimeError(f"deploy {report.external_id} kept changing under this update")


def _clip(values: dict[str, Any]) -> dict[str, Any]:
    """Cut strings to their column's length: a long title or URL must not fail the insert."""
    table: Any = Deploy.__table__  # type: ignore[attr-defined]
    out: dict[str, Any] = {}
    for key, value in values.items():
        length = getattr(table.columns[key].type, "length", None)
        out[key] = value[:length] if isinstance(value, str) and length else value
    return out


def get(session: Session, *, deploy_id: int) -> Deploy | None:
    return session.get(Deploy, deploy_id, populate_existing=True)


def history(session: Session, *, env: str, limit: int = 5) -> list[Deploy]:
    """The latest deploys into ``env``, newest first."""
    stmt = (select(Deploy).where(col(Deploy.env) == env)
            .order_by(col(Deploy.started_at).desc(), col(Deploy.id).desc()).limit(limit))
    return list(session.scalars(stmt))


def current(session: Session, *, env: str) -> Deploy | None:
    """The last successful deploy into ``env``: what runs there now."""
    stmt = (select(Deploy).where(col(Deploy.env) == env, col(Deploy.status) == "success")
            .order_by(col(Deploy.finished_at).desc(), col(Deploy.id).desc()).limit(1))
    return session.scalars(stmt).first()


def pending(session: Session, *, limit: int = 100) -> list[Deploy]:
    """Deploys whose effects have not run for their current status, oldest first."""
    stmt = (select(Deploy).where(col(Deploy.effects_pending).is_(True))
            .order_by(col(Deploy.id)).limit(limit).execution_options(populate_existing=True))
    return list(session.scalars(stmt))


def mark_done(session: Session, *, deploy_id: int, status: str) -> None:
    """Effects ran for ``status``; a status that moved meanwhile stays pending."""
    session.execute(update(Deploy).where(col(Deploy.id) == deploy_id,
                                         col(Deploy.status) == status)
                    .values(effects_pending=False))


def set_title(session: Session, *, deploy_id: int, title: str) -> None:
    session.execute(update(Deploy).where(col(Deploy.id) == deploy_id)
                    .values(**_clip({"title": title})))


def known_title(session: Session, *, source: str, repo: str, sha: str) -> str | None:
    """A commit title already fetched for this commit by another deploy ("" = not found)."""
    stmt = (select(col(Deploy.title)).where(col(Deploy.source) == source,
                                            col(Deploy.repo) == repo, col(Deploy.sha) == sha,
                                            col(Deploy.title).is_not(None)).limit(1))
    return session.scalars(stmt).first()


def unknown_environments(session: Session) -> list[tuple[str, int, datetime]]:
    """Environment names deployed to that the config does not know: name, deploys, last."""
    stmt = (select(col(Deploy.env), func.count(), func.max(col(Deploy.started_at)))
            .where(col(Deploy.known_env).is_(False)).group_by(col(Deploy.env))
            .order_by(func.max(col(Deploy.started_at)).desc()))
    return [(str(name), int(count), last) for name, count, last in session.execute(stmt)]
