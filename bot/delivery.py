"""Send something at most once per (kind, scope, period), across retries and replicas."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from storage.claims import claim_delivery, mark_sent
from storage.db import session_scope


def deliver_once(
    engine: Engine, *, kind: str, scope: str, period: str, worker: str, now: datetime,
    send: Callable[[], str],
) -> str | None:
    """Claim the delivery (committed), run ``send`` (it returns the outcome), record it.

    None when another run already has it. If ``send`` raises, the claim stays unsent and is
    taken over after its lease, so nothing is lost.
    """
    with session_scope(engine) as session:
        if not claim_delivery(session, kind=kind, scope=scope, period=period, worker=worker,
                              now=now):
            return None
    outcome = send()
    with session_scope(engine) as session:
        mark_sent(session, kind=kind, scope=scope, period=period, now=now, outcome=outcome[:64])
    return outcome


def scope_key(*parts: str) -> str:
    """A delivery scope from its parts; long ones (cloud resource ids) end in a hash instead."""
    key = ":".join(parts)
    if len(key) <= 500:
        return key
    return key[:436] + "#" + hashlib.sha256(key.encode()).hexdigest()
