"""TTLs: where a resource's expiry comes from (extension, tag `ttl` / `expires-at`, policy)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from bot.config_sections import LifecycleConfig, TtlPolicy
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

    The tags are read in the order of ``TTL_TAGS``; one whose value is unreadable is passed
    over for the next. None when no TTL tag is present or none is readable.
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
            continue
        if len(value) == 10:
            moment = datetime.combine(moment.date(), time(23, 59))
        return Expiry(moment if moment.tzinfo else moment.replace(tzinfo=UTC), source)
    return None


@dataclass(frozen=True, slots=True)
class Override:
    """An expiry set from Slack (``extend R``): the most specific source of all."""

    expires_at: datetime | None
    set_by: str
    set_at: datetime


@dataclass(frozen=True, slots=True)
class Ttl:
    """A resource's resolved TTL: when, from where, and what happens then."""

    expires_at: datetime | None  # None: never
    source: str
    action: str  # notify | stop | destroy | notify-then-destroy
    warn_before: timedelta
    grace: timedelta
    policy: str | None = None


def matching_policy(
    policies: Sequence[TtlPolicy], *, team: str | None, account: str, resource_type: str
) -> TtlPolicy | None:
    """The most specific policy that matches: more criteria beat fewer, an account beats a
    team at the same count, then the config's order."""
    best: tuple[int, int, int] | None = None
    found: TtlPolicy | None = None
    for index, policy in enumerate(policies):
        criteria = (
            (policy.account, account),
            (policy.team, team),
            (policy.resource_type.lower() if policy.resource_type else None,
             resource_type.lower()),
        )  # fmt: skip
        if any(want is not None and want != have for want, have in criteria):
            continue
        rank = (
            sum(want is not None for want, _ in criteria),
            int(policy.account is not None),
            -index,
        )
        if best is None or rank > best:
            best, found = rank, policy
    return found


def resolve(
    *,
    tags: Mapping[str, str],
    first_seen: date,
    created_at: datetime | None,
    team: str | None,
    account: str,
    resource_type: str,
    policies: Sequence[TtlPolicy],
    defaults: LifecycleConfig,
    override: Override | None = None,
) -> Ttl | None:
    """Where a resource's TTL comes from; the most specific wins: an extension from Slack,
    then the resource's TTL tag, then the max age of the matching team/account policy.

    None when nothing gives the resource a TTL.
    """
    policy = matching_policy(policies, team=team, account=account, resource_type=resource_type)
    rules = policy if policy is not None else defaults
    ttl = partial(
        Ttl,
        action=rules.action,
        warn_before=parse_span(rules.warn_before),
        grace=parse_span(rules.grace),
        policy=policy.name if policy is not None else None,
    )
    if override is not None:
        when = override.set_at.strftime("%Y-%m-%d %H:%M UTC")
        return ttl(override.expires_at, f"an extension by {override.set_by} on {when}")
    tagged = expiry_from_tags(tags, first_seen=first_seen)
    if tagged is not None:
        return ttl(tagged.at, tagged.source)
    if policy is not None and policy.max_age is not None:
        born = created_at or datetime.combine(first_seen, time(0), tzinfo=UTC)
        if born.tzinfo is None:
            born = born.replace(tzinfo=UTC)
        return ttl(born + parse_span(policy.max_age),
                   f"policy:{policy.name} (max age {policy.max_age})")
    return None
