"""Repository for the audit log: every change, who made it, when and from where."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from storage.models import AuditLog


def record(
    session: Session, *, actor: str, action: str, target: str, now: datetime,
    origin: str = "", details: Mapping[str, Any] | None = None,
) -> None:
    """Append one audit entry in the caller's transaction."""
    session.add(AuditLog(at=now, actor=actor, action=action, target=target, origin=origin,
                         details=json.dumps(dict(details or {}), sort_keys=True, default=str)))


def entries(session: Session, *, target: str | None = None, limit: int = 100) -> list[AuditLog]:
    """Newest first, optionally for one target."""
    stmt = select(AuditLog)
    if target is not None:
        stmt = stmt.where(col(AuditLog.target) == target)
    return list(session.scalars(stmt.order_by(col(AuditLog.id).desc()).limit(limit)))
