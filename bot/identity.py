"""Owner email -> Slack user id, through the identity cache and a chat transport.

Hits are fresh for ``ttl``; misses (nobody with that address) are cached too, for the shorter
``miss_ttl``, so an unknown owner costs one ``users.lookupByEmail`` a day rather than one per
digest. Only unknown or stale emails are looked up. The caller commits the session.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session

from providers.chat import ChatTransport
from storage import identity

DEFAULT_TTL = timedelta(days=7)
DEFAULT_MISS_TTL = timedelta(days=1)


def is_fresh(*, user_id: str | None, looked_up_at: datetime, now: datetime,
             ttl: timedelta = DEFAULT_TTL, miss_ttl: timedelta = DEFAULT_MISS_TTL) -> bool:
    """Whether a cached lookup made at ``looked_up_at`` can still be trusted at ``now``."""
    return now - looked_up_at < (ttl if user_id is not None else miss_ttl)


def resolve_slack_ids(
    session: Session, transport: ChatTransport, emails: Iterable[str], *, now: datetime,
    ttl: timedelta = DEFAULT_TTL, miss_ttl: timedelta = DEFAULT_MISS_TTL,
) -> dict[str, str | None]:
    """Slack user id (None: not found) for each email, keyed by the email as given.

    Emails are compared, looked up and cached in lower case, so ``Ann@X.com`` and ``ann@x.com``
    cost one lookup and both keys map to the same id. Blank emails are skipped. Provider errors
    (auth, throttling) propagate; lookups already made stay in the session for the caller to
    commit or roll back.
    """
    given = {e: identity.normalise_email(e) for e in emails if e and e.strip()}
    wanted = sorted(set(given.values()))
    cached = identity.get_many(session, emails=wanted)
    by_email: dict[str, str | None] = {}
    for email in wanted:
        row = cached.get(email)
        if row is not None and is_fresh(user_id=row.user_id, looked_up_at=row.looked_up_at,
                                        now=now, ttl=ttl, miss_ttl=miss_ttl):
            by_email[email] = row.user_id
            continue
        user_id = transport.lookup_user_by_email(email)
        identity.put(session, email=email, user_id=user_id, now=now)
        by_email[email] = user_id
    return {original: by_email[key] for original, key in given.items()}
