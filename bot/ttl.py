"""TTLs: where a resource's expiry comes from (tag `ttl` / `expires-at`) and when it is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from bot.durations import parse_span
from bot.errors import CommandError

TTL_TAGS = ("expires-at", "expires_at", "ttl")


@dataclass(frozen=True, slots=True)
class Expiry:
    """When a resource expires (None: never) and where that comes from."""

    at: datetime | None
    source: str  # e.g. "tag:ttl=7d"


def _norm(tags: Mapping[str, str]) -> dict[str, str]:
    return {k.strip().lower(): v.strip() for k, v in tags.items()}


def expiry_from_tags(tags: Mapping[str, str], *, first_seen: date) -> Expiry | None:
    """The expiry a TTL tag sets: ``7d``/``2w`` count from first seen; ISO dates are absolute.

    Returns None when no TTL tag is present or its value is unreadable.
    """
    normalised = _norm(tags)
    for key in TTL_TAGS:
        value = normalised.get(key)
        if value is None:
            continue
        source = f"tag:{key}={value}"
        if value.lower() == "never":
            return Expiry(None, source)
        try:
            span = parse_span(value)
            return Expiry(datetime.combine(first_seen, time(0), tzinfo=UTC) + span, source)
        except CommandError:
            pass
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if len(value) == 10:
            moment = datetime.combine(moment.date(), time(23, 59))
        return Expiry(moment if moment.tzinfo else moment.replace(tzinfo=UTC), source)
    return None
