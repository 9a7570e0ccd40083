"""Repository for the Slack identity cache: owner email -> Slack user id, misses included.

Emails are keys in lower case. Writes are upserts (``INSERT ... ON CONFLICT DO UPDATE`` on both
SQLite and PostgreSQL), so two replicas resolving the same owner at once both succeed. The
caller's session owns the transaction: nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from storage.models import SlackIdentity


def normalise_email(email: str) -> str:
    return email.strip().lower()


def get_cached(session: Session, *, email: str) -> SlackIdentity | None:
    """The cached lookup for ``email`` (``user_id`` None: a cached miss), or None if never seen."""
    # populate_existing: an upsert in this session bypasses the identity map
    return session.get(SlackIdentity, normalise_email(email), populate_existing=True)


def get_many(session: Session, *, emails: Iterable[str]) -> dict[str, SlackIdentity]:
    """Cached lookups by normalised email, in one query; unknown emails are absent."""
    keys = sorted({normalise_email(e) for e in emails})
    if not keys:
        return {}
    stmt = (select(SlackIdentity).where(col(SlackIdentity.email).in_(keys))
            .execution_options(populate_existing=True))
    return {row.email: row for row in session.scalars(stmt)}


def put(session: Session, *, email: str, user_id: str | None, now: datetime) -> None:
    """Record the result of a lookup made at ``now`` (aware); ``user_id`` None caches a miss."""
    values = {"email": normalise_email(email), "user_id": user_id, "looked_up_at": now}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(SlackIdentity).values(**values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["email"], set_={"user_id": user_id, "looked_up_at": now},
    ))


def email_for(session: Session, *, user_id: str) -> str | None:
    """The email cached for a Slack user id (reverse lookup), or None."""
    stmt = select(col(SlackIdentity.email)).where(col(SlackIdentity.user_id) == user_id).limit(1)
    return session.scalars(stmt).first()


def emails_of(session: Session, *, user_ids: Iterable[str]) -> set[str]:
    """Every cached email of these Slack user ids, in one query (someone whose address changed
    may have two)."""
    keys = sorted({u for u in user_ids if u})
    if not keys:
        return set()
    stmt = select(col(SlackIdentity.email)).where(col(SlackIdentity.user_id).in_(keys))
    return set(session.scalars(stmt))
