"""Keep each resource's TTL workflow in step with its TTL (tag, extension or policy): start or
restart the workflow when the expiry or the action changes, relabel it when only the wording
does, drop it when the TTL is gone. Runs after every ingest, when the TTL policies change and
after an extension; ``bot.lifecycle_run`` carries out the steps.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from bot.config import Config
from bot.ttl import Override, Ttl, resolve
from storage import lifecycle
from storage.models import Control, Resource

_CONFIG_KEY = "lifecycle_config"
_RESOURCE_COLUMNS = ("resource_id", "tags", "first_seen", "created_at", "team", "account_id",
                     "resource_type")  # fmt: skip


def ttl_of(res: Any, *, config: Config, override: Any | None,
           tags: dict[str, str] | None = None) -> Ttl | None:
    """The resolved TTL of a resource row (``tags`` replace the stored ones: live tags)."""
    return resolve(
        tags=tags if tags is not None else json.loads(res.tags or "{}"),
        first_seen=res.first_seen,
        created_at=res.created_at,
        team=res.team,
        account=res.account_id,
        resource_type=res.resource_type,
        policies=config.ttl_policies,
        defaults=config.lifecycle,
        override=(Override(override.expires_at, override.set_by, override.set_at)
                  if override is not None else None),
    )  # fmt: skip


def _wanted(ttl: Ttl) -> lifecycle.Wanted:
    return lifecycle.Wanted(
        expires_at=ttl.expires_at, source=ttl.source, action=ttl.action, policy=ttl.policy,
        warn_before_s=int(ttl.warn_before.total_seconds()),
        grace_s=int(ttl.grace.total_seconds()),
    )  # fmt: skip


def sync(session: Session, *, config: Config, now: datetime,
         resource_ids: Sequence[str] | None = None) -> int:
    """Start (or restart) the workflow of every resource whose TTL is new or changed, and drop
    those of resources that no longer have one; returns how many changed."""
    stmt = select(*(getattr(Resource, c) for c in _RESOURCE_COLUMNS))
    if resource_ids is not None:
        stmt = stmt.where(col(Resource.resource_id).in_(list(resource_ids)))
    overrides = lifecycle.overrides(session)
    have = lifecycle.current(session)
    changed: dict[str, lifecycle.Wanted] = {}
    relabel: dict[str, lifecycle.Wanted] = {}
    dropped: list[str] = []
    for res in session.connection().execute(stmt):
        ttl = ttl_of(res, config=config, override=overrides.get(res.resource_id))
        if ttl is None or ttl.expires_at is None:
            if res.resource_id in have:
                dropped.append(res.resource_id)
            continue
        wanted = _wanted(ttl)
        old = have.get(res.resource_id)
        if old is None or (old[0], old[2]) != (wanted.expires_at, wanted.action):
            changed[res.resource_id] = wanted  # a new expiry or action: a new workflow
        elif tuple(old[:6]) != (
            wanted.expires_at, wanted.source, wanted.action, wanted.policy,
            wanted.warn_before_s, wanted.grace_s,
        ):  # fmt: skip
            relabel[res.resource_id] = wanted  # same expiry, other wording: no new warning
    lifecycle.start_workflows(session, wanted=changed, now=now)
    lifecycle.relabel(session, wanted=relabel, now=now)
    lifecycle.forget(session, resource_ids=dropped, now=now)
    return len(changed) + len(relabel) + len(dropped)


def _config_fingerprint(config: Config) -> str:
    text = json.dumps(
        [config.lifecycle.model_dump(mode="json"),
         [p.model_dump(mode="json") for p in config.ttl_policies]],
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def sync_if_config_changed(session: Session, *, config: Config, now: datetime) -> bool:
    """Re-sync every workflow when the TTL policies changed since the last sync."""
    fingerprint = _config_fingerprint(config)
    row = session.get(Control, _CONFIG_KEY, populate_existing=True)
    if row is not None and row.value == fingerprint:
        return False
    sync(session, config=config, now=now)
    if row is None:
        session.add(Control(key=_CONFIG_KEY, value=fingerprint, set_by="finops-bot", set_at=now))
    else:
        row.value, row.set_at = fingerprint, now
    return True
