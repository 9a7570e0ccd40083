"""Send something at most once per (kind, scope, period), across retries and replicas."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from bot.errors import ProviderError
from storage.claims import claim_delivery, mark_sent
from storage.db import session_scope

GIVE_UP_AFTER = 3  # failed deliveries in a row: the chat service itself is taken to be down


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


@dataclass
class Failures:
    """The failed deliveries of one run. One that is refused (an archived channel, a
    deactivated user) does not stop the others; ``GIVE_UP_AFTER`` in a row stop the run. Each
    keeps its unsent claim, so a later run sends it."""

    what: str  # "digests", "alerts"
    items: list[str] = field(default_factory=list)
    in_a_row: int = 0

    def add(self, where: str, error: Exception) -> bool:
        """Record a failure; True when the run should stop here."""
        self.items.append(f"{where}: {error}")
        self.in_a_row += 1
        return self.in_a_row >= GIVE_UP_AFTER

    def ok(self) -> None:
        self.in_a_row = 0

    def raise_if_any(self, done: str) -> None:
        """Fail the run, naming the first failures, after ``done`` (what went out)."""
        if self.items:
            more = "; ..." if len(self.items) > 3 else ""
            raise ProviderError(f"{len(self.items)} {self.what} not sent "
                                f"({'; '.join(self.items[:3])}{more}); {done}")
